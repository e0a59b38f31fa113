"""The compiled kernels of the synthetic order flow (:mod:`botmm.data.synthetic_l2`, which describes the model), apart
from it so that building a ``feed=synthetic_l2`` job, and reporting what is wrong with one, loads no numba: they load
when the stream is generated."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from botmm.data.synthetic_l2 import (
    _NEED_RANDOM, _OK, _OUT_FULL, MAX_SWEEP, P_CANCEL, P_DECAY, P_LAT_MED, P_LAT_SIGMA, P_LIMIT, P_MARKET, P_MEAN_LOTS,
    P_MSIZE, P_SIGMA, S_ASK, S_BASE, S_BID, S_LOCAL, S_T,
)


@njit(cache=True, error_model="numpy")
def _lognormal_lots(u1, u2, mean_lots, sigma):
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    lots = mean_lots * math.exp(sigma * z - 0.5 * sigma * sigma)
    return max(1, int(lots + 0.5))


@njit(cache=True, error_model="numpy")
def _emit(out_i, out_k, n, t, local, kind, side, tick, lots):
    out_i[n, 0] = t
    out_i[n, 1] = local
    out_i[n, 2] = tick
    out_i[n, 3] = lots
    out_k[n, 0] = kind
    out_k[n, 1] = side
    return n + 1


@njit(cache=True, error_model="numpy")
def _best_bid(bids, start):
    for i in range(start, -1, -1):
        if bids[i] > 0:
            return i
    return -1


@njit(cache=True, error_model="numpy")
def _best_ask(asks, start):
    for i in range(start, asks.shape[0]):
        if asks[i] > 0:
            return i
    return asks.shape[0]


@njit(cache=True, error_model="numpy")
def _generate(bids, asks, st, pf, depth, u, ui, out_i, out_k, n, t_end):
    """Simulate until ``t_end`` (ns) or until the uniforms or the output run out; returns (status, ui, n)."""
    w = bids.shape[0]
    limit_rate, cancel_rate, market_rate = pf[P_LIMIT], pf[P_CANCEL], pf[P_MARKET]
    decay, sigma, mean_lots = pf[P_DECAY], pf[P_SIGMA], pf[P_MEAN_LOTS]
    trunc = 1.0 - math.exp(-depth / decay)
    while True:
        if ui + 8 > u.shape[0]:
            return _NEED_RANDOM, ui, n
        if n + 2 * MAX_SWEEP + w + 4 > out_i.shape[0]:
            return _OUT_FULL, ui, n
        bb, ba = st[S_BID], st[S_ASK]
        # recentre the window on the mid when the touch nears an edge
        ref = (bb + ba) // 2 if bb >= 0 and ba < w else (bb if bb >= 0 else (ba if ba < w else w // 2))
        if ref < w // 4 or ref > 3 * w // 4:
            shift = ref - w // 2
            t, local = st[S_T], st[S_LOCAL]
            for i in range(w):
                j = i - shift
                if (j < 0 or j >= w) and bids[i] > 0:
                    n = _emit(out_i, out_k, n, t, local, 2, 1, st[S_BASE] + i, 0)
                if (j < 0 or j >= w) and asks[i] > 0:
                    n = _emit(out_i, out_k, n, t, local, 2, -1, st[S_BASE] + i, 0)
            nb = np.zeros(w, dtype=np.int64)
            na = np.zeros(w, dtype=np.int64)
            for i in range(w):
                j = i - shift
                if 0 <= j < w:
                    nb[j] = bids[i]
                    na[j] = asks[i]
            bids[:] = nb
            asks[:] = na
            st[S_BASE] += shift
            st[S_BID] = _best_bid(bids, w - 1)
            st[S_ASK] = _best_ask(asks, 0)
            continue
        cb = 0
        if bb >= 0:
            for i in range(max(0, bb - 2 * depth), bb + 1):
                cb += bids[i]
        ca = 0
        if ba < w:
            for i in range(ba, min(w, ba + 2 * depth + 1)):
                ca += asks[i]
        rate_cb = cancel_rate * cb / mean_lots
        rate_ca = cancel_rate * ca / mean_lots
        total = 2.0 * limit_rate + rate_cb + rate_ca + 2.0 * market_rate
        dt = -math.log(u[ui]) / total
        t = st[S_T] + max(1, np.int64(dt * 1e9))
        if t >= t_end:
            st[S_T] = t_end  # memoryless: the next block draws afresh from t_end
            return _OK, ui + 1, n
        st[S_T] = t
        z = math.sqrt(-2.0 * math.log(u[ui + 1])) * math.cos(2.0 * math.pi * u[ui + 2])
        local = t + np.int64(pf[P_LAT_MED] * 1e6 * math.exp(pf[P_LAT_SIGMA] * z))
        if local < st[S_LOCAL]:
            local = st[S_LOCAL]
        st[S_LOCAL] = local
        pick = u[ui + 3] * total
        lots = _lognormal_lots(u[ui + 4], u[ui + 5], mean_lots, sigma)
        ui += 8
        base = st[S_BASE]
        if pick < 2.0 * limit_rate:
            buy = pick < limit_rate
            d = int(-decay * math.log(1.0 - u[ui - 2] * trunc))
            if d >= depth:
                d = depth - 1
            if buy:
                i = (ba - 1 - d) if ba < w else (bb - d if bb >= 0 else w // 2 - d)
                bids[i] += lots
                if i > bb:
                    st[S_BID] = i
                n = _emit(out_i, out_k, n, t, local, 2, 1, base + i, bids[i])
            else:
                i = (bb + 1 + d) if bb >= 0 else (ba + d if ba < w else w // 2 + 1 + d)
                asks[i] += lots
                if i < ba:
                    st[S_ASK] = i
                n = _emit(out_i, out_k, n, t, local, 2, -1, base + i, asks[i])
            continue
        pick -= 2.0 * limit_rate
        if pick < rate_cb + rate_ca:
            bid_side = pick < rate_cb
            target = u[ui - 1] * (cb if bid_side else ca)
            if bid_side:
                acc = 0
                i = bb
                for j in range(bb, max(0, bb - 2 * depth) - 1, -1):
                    acc += bids[j]
                    i = j
                    if acc > target:
                        break
                bids[i] -= min(bids[i], lots)
                n = _emit(out_i, out_k, n, t, local, 2, 1, base + i, bids[i])
                if i == bb and bids[i] == 0:
                    st[S_BID] = _best_bid(bids, bb)
            else:
                acc = 0
                i = ba
                for j in range(ba, min(w, ba + 2 * depth + 1)):
                    acc += asks[j]
                    i = j
                    if acc > target:
                        break
                asks[i] -= min(asks[i], lots)
                n = _emit(out_i, out_k, n, t, local, 2, -1, base + i, asks[i])
                if i == ba and asks[i] == 0:
                    st[S_ASK] = _best_ask(asks, ba)
        else:
            n = _market_order(bids, asks, st, out_i, out_k, n, t, local, base,
                              pick - rate_cb - rate_ca < market_rate, max(1, int(lots * pf[P_MSIZE] + 0.5)))
        # a side left empty is refilled at once next to the other side's best, as liquidity providers would
        if st[S_BID] < 0 and st[S_ASK] < w:
            i = st[S_ASK] - 1
            bids[i] += lots
            st[S_BID] = i
            n = _emit(out_i, out_k, n, t, local, 2, 1, base + i, bids[i])
        elif st[S_ASK] >= w and st[S_BID] >= 0:
            i = st[S_BID] + 1
            asks[i] += lots
            st[S_ASK] = i
            n = _emit(out_i, out_k, n, t, local, 2, -1, base + i, asks[i])


@njit(cache=True, error_model="numpy")
def _market_order(bids, asks, st, out_i, out_k, n, t, local, base, buy, want):
    """Sweep the opposite side from its best, one trade and one depth row per level reached."""
    w = bids.shape[0]
    bb, ba = st[S_BID], st[S_ASK]
    swept = 0
    if buy:
        i = ba
        while want > 0 and i < w and swept < MAX_SWEEP:
            if asks[i] > 0:
                take = min(asks[i], want)
                want -= take
                asks[i] -= take
                swept += 1
                n = _emit(out_i, out_k, n, t, local, 3, 1, base + i, take)
                n = _emit(out_i, out_k, n, t, local, 2, -1, base + i, asks[i])
            i += 1
        st[S_ASK] = _best_ask(asks, max(ba, 0))
    else:
        i = bb
        while want > 0 and i >= 0 and swept < MAX_SWEEP:
            if bids[i] > 0:
                take = min(bids[i], want)
                want -= take
                bids[i] -= take
                swept += 1
                n = _emit(out_i, out_k, n, t, local, 3, -1, base + i, take)
                n = _emit(out_i, out_k, n, t, local, 2, 1, base + i, bids[i])
            i -= 1
        st[S_BID] = _best_bid(bids, min(bb, w - 1))
    return n
