"""``botmm data ...``: plain click commands (no Hydra) that fetch, convert and check market data."""

from __future__ import annotations

import click


@click.group("data")
def data() -> None:
    """Fetch, convert and check market data."""
