"""Walk-forward folds (``backtest.walk_forward``): ``folds`` test windows of ``test`` (a fraction of the data's time
range) laid end to end at the end of the data, each after its own training window, ``purge`` before it. Rolling
folds train on the ``train`` fraction just before the purge gap; anchored folds train on everything from the start.

A backtest runs its fixed parameters once over the whole data; its ``result.json`` then holds, per fold, the figures
of the training window (``train``) and of the test window (``test``). What was chosen on a fold's training window is
judged on its test window only: a sweep ranks jobs by the mean test score across folds and shows its spread
(:mod:`botmm.runners.score`); ``botmm reoptimize`` picks the best parameters on each training window and compares
them with the incumbent on the test window that follows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from botmm.config import WalkForwardConfig, parse_duration


def fold_windows(start_ms: int, end_ms: int, wf: WalkForwardConfig) -> list[dict[str, list[int]]]:
    """Each fold's ``train`` and ``test`` windows as ``[from_ms, to_ms)`` over the data's range ``[start, end]``."""
    span = end_ms - start_ms
    purge = round(parse_duration(wf.purge, "backtest.walk_forward.purge") * 1000) if wf.purge else 0
    test = span * wf.test
    folds = []
    for i in range(wf.folds):
        test_from = end_ms - (wf.folds - i) * test
        train_to = test_from - purge
        train_from = start_ms if wf.anchored else max(start_ms, train_to - span * wf.train)
        folds.append({"train": [int(train_from), int(train_to)],
                      "test": [int(test_from), int(end_ms + 1 if i == wf.folds - 1 else test_from + test)]})
    return folds


def fold_figures(ts: np.ndarray, equity: np.ndarray, exposure: np.ndarray, fills: Any, fill_ts: np.ndarray,
                 max_position_usd: float, wf: WalkForwardConfig) -> list[dict[str, Any]]:
    """Per fold, the figures (:func:`botmm.core.metrics.figures`) of its training and test windows. A window's
    returns start from the tick before it, so consecutive windows add up to the whole run."""
    from botmm.core.metrics import figures

    folds = []
    for window in fold_windows(int(ts[0]), int(ts[-1]), wf):
        fold: dict[str, Any] = {"window_ms": window}
        for part in ("train", "test"):
            lo, hi = (int(np.searchsorted(ts, edge)) for edge in window[part])
            lo = max(lo - 1, 0)
            if hi - lo < 2:
                fold[part] = None  # too few ticks to say anything
                continue
            first, last = (int(np.searchsorted(fill_ts, ts[k], side="right")) for k in (lo, hi - 1))
            fold[part] = figures(ts[lo:hi], equity[lo:hi], exposure[lo:hi], fills[first:last], float(equity[lo]),
                                 max_position_usd)
        folds.append(fold)
    return folds
