"""Exact multivariate dynamic time warping: a numba kernel plus a thin, explicit wrapper.

The band follows the diagonal of the (n, m) grid, so signatures of different lengths
are warped along their natural alignment: cell (i, j) is allowed when
``|j - i * (m - 1) / (n - 1)| <= window``. For equal lengths this is the Sakoe-Chiba
band ``|i - j| <= window`` (dtaidistance's ``window=w`` is our ``window=w - 1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

_INF = np.inf
# Fast-math without the no-inf/no-nan assumptions: unreachable cells are +inf.
_FAST = {"reassoc", "contract", "arcp", "nsz", "afn"}


@numba.njit(cache=True, nogil=True, fastmath=False)
def _band(i: int, n: int, m: int, window: float) -> tuple[int, int]:
    centre = i * (m - 1) / (n - 1) if n > 1 else 0.0
    lo = int(math.ceil(centre - window - 1e-9))
    hi = int(math.floor(centre + window + 1e-9))
    if lo < 0:
        lo = 0
    if hi > m - 1:
        hi = m - 1
    return lo, hi


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _local(a: np.ndarray, b: np.ndarray, i: int, j: int, d: int, squared: bool) -> float:
    cost = 0.0
    for k in range(d):
        diff = a[i, k] - b[j, k]
        cost += diff * diff
    return cost if squared else math.sqrt(cost)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def dtw_kernel(a: np.ndarray, b: np.ndarray, window: float, squared: bool) -> tuple[float, int]:
    """Accumulated DTW cost and warping-path length of two (n, d) and (m, d) float64 arrays.

    With ``squared`` the local cost is the squared Euclidean distance (the caller takes the
    square root of the total, as dtaidistance does); otherwise it is the Euclidean distance.
    Ties prefer the diagonal (the shorter path). Returns (inf, 0) when the band admits no
    path. Memory is two rows of the cost matrix, with column 0 as an unreachable sentinel.
    """
    n, d = a.shape
    m = b.shape[0]
    prev = np.full(m + 1, _INF)
    curr = np.full(m + 1, _INF)
    prev_len = np.zeros(m + 1, dtype=np.int64)
    curr_len = np.zeros(m + 1, dtype=np.int64)
    prev_lo, prev_hi = 1, 0
    for i in range(n):
        lo, hi = _band(i, n, m, window)
        lo += 1
        hi += 1
        curr[lo - 1] = _INF
        if i == 0:
            curr[1] = _local(a, b, 0, 0, d, squared)
            curr_len[1] = 1
            start = 2
        else:
            start = lo
        left = curr[start - 1]
        left_len = curr_len[start - 1]
        for j in range(start, hi + 1):
            up = prev[j] if j <= prev_hi else _INF
            diag = prev[j - 1] if j - 1 >= prev_lo else _INF
            if diag <= up and diag <= left:
                best, best_len = diag, prev_len[j - 1]
            elif up <= left:
                best, best_len = up, prev_len[j]
            else:
                best, best_len = left, left_len
            left = best + _local(a, b, i, j - 1, d, squared)
            left_len = best_len + 1
            curr[j] = left
            curr_len[j] = left_len
        if hi + 1 <= m:
            curr[hi + 1] = _INF
        prev, curr = curr, prev
        prev_len, curr_len = curr_len, prev_len
        prev_lo, prev_hi = lo, hi
    if prev_hi != m or prev[m] == _INF:
        return _INF, 0
    return prev[m], prev_len[m]


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def dtw_cost_kernel(a: np.ndarray, b: np.ndarray, window: float, squared: bool) -> float:
    """Accumulated DTW cost only (no path length): the fast path for plain distances."""
    n, d = a.shape
    m = b.shape[0]
    prev = np.full(m + 1, _INF)
    curr = np.full(m + 1, _INF)
    # Column 0 is a sentinel so that j - 1 never needs a branch.
    prev_lo, prev_hi = 1, 0
    for i in range(n):
        lo, hi = _band(i, n, m, window)
        lo += 1
        hi += 1
        curr[lo - 1] = _INF
        if i == 0:
            curr[1] = _local(a, b, 0, 0, d, squared)
            start = 2
        else:
            start = lo
        left = curr[start - 1]
        for j in range(start, hi + 1):
            up = prev[j] if j <= prev_hi else _INF
            diag = prev[j - 1] if j - 1 >= prev_lo else _INF
            best = min(diag, up, left)
            left = best + _local(a, b, i, j - 1, d, squared)
            curr[j] = left
        if hi + 1 <= m:
            curr[hi + 1] = _INF
        prev, curr = curr, prev
        prev_lo, prev_hi = lo, hi
    return prev[m] if prev_hi == m else _INF


@numba.njit(cache=True, parallel=True)
def _dtw_pairs(series: numba.typed.List, left: np.ndarray, right: np.ndarray, window_frac: float,
               min_window: float, squared: bool) -> tuple[np.ndarray, np.ndarray]:
    out = np.empty(left.shape[0])
    lens = np.empty(left.shape[0], dtype=np.int64)
    for p in numba.prange(left.shape[0]):
        a = series[left[p]]
        b = series[right[p]]
        w = max(min_window, window_frac * max(a.shape[0], b.shape[0]))
        cost, length = dtw_kernel(a, b, w, squared)
        out[p] = cost
        lens[p] = length
    return out, lens


@dataclass(frozen=True)
class DTWResult:
    """A DTW distance with the path length used to normalise it."""

    cost: float
    path_length: int

    @property
    def normalised(self) -> float:
        """Cost per warping-path step."""
        return self.cost / self.path_length if self.path_length else math.inf


def _prepare(x: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError("DTW inputs must be non-empty (n,) or (n, d) arrays")
    return arr


def dtw(a: np.ndarray, b: np.ndarray, *, window: float | None = None, squared: bool = False) -> DTWResult:
    """DTW between two series; ``window`` in samples around the diagonal (None: unbounded)."""
    a, b = _prepare(a), _prepare(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"DTW inputs differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    w = float(max(a.shape[0], b.shape[0])) if window is None else float(window)
    cost, length = dtw_kernel(a, b, w, squared)
    if squared:
        cost = math.sqrt(cost)
    return DTWResult(float(cost), int(length))


def dtw_distance(a: np.ndarray, b: np.ndarray, *, window: float | None = None) -> float:
    """dtaidistance-compatible distance: square root of the summed squared Euclidean costs."""
    a, b = _prepare(a), _prepare(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"DTW inputs differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    w = float(max(a.shape[0], b.shape[0])) if window is None else float(window)
    return math.sqrt(dtw_cost_kernel(a, b, w, True))


def dtw_pairs(series: list[np.ndarray], pairs: np.ndarray, *, window_frac: float = 0.1, min_window: float = 10.0,
              squared: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Many DTWs in parallel over all cores: costs and path lengths for index ``pairs`` (k, 2)."""
    typed = numba.typed.List([_prepare(s) for s in series])
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= len(series)):
        raise IndexError("pair index out of range")
    costs, lens = _dtw_pairs(typed, pairs[:, 0].copy(), pairs[:, 1].copy(), float(window_frac), float(min_window),
                             squared)
    if squared:
        costs = np.sqrt(costs)
    return costs, lens


@numba.njit(cache=True, nogil=True)
def _dtw_full(a: np.ndarray, b: np.ndarray, window: float) -> np.ndarray:
    n, d = a.shape
    m = b.shape[0]
    acc = np.full((n + 1, m + 1), _INF)
    acc[0, 0] = 0.0
    for i in range(n):
        lo, hi = _band(i, n, m, window)
        for j in range(lo, hi + 1):
            cost = _local(a, b, i, j, d, False)
            acc[i + 1, j + 1] = cost + min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
    return acc


def dtw_path(a: np.ndarray, b: np.ndarray, *, window: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The optimal warping path as index pairs (k, 2) and the local cost at each step.

    Keeps the full cost matrix, so it is meant for explaining one comparison (reports),
    not for scoring many.
    """
    a, b = _prepare(a), _prepare(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"DTW inputs differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    w = float(max(a.shape[0], b.shape[0])) if window is None else float(window)
    acc = _dtw_full(a, b, w)
    if not np.isfinite(acc[a.shape[0], b.shape[0]]):
        raise ValueError("the band admits no warping path")
    pairs = _backtrack(acc)
    local = np.sqrt(((a[pairs[:, 0]] - b[pairs[:, 1]]) ** 2).sum(axis=1))
    return pairs, local


@numba.njit(cache=True, nogil=True)
def _backtrack(acc: np.ndarray) -> np.ndarray:
    i, j = acc.shape[0] - 1, acc.shape[1] - 1
    out = np.empty((i + j, 2), dtype=np.int64)
    k = 0
    out[k, 0], out[k, 1] = i - 1, j - 1
    while i != 1 or j != 1:
        # Prefer the diagonal on ties, as the kernels do.
        diag, up, left = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
        if diag <= up and diag <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i = i - 1
        else:
            j = j - 1
        k += 1
        out[k, 0], out[k, 1] = i - 1, j - 1
    return out[:k + 1][::-1].copy()


def dtw_alignment(a: np.ndarray, b: np.ndarray, window: float) -> np.ndarray:
    """The optimal warping path (k, 2) of two contiguous (n, d) float64 arrays, compiled end to end."""
    acc = _dtw_full(a, b, window)
    if not np.isfinite(acc[a.shape[0], b.shape[0]]):
        raise ValueError("the band admits no warping path")
    return _backtrack(acc)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def dtw_weighted_kernel(a: np.ndarray, weights: np.ndarray, b: np.ndarray, window: float) -> tuple[float, int]:
    """DTW of a weighted template ``a`` (n, d) against ``b`` (m, d): (accumulated cost, path length).

    The local cost is the Euclidean norm of ``(a[i] - b[j]) * weights[i]``, so template points
    where the references agree (high weight) count more than unstable ones (Okawa 2021's
    local-stability weighting). Same band and tie rule as :func:`dtw_kernel`.
    """
    n, d = a.shape
    m = b.shape[0]
    prev = np.full(m + 1, _INF)
    curr = np.full(m + 1, _INF)
    prev_len = np.zeros(m + 1, dtype=np.int64)
    curr_len = np.zeros(m + 1, dtype=np.int64)
    prev_lo, prev_hi = 1, 0
    for i in range(n):
        lo, hi = _band(i, n, m, window)
        lo += 1
        hi += 1
        curr[lo - 1] = _INF
        left = _INF
        left_len = 0
        for j in range(lo, hi + 1):
            local = 0.0
            for k in range(d):
                diff = (a[i, k] - b[j - 1, k]) * weights[i, k]
                local += diff * diff
            local = math.sqrt(local)
            if i == 0 and j == 1:
                best, best_len = 0.0, 0
            else:
                up = prev[j] if j <= prev_hi else _INF
                diag = prev[j - 1] if j - 1 >= prev_lo else _INF
                if diag <= up and diag <= left:
                    best, best_len = diag, prev_len[j - 1]
                elif up <= left:
                    best, best_len = up, prev_len[j]
                else:
                    best, best_len = left, left_len
            left = best + local
            left_len = best_len + 1
            curr[j] = left
            curr_len[j] = left_len
        if hi + 1 <= m:
            curr[hi + 1] = _INF
        prev, curr = curr, prev
        prev_len, curr_len = curr_len, prev_len
        prev_lo, prev_hi = lo, hi
    if prev_hi != m or prev[m] == _INF:
        return _INF, 0
    return prev[m], prev_len[m]
