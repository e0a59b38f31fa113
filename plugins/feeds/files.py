"""``feed=candles_file``: bars from a CSV or Parquet file (``feed.path=...``), read by
:func:`botmm.data.candles.read_candles`. ``columns`` maps botmm's names (ts, open, high, low, close, volume) to the
file's; ``volume_unit=quote`` converts notional volume to base units."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator

from omegaconf import MISSING

from botmm.config import ComponentParams, require
from botmm.errors import ConfigError
from botmm.model import Candles
from botmm.registry import BuildContext, hookimpl


@dataclass
class CandlesFileParams(ComponentParams):
    path: str = MISSING
    columns: Dict[str, str] = field(default_factory=dict)
    ts_unit: str = "auto"  # s | ms | ns | auto (inferred from magnitude); ISO strings are always understood
    volume_unit: str = "base"  # base | quote

    def __post_init__(self) -> None:
        require(self.ts_unit in ("s", "ms", "ns", "auto"), self, "ts_unit", "must be s, ms, ns or auto")
        require(self.volume_unit in ("base", "quote"), self, "volume_unit", "must be base or quote")


class CandlesFile:
    def __init__(self, params: CandlesFileParams):
        self.params = params

    def batches(self) -> Iterator[Candles]:
        from botmm.data.candles import read_candles

        p = self.params
        yield read_candles(p.path, columns=dict(p.columns), ts_unit=p.ts_unit, volume_unit=p.volume_unit)


def make_candles_file(params: CandlesFileParams, ctx: BuildContext) -> CandlesFile:
    if not Path(params.path).is_file():
        raise ConfigError(f"feed.path={params.path}: no such file")
    return CandlesFile(params)


@hookimpl
def botmm_register_feeds(register):
    register("candles_file", make_candles_file, CandlesFileParams)
