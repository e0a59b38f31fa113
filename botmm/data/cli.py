"""``botmm data ...``: plain click commands (no Hydra) that fetch, convert and check market data."""

from __future__ import annotations

import click

from botmm.data.convert import convert
from botmm.data.fetch import fetch


@click.group("data")
def data() -> None:
    """Fetch, convert and check market data."""


data.add_command(convert)
data.add_command(fetch)
