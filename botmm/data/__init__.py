"""The dataset readers and the L2 recorder's store, public for plugins: a feed plugin reads bars and L2 events
through these (the built-in ``feed=candles``, ``candles_file``, ``l2_file``, ``synthetic`` and ``synthetic_l2`` do);
an exchange plugin's L2 recorder writes them through :class:`HourlyStore`. Each name loads its module
on first use, so importing a plugin does not compile the synthetic order-flow kernel."""

from botmm.lazy import lazy_exports

_WHERE = {  # name -> the module defining it
    "CANDLE_ARRAYS": "botmm.model",
    "INTERVALS": "botmm.data.dataset",
    "L2Feed": "botmm.data.l2",
    "COLUMNS": "botmm.data.l2",
    "HourlyStore": "botmm.data.recording",
    "KIND_CLEAR": "botmm.data.l2",
    "KIND_SNAPSHOT": "botmm.data.l2",
    "KIND_TRADE": "botmm.data.l2",
    "L2Events": "botmm.data.l2",
    "L2Meta": "botmm.data.l2",
    "L2RecorderParams": "botmm.data.recording",
    "ON_BAD_DATA": "botmm.data.l2",
    "SyntheticL2Params": "botmm.data.synthetic_l2",
    "SyntheticParams": "botmm.data.synthetic",
    "ValidationReport": "botmm.data.l2",
    "dataset_dir": "botmm.data.dataset",
    "gap_marker": "botmm.data.recording",
    "interval_ms": "botmm.data.dataset",
    "is_gap": "botmm.data.recording",
    "iter_l2": "botmm.data.l2",
    "iter_synthetic": "botmm.data.synthetic",
    "iter_synthetic_l2": "botmm.data.synthetic_l2",
    "parse_repair": "botmm.data.candles",
    "parse_time": "botmm.data.dataset",
    "read_candles": "botmm.data.candles",
    "read_dataset": "botmm.data.dataset",
    "read_meta": "botmm.data.l2",
    "Repairs": "botmm.data.candles",
    "load_candles": "botmm.data.candles",
    "log_repairs": "botmm.data.candles",
    "synthetic_meta": "botmm.data.synthetic_l2",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
