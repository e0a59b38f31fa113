"""The compiled event loop of the replay venue (numba): two order books, the exchange's order matching, queue
models and the two latency paths, advanced between strategy ticks in one call.

Everything lives in flat numpy arrays owned by :class:`botmm.sim.replay.ReplayVenue`, so a call costs one numba
dispatch whatever the number of events. Four streams are merged by time, ties going in this order (hftbacktest's):

0. local data: a row at ``ts_local`` updates the *local* book (what the strategy sees) and the interval's trades;
1. responses reaching the strategy (fills, post-only rejections);
2. exchange data: a row at ``ts_exchange`` updates the *exchange* book, moves queue positions and fills orders;
3. requests reaching the exchange (new orders, cancels).

Float arithmetic follows IEEE (``error_model="numpy"``: a division by zero gives inf or NaN, as in Rust).

Books are dense arrays over a window of ``W`` price ticks (index ``i`` is tick ``base + i``). The window re-centres
on the exchange mid when an event falls outside it; levels further than ``W / 2`` ticks from the mid are dropped and
counted. Sizes below half a lot delete a level, as in hftbacktest. Our own orders are never added to the book.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.types import float64, int8, int64

# book rows
EX_BID, EX_ASK, LO_BID, LO_ASK = 0, 1, 2, 3

# event kinds (botmm.data.l2; 2 is a delta level, handled as a snapshot level)
K_CLEAR, K_SNAPSHOT, K_TRADE = 0, 1, 3

# integer state
I_BASE, I_W = 0, 1
I_BEST = 2  # 2..5: best index of each book row (bids: -1 when empty; asks: W when empty)
I_BOUND = 6  # 6..9: scan bound of each row (bids: lowest index used, W when empty; asks: highest, -1 when empty)
I_EI, I_LI, I_N = 10, 11, 12
I_REQ_HEAD, I_REQ_TAIL, I_RSP_HEAD, I_RSP_TAIL = 13, 14, 15, 16
I_ORD_USED, I_ORD_ACTIVE = 17, 18
I_LAST_SIDE = 19  # 19 exchange book, 20 local book: side of the last level update
I_SNAPSHOT = 21  # the local book has received a snapshot (a clear or a snapshot level)
I_QUEUE, I_WEIGHT, I_PARTIAL, I_POST_ONLY, I_ON_ERROR = 22, 23, 24, 25, 26
I_CROSSED = 27  # 27 exchange, 28 local: crossed books repaired
I_DROPPED = 29  # levels dropped outside the price window
I_EVENTS = 30  # 30 exchange, 31 local: rows processed
I_ERR_TS = 32
I_RECENTERS = 33
I_LAST_RSP = 34  # arrival time of the last response queued (FIFO)
I_TRADES = 35  # local trades since the interval's accumulators were reset
I_ERR_BOOK = 36
I_BEST_TS = 37  # 37..40: when each row's best level was last set (0: unknown, older than any update)
I_RSP_READ = 41  # the response queue's head when the call started: rows from here to the head were delivered
NI = 44

# float state
F_LOT, F_N, F_OPEN, F_HIGH, F_LOW, F_CLOSE, F_VOLUME = 0, 1, 2, 3, 4, 5, 6
NF = 8

# queue models and weightings
Q_RISK_AVERSE, Q_PROB = 0, 1
W_POWER, W_LOG = 0, 1

# exchange order table: ord_i columns, ord_f columns
O_OID, O_SIDE, O_TICK, O_ACTIVE = 0, 1, 2, 3
OF_LEAVES, OF_FRONT, OF_CUM = 0, 1, 2

# requests (strategy -> exchange): req_i columns; req_f holds the quantity
R_TS, R_KIND, R_OID, R_SIDE, R_TICK = 0, 1, 2, 3, 4
REQ_NEW, REQ_CANCEL = 1, 2

# responses (exchange -> strategy): rsp_i columns; rsp_f holds the quantity. Only what changes the strategy's view
# is queued (fills, post-only rejections, a taker order's unfilled rest); acknowledgements and cancel confirmations
# only take their place in the responses' FIFO order
S_TS, S_KIND, S_OID, S_EXCH_TS, S_TICK, S_FLAGS = 0, 1, 2, 3, 4, 5
RSP_REJECT, RSP_FILL, RSP_CANCELED = 2, 3, 4
FLAG_MAKER, FLAG_DONE, FLAG_SELL = 1, 2, 4

# return codes
ST_DONE, ST_RSP_FULL, ST_CROSSED, ST_ORD_FULL = 0, 1, 2, 3
# what a compiled strategy loop (``ReplayVenue.run_compiled``) returns besides these: the data is used up, it needs
# the next chunk of data, it needs room at the request queue's tail
LOOP_END, LOOP_LOAD, LOOP_REQUEST_ROOM = -1, -2, -3

MAX_WALK = 64  # price levels a taker order may walk through
BLOCK_BITS = 6  # the books' levels are counted by blocks of 64 ticks (``occupied``), so that a window move skips gaps
BIG = np.iinfo(np.int64).max


def new_state(width: int, queue: int, weighting: int, n: float, lot: float, partial: bool, post_only: bool,
              on_error: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Empty books (4 x ``width`` ticks), their levels counted by block, and the integer and float state for the
    settings given."""
    book = np.zeros((4, width), dtype=np.float64)
    occupied = np.zeros((4, (width >> BLOCK_BITS) + 1), dtype=np.int8)  # at most 64 a block: small enough for cache
    int_state = np.zeros(NI, dtype=np.int64)
    int_state[I_W] = width
    for r in (EX_BID, LO_BID):
        int_state[I_BEST + r], int_state[I_BOUND + r] = -1, width
    for r in (EX_ASK, LO_ASK):
        int_state[I_BEST + r], int_state[I_BOUND + r] = width, -1
    int_state[I_QUEUE], int_state[I_WEIGHT], int_state[I_PARTIAL] = queue, weighting, int(partial)
    int_state[I_POST_ONLY], int_state[I_ON_ERROR] = int(post_only), int(on_error)
    int_state[I_LAST_RSP] = np.iinfo(np.int64).min
    float_state = np.zeros(NF, dtype=np.float64)
    float_state[F_LOT], float_state[F_N] = lot, n
    return book, occupied, int_state, float_state


@njit(cache=True, error_model="numpy")
def round_away(x):
    """Round half away from zero (Rust's f64::round, which hftbacktest uses), not numpy's half-to-even."""
    return math.floor(x + 0.5) if x >= 0.0 else -math.floor(-x + 0.5)


@njit(cache=True, error_model="numpy")
def tick_price(t, grid):
    """The price of tick ``t``. A grid whose inverse is a whole number (0.1, 0.01, 0.5) divides, so that 1001 ticks
    of 0.1 print as 100.1 and not 100.10000000000001."""
    inverse = 1.0 / grid
    whole = math.floor(inverse + 0.5)
    return t / whole if whole >= 1.0 and abs(inverse - whole) < 1e-9 * inverse else t * grid


@njit(cache=True, error_model="numpy")
def to_ticks(price, grid, out):
    """Prices to integer ticks (half away from zero) in one pass; NaN (a whole-side clear) becomes ``BIG``."""
    for i in range(price.shape[0]):
        x = price[i]
        out[i] = BIG if x != x else np.int64(round_away(x / grid))


@njit(cache=True, error_model="numpy")
def _scan_down(book, r, start, bound):
    """The highest index with a level in row ``r`` from ``start`` down to ``bound`` (-1 if none)."""
    for i in range(start, bound - 1, -1):
        if book[r, i] > 0.0:
            return i
    return -1


@njit(cache=True, error_model="numpy")
def _scan_up(book, r, start, bound):
    """The lowest index with a level in row ``r`` from ``start`` up to ``bound`` (the width if none)."""
    for i in range(start, bound + 1):
        if book[r, i] > 0.0:
            return i
    return book.shape[1]


@njit(cache=True, error_model="numpy")
def _delete_range(book, occupied, r, low, high):
    """Delete row ``r``'s levels from index ``low`` to ``high`` inclusive, skipping blocks without levels."""
    for block in range(low >> BLOCK_BITS, (high >> BLOCK_BITS) + 1):
        if occupied[r, block] == 0:
            continue
        for i in range(max(low, block << BLOCK_BITS), min(high, ((block + 1) << BLOCK_BITS) - 1) + 1):
            if book[r, i] > 0.0:
                book[r, i] = 0.0
                occupied[r, block] -= 1


@njit(cache=True, error_model="numpy")
def _recenter(book, occupied, int_state, new_base):
    """Move the window so that index 0 is tick ``new_base``, dropping (and counting) levels that fall out. Only the
    blocks holding levels are visited: a sparse book over a wide window moves in proportion to its levels."""
    w = int_state[I_W]
    shift = new_base - int_state[I_BASE]
    for r in range(4):
        best, bound = int_state[I_BEST + r], int_state[I_BOUND + r]
        if r % 2 == 0:
            if best < 0:
                continue
            low, high = bound, best
        else:
            if best >= w:
                continue
            low, high = best, bound
        step = 1 if shift > 0 else -1  # levels moving down go first when walking up, and up when walking down
        first, last = (low >> BLOCK_BITS, high >> BLOCK_BITS) if step > 0 else (high >> BLOCK_BITS, low >> BLOCK_BITS)
        for block in range(first, last + step, step):
            if occupied[r, block] == 0:
                continue
            start, stop = block << BLOCK_BITS, min((block + 1) << BLOCK_BITS, w)
            if step < 0:
                start, stop = stop - 1, start - 1
            for i in range(start, stop, step):  # written inline: a helper's array arguments cost a call per level
                size = book[r, i]
                if size > 0.0:
                    book[r, i] = 0.0
                    occupied[r, i >> BLOCK_BITS] -= 1
                    j = i - shift
                    if 0 <= j < w:
                        book[r, j] = size
                        occupied[r, j >> BLOCK_BITS] += 1
                    else:
                        int_state[I_DROPPED] += 1
        low, high = max(low - shift, 0), min(high - shift, w - 1)
        if r % 2 == 0:
            best = _scan_down(book, r, high, low)
            bound = _scan_up(book, r, low, high) if best >= 0 else w
        else:
            best = _scan_up(book, r, low, high)
            bound = _scan_down(book, r, high, low) if best < w else -1
        int_state[I_BEST + r], int_state[I_BOUND + r] = best, bound
    int_state[I_BASE] = new_base
    int_state[I_RECENTERS] += 1


@njit(cache=True, error_model="numpy")
def _locate(book, occupied, int_state, t):
    """The index of tick ``t``, re-centring the window when needed; -1 when ``t`` is too far from the mid."""
    w = int_state[I_W]
    base = int_state[I_BASE]
    idx = t - base
    if 0 <= idx < w:
        return idx
    bb, ba = int_state[I_BEST + EX_BID], int_state[I_BEST + EX_ASK]
    if bb >= 0 and ba < w:
        center = base + (bb + ba) // 2
    elif bb >= 0:
        center = base + bb
    elif ba < w:
        center = base + ba
    else:
        center = t
    if abs(t - center) >= w // 2:
        int_state[I_DROPPED] += 1
        return -1
    _recenter(book, occupied, int_state, center - w // 2)
    return t - int_state[I_BASE]


@njit(cache=True, error_model="numpy")
def _clear(book, occupied, int_state, r, whole, t):
    """Clear a book row: all of it, or from the best out to tick ``t`` inclusive."""
    w = int_state[I_W]
    best, bound = int_state[I_BEST + r], int_state[I_BOUND + r]
    idx = t - int_state[I_BASE]
    int_state[I_BEST_TS + r] = 0
    if r % 2 == 0:
        if best >= 0:
            lo = bound if whole else max(idx, bound)
            _delete_range(book, occupied, r, lo, best)
        if whole or idx <= bound:
            int_state[I_BEST + r], int_state[I_BOUND + r] = -1, w
        else:
            best = _scan_down(book, r, min(idx - 1, w - 1), bound)
            int_state[I_BEST + r] = best
            if best < 0:
                int_state[I_BOUND + r] = w
    else:
        if best < w:
            hi = bound if whole else min(idx, bound)
            _delete_range(book, occupied, r, best, hi)
        if whole or idx >= bound:
            int_state[I_BEST + r], int_state[I_BOUND + r] = w, -1
        else:
            best = _scan_up(book, r, max(idx + 1, 0), bound)
            int_state[I_BEST + r] = best
            if best >= w:
                int_state[I_BOUND + r] = -1


@njit(cache=True, error_model="numpy")
def _uncross(book, occupied, int_state, bid_row):
    """Repair a crossed book (best bid >= best ask) by deleting the stale side's crossed levels: the side whose best
    level was set longer ago (on a tie, the side not updated last). Returns True when the book was crossed."""
    ask_row = bid_row + 1
    w = int_state[I_W]
    bb, ba = int_state[I_BEST + bid_row], int_state[I_BEST + ask_row]
    if bb < 0 or ba >= w or bb < ba:
        return False
    bid_ts, ask_ts = int_state[I_BEST_TS + bid_row], int_state[I_BEST_TS + ask_row]
    if bid_ts > ask_ts or (bid_ts == ask_ts and int_state[I_LAST_SIDE + bid_row // 2] > 0):
        _delete_range(book, occupied, ask_row, ba, bb)
        best = _scan_up(book, ask_row, bb + 1, int_state[I_BOUND + ask_row])
        int_state[I_BEST + ask_row] = best
        if best >= w:
            int_state[I_BOUND + ask_row] = -1
    else:
        _delete_range(book, occupied, bid_row, ba, bb)
        best = _scan_down(book, bid_row, ba - 1, int_state[I_BOUND + bid_row])
        int_state[I_BEST + bid_row] = best
        if best < 0:
            int_state[I_BOUND + bid_row] = w
    return True


@njit(cache=True, error_model="numpy")
def _latency(lat_ts, lat_val, t):
    """The latency at time ``t``: the single value, or linear between table rows and flat outside them."""
    n = lat_ts.shape[0]
    if n == 1:
        return lat_val[0]
    i = np.searchsorted(lat_ts, t, side="right")
    if i == 0:
        return lat_val[0]
    if i == n:
        return lat_val[n - 1]
    t0, t1, v0, v1 = lat_ts[i - 1], lat_ts[i], lat_val[i - 1], lat_val[i]
    return v0 + np.int64(round_away((v1 - v0) * ((t - t0) / (t1 - t0))))


@njit(cache=True, error_model="numpy")
def _respond(rsp_i, rsp_f, int_state, latency, t, kind, oid, tick, flags, qty):
    """Queue a response made at exchange time ``t``; it reaches the strategy ``latency`` ns later (FIFO)."""
    arrival = t + latency
    if arrival < int_state[I_LAST_RSP]:
        arrival = int_state[I_LAST_RSP]
    int_state[I_LAST_RSP] = arrival
    row = int_state[I_RSP_TAIL]
    rsp_i[row, S_TS] = arrival
    rsp_i[row, S_KIND] = kind
    rsp_i[row, S_OID] = oid
    rsp_i[row, S_EXCH_TS] = t
    rsp_i[row, S_TICK] = tick
    rsp_i[row, S_FLAGS] = flags
    rsp_f[row] = qty
    int_state[I_RSP_TAIL] = row + 1


@njit(cache=True, error_model="numpy")
def _deactivate(ord_i, int_state, o):
    """Free order slot ``o`` and shrink the used range past trailing free slots."""
    ord_i[o, O_ACTIVE] = 0
    int_state[I_ORD_ACTIVE] -= 1
    used = int_state[I_ORD_USED]
    while used > 0 and ord_i[used - 1, O_ACTIVE] == 0:
        used -= 1
    int_state[I_ORD_USED] = used


@njit(cache=True, error_model="numpy")
def _maker_fill(ord_i, ord_f, int_state, float_state, rsp_i, rsp_f, latency, o, qty, t):
    """Fill ``qty`` of the order in slot ``o`` at its own price, as maker; the order leaves the book when nothing
    (less than half a lot) remains."""
    leaves = ord_f[o, OF_LEAVES] - qty
    flags = FLAG_MAKER | (FLAG_SELL if ord_i[o, O_SIDE] < 0 else 0)
    if round_away(leaves / float_state[F_LOT]) <= 0.0:
        leaves = 0.0
        flags |= FLAG_DONE
        _deactivate(ord_i, int_state, o)
    ord_f[o, OF_LEAVES] = leaves
    _respond(rsp_i, rsp_f, int_state, latency, t, RSP_FILL, ord_i[o, O_OID], ord_i[o, O_TICK], flags, qty)


@njit(cache=True, error_model="numpy")
def _prob(weighting, n, front, back):
    """The share of a level decrease taken to come from ahead of us: f(back) / (f(back) + f(front))."""
    if weighting == W_POWER:
        fb, ff = math.pow(back, n), math.pow(front, n)
    else:
        fb, ff = math.pow(math.log1p(back), n), math.pow(math.log1p(front), n)
    p = fb / (fb + ff)  # 0/0 (an empty level) and NaN powers give NaN, taken as 1 as hftbacktest does
    return p if math.isfinite(p) else 1.0


@njit(cache=True, error_model="numpy")
def _take(book, int_state, float_state, rsp_i, rsp_f, latency, oid, side, tick, qty, t):
    """A non-post-only order that crosses on arrival takes liquidity as taker: all of it at the best opposite price
    without partial fills, else walking the displayed levels up to its limit, the unfilled rest cancelled."""
    w, base, lot = int_state[I_W], int_state[I_BASE], float_state[F_LOT]
    opp = EX_ASK if side > 0 else EX_BID
    sell = FLAG_SELL if side < 0 else 0
    best = int_state[I_BEST + opp]
    if int_state[I_PARTIAL] == 0:
        _respond(rsp_i, rsp_f, int_state, latency, t, RSP_FILL, oid, best + base, FLAG_DONE | sell, qty)
        return
    leaves = qty
    i = best
    walked = 0
    while walked < MAX_WALK and 0 <= i < w and (i + base <= tick if side > 0 else i + base >= tick):
        level = book[opp, i]
        if level > 0.0:
            walked += 1
            take = min(level, leaves)
            leaves -= take
            done = round_away(leaves / lot) <= 0.0
            _respond(rsp_i, rsp_f, int_state, latency, t, RSP_FILL, oid, i + base, (FLAG_DONE if done else 0) | sell,
                     take)
            if done:
                return
        i += 1 if side > 0 else -1
    _respond(rsp_i, rsp_f, int_state, latency, t, RSP_CANCELED, oid, tick, 0, leaves)


@njit(cache=True, error_model="numpy")
def _top(book, int_state, top, grid):
    """The local book's best ``top.shape[1]`` levels a side: rows bid px, bid size, ask px, ask size (NaN, 0 pad)."""
    n = top.shape[1]
    w, base = int_state[I_W], int_state[I_BASE]
    level = 0
    i = int_state[I_BEST + LO_BID]
    bound = int_state[I_BOUND + LO_BID]
    while level < n and i >= 0 and i >= bound:
        if book[LO_BID, i] > 0.0:
            top[0, level] = tick_price(i + base, grid)
            top[1, level] = book[LO_BID, i]
            level += 1
        i -= 1
    for m in range(level, n):
        top[0, m] = np.nan
        top[1, m] = 0.0
    level = 0
    i = int_state[I_BEST + LO_ASK]
    bound = int_state[I_BOUND + LO_ASK]
    while level < n and i < w and i <= bound:
        if book[LO_ASK, i] > 0.0:
            top[2, level] = tick_price(i + base, grid)
            top[3, level] = book[LO_ASK, i]
            level += 1
        i += 1
    for m in range(level, n):
        top[2, m] = np.nan
        top[3, m] = 0.0


ADVANCE_SIGNATURE = (int64[:, ::1], int8[:, ::1], float64[::1], float64[:, ::1], int8[:, ::1], int64[::1],
                     float64[::1],
                     int64[:, ::1], float64[:, ::1], int64[:, ::1], float64[::1], int64[:, ::1], float64[::1],
                     int64[:, ::1], float64[:, ::1], float64, int64)


@njit(ADVANCE_SIGNATURE, cache=True, error_model="numpy")
def advance(data_i, data_k, size, book, occupied, int_state, float_state, ord_i, ord_f, req_i, req_f, rsp_i, rsp_f,
            lat, top, grid, limit):
    """Process every event and message with a time <= ``limit``, in time order (ties: local data, responses,
    exchange data, requests), then write the local book's top levels into ``top``.

    ``data_i`` rows are ts_exchange, ts_local, price tick and the local-order permutation; ``data_k`` rows kind and
    side; ``lat`` rows the latency table's times and response latencies.

    Queues: a consumed request queue starts again at row 0 (the caller appends at ``I_REQ_TAIL``), and so does a
    response queue whose rows were all delivered by an earlier call; rows ``I_RSP_READ`` to ``I_RSP_HEAD`` are the
    responses delivered by this call.

    Returns ST_DONE; ST_RSP_FULL when the response queue needs room, ST_ORD_FULL when the order table does (call
    again after making some); ST_CROSSED when a book stays crossed and crossed books are errors
    (``int_state[I_ERR_TS]`` and ``int_state[I_ERR_BOOK]`` say where).
    The per-event path is written inline: a call passing arrays costs reference-count traffic per array, so helper
    functions are called only on rare paths (fills, scans after the best level empties, clears, re-centring).
    """
    ts_e, ts_l, tick, perm = data_i[0], data_i[1], data_i[2], data_i[3]
    kind, side = data_k[0], data_k[1]
    lat_ts, lat_rsp = lat[0], lat[1]
    n, w = int_state[I_N], int_state[I_W]
    lot, prob_n = float_state[F_LOT], float_state[F_N]
    prob, weighting, partial = int_state[I_QUEUE] == Q_PROB, int_state[I_WEIGHT], int_state[I_PARTIAL] == 1
    rsp_cap = rsp_i.shape[0]
    const_lat = lat_rsp[0] if lat_ts.shape[0] == 1 else -1
    exch_next, local_next = int_state[I_EI], int_state[I_LI]
    if int_state[I_RSP_HEAD] == int_state[I_RSP_TAIL]:
        int_state[I_RSP_HEAD] = int_state[I_RSP_TAIL] = 0
    int_state[I_RSP_READ] = int_state[I_RSP_HEAD]
    status = ST_DONE
    while True:
        t = ts_l[perm[local_next]] if local_next < n else BIG
        which = 0
        rsp_head, req_head = int_state[I_RSP_HEAD], int_state[I_REQ_HEAD]
        if rsp_head < int_state[I_RSP_TAIL] and rsp_i[rsp_head, S_TS] < t:
            t = rsp_i[rsp_head, S_TS]
            which = 1
        if exch_next < n and ts_e[exch_next] < t:
            t = ts_e[exch_next]
            which = 2
        if req_head < int_state[I_REQ_TAIL] and req_i[req_head, R_TS] < t:
            t = req_i[req_head, R_TS]
            which = 3
        if t > limit:
            break
        if which == 1:
            int_state[I_RSP_HEAD] = rsp_head + 1
            continue
        if which >= 2 and rsp_cap - int_state[I_RSP_TAIL] < int_state[I_ORD_ACTIVE] + MAX_WALK + 2:
            status = ST_RSP_FULL
            break
        lat = const_lat
        if lat < 0 and (which == 3 or int_state[I_ORD_ACTIVE] > 0):
            lat = _latency(lat_ts, lat_rsp, t)
        if which == 3:
            if req_i[req_head, R_KIND] == REQ_NEW and int_state[I_ORD_ACTIVE] == ord_i.shape[0]:
                status = ST_ORD_FULL
                break
            int_state[I_REQ_HEAD] = req_head + 1
            oid, rside, rtick = req_i[req_head, R_OID], req_i[req_head, R_SIDE], req_i[req_head, R_TICK]
            rqty = req_f[req_head]
            if req_i[req_head, R_KIND] == REQ_CANCEL:
                for o in range(int_state[I_ORD_USED]):
                    if ord_i[o, O_ACTIVE] == 1 and ord_i[o, O_OID] == oid:
                        _deactivate(ord_i, int_state, o)
                        break
                if t + lat > int_state[I_LAST_RSP]:  # the confirmation (or "not found") holds its FIFO place
                    int_state[I_LAST_RSP] = t + lat
                continue
            base = int_state[I_BASE]
            if rside > 0:
                crossing = int_state[I_BEST + EX_ASK] < w and rtick >= int_state[I_BEST + EX_ASK] + base
            else:
                crossing = int_state[I_BEST + EX_BID] >= 0 and rtick <= int_state[I_BEST + EX_BID] + base
            if crossing:
                if int_state[I_POST_ONLY] == 1:
                    _respond(rsp_i, rsp_f, int_state, lat, t, RSP_REJECT, oid, rtick, 0, rqty)
                else:
                    _take(book, int_state, float_state, rsp_i, rsp_f, lat, oid, rside, rtick, rqty, t)
                continue
            used = int_state[I_ORD_USED]
            o = 0
            while o < used and ord_i[o, O_ACTIVE] == 1:
                o += 1
            if o == used:
                int_state[I_ORD_USED] = o + 1
            int_state[I_ORD_ACTIVE] += 1
            idx = rtick - base
            ord_i[o, O_OID], ord_i[o, O_SIDE], ord_i[o, O_TICK], ord_i[o, O_ACTIVE] = oid, rside, rtick, 1
            ord_f[o, OF_LEAVES] = rqty
            ord_f[o, OF_FRONT] = book[EX_BID if rside > 0 else EX_ASK, idx] if 0 <= idx < w else 0.0
            ord_f[o, OF_CUM] = 0.0
            arrival = t + lat  # the acknowledgement: not queued (the strategy's view needs nothing from it), but it
            if arrival > int_state[I_LAST_RSP]:  # holds its place in the FIFO of responses
                int_state[I_LAST_RSP] = arrival
            continue
        j, bid_row = (perm[local_next], LO_BID) if which == 0 else (exch_next, EX_BID)
        ev_kind, ev_side = kind[j], side[j]
        if ev_kind == K_TRADE:
            if which == 0:
                px = tick_price(tick[j], grid)
                if int_state[I_TRADES] == 0:
                    float_state[F_OPEN], float_state[F_HIGH], float_state[F_LOW] = px, px, px
                else:
                    float_state[F_HIGH] = max(float_state[F_HIGH], px)
                    float_state[F_LOW] = min(float_state[F_LOW], px)
                float_state[F_CLOSE] = px
                float_state[F_VOLUME] += size[j]
                int_state[I_TRADES] += 1
            elif int_state[I_ORD_ACTIVE] > 0:
                p_tick, qty, passive = tick[j], size[j], -ev_side
                for o in range(int_state[I_ORD_USED]):
                    if ord_i[o, O_ACTIVE] != 1 or ord_i[o, O_SIDE] != passive:
                        continue
                    ot = ord_i[o, O_TICK]
                    if (ot > p_tick) if passive > 0 else (ot < p_tick):
                        _maker_fill(ord_i, ord_f, int_state, float_state, rsp_i, rsp_f, lat, o, ord_f[o, OF_LEAVES], t)
                    elif ot == p_tick:
                        front = ord_f[o, OF_FRONT] - qty
                        ord_f[o, OF_FRONT] = front
                        ord_f[o, OF_CUM] += qty
                        lots = round_away(-front / lot)
                        if lots > 0.0:
                            leaves = ord_f[o, OF_LEAVES]
                            if partial:
                                ord_f[o, OF_FRONT] = 0.0
                                leaves = min(lots * lot, qty, leaves)
                            _maker_fill(ord_i, ord_f, int_state, float_state, rsp_i, rsp_f, lat, o, leaves, t)
        elif ev_kind == K_CLEAR:
            whole = tick[j] == BIG
            if ev_side >= 0:
                _clear(book, occupied, int_state, bid_row, whole, tick[j])
            if ev_side <= 0:
                _clear(book, occupied, int_state, bid_row + 1, whole, tick[j])
            if which == 0:
                int_state[I_SNAPSHOT] = 1
        else:
            t_tick = tick[j]
            idx = t_tick - int_state[I_BASE]
            if idx < 0 or idx >= w:
                idx = _locate(book, occupied, int_state, t_tick)
            if idx >= 0:
                qty = size[j]
                r = bid_row if ev_side > 0 else bid_row + 1
                prev = book[r, idx]
                best = int_state[I_BEST + r]
                prev_best = best
                keep = math.floor(qty / lot + 0.5) > 0.0
                if keep:
                    book[r, idx] = qty
                    if prev == 0.0:
                        occupied[r, idx >> BLOCK_BITS] += 1
                    if ev_side > 0:
                        if idx > best:
                            best = idx
                        if idx < int_state[I_BOUND + r]:
                            int_state[I_BOUND + r] = idx
                    else:
                        if idx < best:
                            best = idx
                        if idx > int_state[I_BOUND + r]:
                            int_state[I_BOUND + r] = idx
                else:
                    book[r, idx] = 0.0
                    if prev > 0.0:
                        occupied[r, idx >> BLOCK_BITS] -= 1
                    if idx == best:
                        if ev_side > 0:
                            best = _scan_down(book, r, idx - 1, int_state[I_BOUND + r])
                            if best < 0:
                                int_state[I_BOUND + r] = w
                        else:
                            best = _scan_up(book, r, idx + 1, int_state[I_BOUND + r])
                            if best >= w:
                                int_state[I_BOUND + r] = -1
                int_state[I_BEST + r] = best
                if keep and best == idx:
                    int_state[I_BEST_TS + r] = t
                elif not keep and idx == prev_best:
                    int_state[I_BEST_TS + r] = 0
                int_state[I_LAST_SIDE + bid_row // 2] = ev_side
                if which == 0:
                    if ev_kind == K_SNAPSHOT:
                        int_state[I_SNAPSHOT] = 1
                elif int_state[I_ORD_ACTIVE] > 0:
                    for o in range(int_state[I_ORD_USED]):
                        if ord_i[o, O_ACTIVE] == 1 and ord_i[o, O_SIDE] == ev_side and ord_i[o, O_TICK] == t_tick:
                            front = ord_f[o, OF_FRONT]
                            if prob:
                                change = prev - qty - ord_f[o, OF_CUM]
                                ord_f[o, OF_CUM] = 0.0
                                if change >= 0.0:
                                    back = prev - front
                                    p = _prob(weighting, prob_n, front, back)
                                    front = front - (1.0 - p) * change + min(back - p * change, 0.0)
                            ord_f[o, OF_FRONT] = min(front, qty)
                    base = int_state[I_BASE]
                    if ev_side > 0 and best > prev_best:
                        for o in range(int_state[I_ORD_USED]):
                            if ord_i[o, O_ACTIVE] == 1 and ord_i[o, O_SIDE] < 0 and ord_i[o, O_TICK] <= best + base:
                                _maker_fill(ord_i, ord_f, int_state, float_state, rsp_i, rsp_f, lat, o,
                                            ord_f[o, OF_LEAVES], t)
                    elif ev_side < 0 and best < prev_best:
                        for o in range(int_state[I_ORD_USED]):
                            if ord_i[o, O_ACTIVE] == 1 and ord_i[o, O_SIDE] > 0 and ord_i[o, O_TICK] >= best + base:
                                _maker_fill(ord_i, ord_f, int_state, float_state, rsp_i, rsp_f, lat, o,
                                            ord_f[o, OF_LEAVES], t)
        if which == 0:
            local_next += 1
            int_state[I_EVENTS + 1] += 1
            group_end = local_next >= n or ts_l[perm[local_next]] != t
        else:
            exch_next += 1
            int_state[I_EVENTS] += 1
            group_end = exch_next >= n or ts_e[exch_next] != t
        best_bid = int_state[I_BEST + bid_row]
        if group_end and best_bid >= int_state[I_BEST + bid_row + 1] and best_bid >= 0:
            _uncross(book, occupied, int_state, bid_row)
            int_state[I_CROSSED + bid_row // 2] += 1
            if int_state[I_ON_ERROR] == 1:
                int_state[I_ERR_TS], int_state[I_ERR_BOOK] = t, bid_row // 2
                status = ST_CROSSED
                break
    int_state[I_EI], int_state[I_LI] = exch_next, local_next
    if int_state[I_REQ_HEAD] == int_state[I_REQ_TAIL]:
        int_state[I_REQ_HEAD] = int_state[I_REQ_TAIL] = 0
    _top(book, int_state, top, grid)
    return status


advance_compiled = advance.overloads[advance.signatures[0]].entry_point
"""``advance`` compiled for its one signature, called without the dispatcher's per-call argument typing (about half
a microsecond, once per tick). Every argument must have exactly the dtype and C layout of ``ADVANCE_SIGNATURE``."""
