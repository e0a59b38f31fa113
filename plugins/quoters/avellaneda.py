"""``quoter=avellaneda``: the seed's quote engine, an Avellaneda–Stoikov-style inventory-skewed spread.

Per tick, with ``mid``, volatility ``vol`` (fraction of mid per tick), ``atr`` (price units), inventory ``q`` in
[-1, 1] (positive = long), directional ``signal`` and book ``imbalance`` in [-1, 1] and ``toxicity`` in [0, 1]::

    spread = max(spread_bps / 1e4 * mid, vol * vol_multiplier * mid)
             * (1 + toxicity_widening * toxicity) * spread_mult
    skew   = -q * inventory_skew_factor * atr * skew_mult   # sign convention: a long position lowers both quotes
    shift  = signal * bias_strength * spread
    bid    = mid - spread / 2 + skew + shift - widen_bid
    ask    = mid + spread / 2 + skew + shift + widen_ask

Book imbalance widens the side the flow is running against: with more resting bids (imbalance > 0, buying
pressure) ``widen_ask = imbalance_widening * imbalance * spread / 2``, and symmetrically ``widen_bid`` when
imbalance < 0. ``spread_mult``, ``skew_mult`` and ``size_mult`` come from the strategy policy (1 by default).
Levels, rounding, the minimum distance from mid and sizes follow :func:`botmm.plugins.quoters.ladder.ladder`.

Fill-model filter (``fill_model_filter: true``, ``model_path`` a model from ``botmm train``): each tick the fill
predictor (:mod:`botmm.ml.predictor`) estimates every level's adverse-selection risk (the probability that a fill
there loses money marked to mid); a level above ``max_adverse_risk`` moves ``widen_bps`` further from mid, or is
skipped when ``widen_bps`` is 0. ``max_adverse_risk: null`` takes the threshold ``botmm train`` chose on the training
window. The model is loaded when the quoter is built and again when a hot reload changes ``model_path``; refused in
one line: a missing, foreign or altered file, other features, another venue kind, symbol or adverse horizon
(``model_horizon``), and a model that did not beat the baselines out of sample unless ``force_model`` is true.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

from botmm import BuildContext, ConfigError, Quote, QuoteInputs, hookimpl, is_duration, parse_duration, require

from .ladder import LadderParams, ladder

log = logging.getLogger(__name__)


@dataclass
class AvellanedaParams(LadderParams):
    toxicity_widening: float = 1.0  # spread grows by this fraction at toxicity 1
    imbalance_widening: float = 0.5  # the side against the book's imbalance widens by this share of half a spread
    fill_model_filter: bool = False  # widen or skip levels the fill model rates as likely adverse
    model_path: Optional[str] = None  # a model written by botmm train (fill_model.bmm)
    max_adverse_risk: Optional[float] = None  # levels with a higher predicted adverse-selection risk are widened or
    # skipped; null: the threshold botmm train chose on the training window
    widen_bps: float = 0.0  # how far such a level moves away from mid; 0: skip it
    model_horizon: str = "5s"  # the model must mark fills after this long (train.adverse_horizon)
    force_model: bool = False  # use a model botmm train found no better than its baselines

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.toxicity_widening >= 0, self, "toxicity_widening", "must be >= 0")
        require(self.imbalance_widening >= 0, self, "imbalance_widening", "must be >= 0")
        require(not self.fill_model_filter or bool(self.model_path), self, "model_path",
                "must name a model file (botmm train writes fill_model.bmm) when fill_model_filter is true")
        require(self.max_adverse_risk is None or 0 <= self.max_adverse_risk <= 1, self, "max_adverse_risk",
                "must be in [0, 1] or null")
        require(is_duration(self.model_horizon), self, "model_horizon", "expected a duration such as 5s or 2m")
        require(self.widen_bps >= 0, self, "widen_bps", "must be >= 0")


class AvellanedaQuoter:
    def __init__(self, params: AvellanedaParams, tick: float, lot: float, venue: str = "", symbol: str = ""):
        self.params, self.tick, self.lot = params, tick, lot
        self.venue, self.symbol = venue, symbol  # what a fill model must have been trained for
        self.filter: Any = None
        self._model_path = params.model_path if params.fill_model_filter else None
        if self._model_path:
            self.filter = self._load_filter(self._model_path)

    def _load_filter(self, path: str) -> Any:
        from botmm.ml import FEATURES, FillFilter, FillPredictor, ModelError, check_use

        p = self.params
        try:
            predictor = FillPredictor.load(path, FEATURES)
            check_use(predictor, path, self.venue, self.symbol,
                      round(parse_duration(p.model_horizon, "quoter.model_horizon") * 1000), p.force_model)
            return FillFilter(predictor, self.tick)
        except ModelError as exc:
            raise ConfigError(f"quoter.model_path: {exc}") from None

    def _filtered(self, quote: Quote, inputs: QuoteInputs) -> Quote:
        p = self.params
        if p.model_path != self._model_path:  # changed by a hot reload
            self._model_path = p.model_path
            try:
                self.filter = self._load_filter(p.model_path)
            except ConfigError as exc:  # a bad reloaded model must not stop quoting: keep the previous one
                log.error("%s; keeping the previous model", exc)
        if self.filter is None:
            return quote
        max_risk = p.max_adverse_risk
        if max_risk is None:
            max_risk = self.filter.predictor.info.get("max_adverse_risk") or 1.0  # None: no risk was mostly adverse
        return self.filter.apply(quote, inputs, max_risk, p.widen_bps)

    def quote(self, inputs: QuoteInputs) -> Quote:
        p = self.params
        mid = inputs.mid
        # Conditional expressions in place of max(): the same result, including NaN and signed zeros, without the
        # cost of a builtin call.
        spread = p.spread_bps * 1e-4 * mid
        vol_spread = inputs.vol * p.vol_multiplier * mid
        if vol_spread > spread:  # spread = max(spread, vol_spread)
            spread = vol_spread
        spread *= (1.0 + p.toxicity_widening * inputs.toxicity) * inputs.spread_mult
        skew = -inputs.inventory * p.inventory_skew_factor * inputs.atr * inputs.skew_mult
        center = mid + skew + inputs.signal * p.bias_strength * spread
        lean = p.imbalance_widening * inputs.imbalance * spread / 2
        bid = center - spread / 2 - (0.0 if lean > 0.0 else -lean)  # max(-lean, 0.0)
        ask = center + spread / 2 + (0.0 if lean < 0.0 else lean)  # max(lean, 0.0)
        quote = ladder(bid, ask, mid, p, inputs.size_mult, self.tick, self.lot)
        return self._filtered(quote, inputs) if p.fill_model_filter else quote


def make_avellaneda(params: AvellanedaParams, ctx: BuildContext) -> AvellanedaQuoter:
    return AvellanedaQuoter(params, ctx.asset.tick_size, ctx.asset.lot_size, str(ctx.cfg.fill_model.name),
                            ctx.asset.symbol)


@hookimpl
def botmm_register_quoters(register):
    register("avellaneda", make_avellaneda, AvellanedaParams)
