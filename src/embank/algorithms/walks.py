"""Random walks over a CSR graph for node2vec / DeepWalk, compiled with numba.

Walks follow out-edges with probability proportional to their weight. With ``p = q = 1``
a step depends on the current node only (DeepWalk): the first-order path picks an edge
uniformly on rows whose weights are all equal, else by binary search in the row's
cumulative weights. Otherwise each step from ``v`` (having come from ``t``) picks ``x``
with probability proportional to ``w(v, x) * alpha(t, x)``, where ``alpha`` is ``1/p`` for
``x == t``, ``1`` when ``t -> x`` is an edge and ``1/q`` else (node2vec, Grover & Leskovec
2016). That step is exact rejection sampling against the first-order distribution
(KnightKing's idea, Yang et al. SOSP 2019): propose an edge by weight, accept with
``alpha / envelope``; a strong return bias (small ``p``) is folded into a separate
"return" slab so its acceptance rate stays high. Nothing of size sum(degree^2) is built,
so hubs cost no memory.

Each walk draws from its own splitmix64 stream seeded by (seed, walk index), so the walks
are the same for any number of threads. A walk stops early at a node without out-edges;
the rest of its row is ``-1``.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

__all__ = ["CSRWalker", "mix_seed"]

# The RNG helpers below are inlined into skipgram.py's kernels too. numba's on-disk cache
# checks only the file a kernel is defined in, so after editing them touch skipgram.py.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    """splitmix64's finaliser: a bijective scramble of 64 bits."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _next(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    """One splitmix64 step: (new state, 64 random bits)."""
    state = state + _GOLDEN
    return state, _mix(state)


@njit(cache=True, inline="always")
def _unit(bits: np.uint64) -> float:
    """A float64 uniform on [0, 1) from 64 random bits."""
    return float(bits >> np.uint64(11)) * _TO_UNIT


@njit(cache=True)
def mix_seed(seed: np.uint64, stream: np.uint64) -> np.uint64:
    """The start state of random stream ``stream`` under ``seed``."""
    return _mix(_mix(seed + _GOLDEN) ^ (stream * _GOLDEN + _MIX1))


@njit(cache=True, inline="always")
def _find(indices: np.ndarray, lo: int, hi: int, target: int) -> int:
    """Position of ``target`` in the sorted ``indices[lo:hi]``, or -1."""
    while lo < hi:
        mid = (lo + hi) >> 1
        value = indices[mid]
        if value < target:
            lo = mid + 1
        elif value > target:
            hi = mid
        else:
            return mid
    return -1


@njit(cache=True, inline="always")
def _pick(
    indptr: np.ndarray, cumulative: np.ndarray, uniform_rows: np.ndarray, v: int, u: float
) -> int:
    """The edge position out of ``v`` for ``u`` uniform on [0, 1), by weight."""
    lo = indptr[v]
    hi = indptr[v + 1]
    if uniform_rows[v]:
        return min(lo + int(u * (hi - lo)), hi - 1)
    target = u * cumulative[hi - 1]
    hi -= 1
    while lo < hi:  # first position whose cumulative weight exceeds target
        mid = (lo + hi) >> 1
        if cumulative[mid] > target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, parallel=True)
def _first_order_walks(
    indptr: np.ndarray,
    indices: np.ndarray,
    cumulative: np.ndarray,
    uniform_rows: np.ndarray,
    starts: np.ndarray,
    first_walk: int,
    walk_length: int,
    seed: np.uint64,
    out: np.ndarray,
) -> None:
    for i in prange(starts.size):
        state = mix_seed(seed, np.uint64(first_walk + i))
        v = starts[i]
        out[i, 0] = v
        step = 1
        while step < walk_length and indptr[v + 1] > indptr[v]:
            state, bits = _next(state)
            v = indices[_pick(indptr, cumulative, uniform_rows, v, _unit(bits))]
            out[i, step] = v
            step += 1
        for rest in range(step, walk_length):
            out[i, rest] = -1


@njit(cache=True, parallel=True)
def _second_order_walks(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    cumulative: np.ndarray,
    uniform_rows: np.ndarray,
    starts: np.ndarray,
    first_walk: int,
    walk_length: int,
    p: float,
    q: float,
    seed: np.uint64,
    out: np.ndarray,
) -> None:
    inv_p = 1.0 / p
    inv_q = 1.0 / q
    # Envelope over the non-return candidates; a higher return bias gets its own slab.
    envelope = max(1.0, inv_q)
    min_alpha = min(1.0, inv_q)
    for i in prange(starts.size):
        state = mix_seed(seed, np.uint64(first_walk + i))
        t = starts[i]
        out[i, 0] = t
        step = 1
        if walk_length > 1 and indptr[t + 1] > indptr[t]:
            state, bits = _next(state)
            v = indices[_pick(indptr, cumulative, uniform_rows, t, _unit(bits))]
            out[i, 1] = v
            step = 2
            while step < walk_length:
                lo = indptr[v]
                hi = indptr[v + 1]
                if hi == lo:
                    break
                total = cumulative[hi - 1]
                slab = 0.0
                if inv_p > envelope:
                    back = _find(indices, lo, hi, t)
                    if back >= 0:
                        slab = data[back] * (inv_p - envelope)
                # t's out-neighbours tell "1" from "1/q"; searched only when that decides.
                t_lo = indptr[t]
                t_hi = indptr[t + 1]
                while True:
                    state, bits = _next(state)
                    u = _unit(bits) * (total * envelope + slab)
                    if u >= total * envelope:
                        x = t  # the return slab: accepted outright
                        break
                    x = indices[_pick(indptr, cumulative, uniform_rows, v, u / (total * envelope))]
                    state, bits = _next(state)
                    level = _unit(bits) * envelope
                    if x == t:
                        if level < inv_p:
                            break
                    elif level < min_alpha:
                        break  # accepted whether or not t -> x is an edge
                    elif (_find(indices, t_lo, t_hi, x) >= 0) == (inv_q < 1.0):
                        # an edge t -> x weighs 1, its absence 1/q: accept only the larger
                        break
                t = v
                v = x
                out[i, step] = v
                step += 1
        for rest in range(step, walk_length):
            out[i, rest] = -1


@njit(cache=True)
def _row_cumulative(indptr: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row running sums of the weights, and whether each row's weights are all equal."""
    cumulative = np.empty(data.size, dtype=np.float64)
    uniform_rows = np.ones(indptr.size - 1, dtype=np.bool_)
    for v in range(indptr.size - 1):
        running = 0.0
        for j in range(indptr[v], indptr[v + 1]):
            running += data[j]
            cumulative[j] = running
            if data[j] != data[indptr[v]]:
                uniform_rows[v] = False
    return cumulative, uniform_rows


class CSRWalker:
    """Walks on a weighted, possibly directed graph given as CSR (row = source node).

    ``adjacency`` must hold finite, non-negative weights; zero weights count as no edge.
    """

    def __init__(self, adjacency: sp.csr_matrix, p: float = 1.0, q: float = 1.0) -> None:
        matrix = sp.csr_matrix(adjacency, dtype=np.float64, copy=True)
        matrix.eliminate_zeros()
        matrix.sort_indices()
        self.indptr = matrix.indptr.astype(np.int64)
        self.indices = matrix.indices.astype(np.int32)
        self.data = matrix.data
        self.cumulative, self.uniform_rows = _row_cumulative(self.indptr, self.data)
        self.n_nodes = int(matrix.shape[0])
        self.p = float(p)
        self.q = float(q)

    @property
    def first_order(self) -> bool:
        return self.p == 1.0 and self.q == 1.0

    def walk(
        self, starts: np.ndarray, walk_length: int, seed: int, first_walk: int = 0
    ) -> np.ndarray:
        """One walk from each of ``starts``: an int32 array (len(starts), walk_length).

        Walk ``i`` is numbered ``first_walk + i``; its random stream depends only on that
        number and ``seed``. Positions after an early stop hold -1.
        """
        starts = np.ascontiguousarray(starts, dtype=np.int32)
        out = np.empty((starts.size, walk_length), dtype=np.int32)
        seed64 = np.uint64(seed)
        if self.first_order:
            _first_order_walks(
                self.indptr, self.indices, self.cumulative, self.uniform_rows,
                starts, first_walk, walk_length, seed64, out,
            )  # fmt: skip
        else:
            _second_order_walks(
                self.indptr, self.indices, self.data, self.cumulative, self.uniform_rows,
                starts, first_walk, walk_length, self.p, self.q, seed64, out,
            )  # fmt: skip
        return out


def set_threads(n_threads: int) -> int:
    """Set numba's thread count for this thread (capped by the pool); returns the old one."""
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    return old
