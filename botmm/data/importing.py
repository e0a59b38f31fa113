"""``botmm data import``: candles from a CSV or Parquet file into the candles dataset that ``feed=candles`` and
``botmm reoptimize`` read, checked as ``feed=candles_file`` checks a file (:func:`botmm.data.candles.load_candles`) and
merged into the month files (:func:`botmm.data.dataset.write_bars`): importing again adds only what is new."""

from __future__ import annotations

import click

from botmm.data.candles import load_candles
from botmm.data.dataset import dataset_dir, interval_ms, write_bars
from botmm.errors import BotmmError


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--venue", required=True, help="The dataset's venue folder (hyperliquid, or any name for other data).")
@click.option("--symbol", required=True, help="The series' symbol (BTC): feed=candles reads the asset's symbol.")
@click.option("--interval", default="1m", show_default=True, help="Bar length of the file: 1m 5m 1h 1d ...")
@click.option("--root", default="data", show_default=True, help="The dataset's root folder (feed.root).")
@click.option("--volume-unit", type=click.Choice(["base", "quote"]), default="base", show_default=True,
              help="quote: the file's volume is notional, divided by the close to get base units.")
@click.option("--repair", default="none", show_default=True,
              help="Repairs of bad rows: none, all, or drop_bad_rows+sort+drop_duplicates+fill_gaps.")
def import_candles(path: str, venue: str, symbol: str, interval: str, root: str, volume_unit: str,
                   repair: str) -> None:
    """Put a CSV or Parquet file of candles into the candles dataset."""
    try:
        bar_ms = interval_ms(interval)
        directory = dataset_dir(root, venue, symbol, interval)
        candles, _ = load_candles(path, volume_unit=volume_unit, bar_ms=bar_ms, repair=repair)
        bars = {f: getattr(candles, f) for f in ("ts", "open", "high", "low", "close", "volume")}
        result = write_bars(directory, bars, bar_ms, path)
    except BotmmError as exc:
        click.echo(f"botmm: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"imported {len(candles.ts):,} bars from {path} into {directory}: {result.added:,} added, "
               f"{result.replaced:,} replaced")
