"""The composite score that ranks a sweep's jobs, and the figure an optimising sweeper receives::

    score = summary.sharpe * sharpe + summary.return_pct * return_pct - summary.max_drawdown_pct * max_drawdown_pct

with the weights from the config's ``summary`` node (defaults 1.0, 0.1, 0.5): risk-adjusted return first, raw return
as a tie-breaker, drawdown as a penalty; a Sharpe that is n/a (a job shorter than ``MIN_DAYS`` days) counts as 0.
With ``backtest.walk_forward`` folds a job's score is the mean score of its test windows and ``score_spread`` their
standard deviation; with ``backtest.split``, the out-of-sample part's score; the figures shown are those the score was
taken on (``scored_on`` says which).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from botmm.config import SummaryWeights
from botmm.errors import ConfigError


def score(result: dict[str, Any], weights: SummaryWeights) -> float:
    return (
        weights.sharpe * (result["sharpe"] or 0.0)
        + weights.return_pct * result["return_pct"]
        - weights.max_drawdown_pct * result["max_drawdown_pct"]
    )


_SUMMED = ("pnl", "fills", "volume", "fees")  # over the test windows of walk-forward folds; the rest: their mean


def judged(result: dict[str, Any], weights: SummaryWeights) -> tuple[dict[str, Any], float, float | None, str]:
    """What a job is judged on: its figures, score, the score's spread across folds and where they come from. With
    walk-forward folds: the test windows' figures (summed or averaged, see :data:`_SUMMED`) and the mean and
    standard deviation of their scores; with a split: the out-of-sample part; else the whole run."""
    tests = [fold["test"] for fold in result.get("folds", ()) if fold["test"] is not None]
    if tests:
        scores = np.array([score(figures, weights) for figures in tests])
        figures = {key: _across([f.get(key) for f in tests], key in _SUMMED) for key in tests[0]
                   if all(v is None or isinstance(v, (int, float)) for v in (f.get(key) for f in tests))}
        return figures, float(scores.mean()), float(scores.std()), f"{len(tests)} folds"
    if "out_of_sample" in result:
        return result["out_of_sample"], score(result["out_of_sample"], weights), None, "out_of_sample"
    return result, score(result, weights), None, "whole"


def _across(values: list[Any], summed: bool) -> float | None:
    """One figure over the folds' test windows: their sum or mean; None when a fold has it n/a."""
    if any(v is None for v in values):
        return None
    return float(np.sum(values) if summed else np.mean(values))


def objective(result: dict[str, Any], weights: SummaryWeights, maximize: bool = True) -> float:
    """The figure an optimising sweeper receives (``summary.objective``), as :func:`judged` scores a job. A job with
    fewer than ``summary.min_fills`` fills gets the worst value for the sweeper's direction, so it is never its
    best."""
    figures, total, _, _ = judged(result, weights)
    if figures.get("fills", 0) < weights.min_fills:
        return -math.inf if maximize else math.inf
    if weights.objective == "score":
        return total
    if figures.get(weights.objective, 0) is None:  # n/a on this job (a Sharpe under MIN_DAYS days): a failed trial
        return math.nan
    if not isinstance(figures.get(weights.objective), (int, float)):
        raise ConfigError(f"summary.objective={weights.objective}: not a figure of result.json; "
                          f"figures: score, {', '.join(k for k, v in figures.items() if isinstance(v, (int, float)))}")
    return float(figures[weights.objective])
