"""Exact top-k search in bounded memory, for drift figures.

Scores are computed one chunk of candidates at a time (at most ``_MAX_SCORES`` floats
held), and each chunk's best ``k`` merged into a running top-k, so a sample of query
keys can be searched against millions of rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["top_k"]

# Score-matrix entries per chunk: 16 Mi float32 = 64 MiB.
_MAX_SCORES = 1 << 24
# Merge a chunk entry by entry while it has at most this many entries per query and k.
_MERGE_FACTOR = 4


def top_k(
    vectors: np.ndarray,
    candidates: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: str = "cosine",
) -> np.ndarray:
    """The ``k`` best of ``candidates`` for each query, best first (int64, positions).

    ``candidates`` are row ids into ``vectors``; ``queries`` are positions into
    ``candidates`` (so each query is itself a candidate and is left out of its own
    result). Scores are cosine or dot. Returns ``len(queries) x min(k, n - 1)``
    positions into ``candidates``; equal inputs give equal results.
    """
    n = len(candidates)
    k = min(k, n - 1)
    n_queries = len(queries)
    if k <= 0 or n_queries == 0:
        return np.zeros((n_queries, max(k, 0)), dtype=np.int64)
    query_vectors = _rows(vectors, candidates[queries], metric)
    best_scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((n_queries, k), dtype=np.int64)
    chunk = max(k + 1, _MAX_SCORES // n_queries)
    query_index = np.arange(n_queries)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        scores = query_vectors @ _rows(vectors, candidates[lo:hi], metric).T
        own = (queries >= lo) & (queries < hi)
        scores[query_index[own], queries[own] - lo] = -np.inf
        # Once every query holds k scores, only entries above its k-th best matter:
        # usually a few per query, far cheaper to merge than a partial sort of the chunk.
        above = scores > best_scores[:, -1:]
        if np.count_nonzero(above) <= _MERGE_FACTOR * n_queries * k:
            owner, columns = np.nonzero(above)
            new_scores, new_ids = scores[owner, columns], columns + lo
        else:
            width = min(k, hi - lo)
            part = np.argpartition(scores, hi - lo - width, axis=1)[:, hi - lo - width :]
            new_scores = np.take_along_axis(scores, part, axis=1).ravel()
            new_ids = (part + lo).ravel()
            owner = np.repeat(query_index, width)
        best_scores, best_ids = _merge(best_scores, best_ids, owner, new_scores, new_ids)
    return best_ids


def _merge(
    best_scores: np.ndarray,
    best_ids: np.ndarray,
    owner: np.ndarray,
    scores: np.ndarray,
    ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k best of its current ones and the new (owner, score, id) entries."""
    n_queries, k = best_scores.shape
    rows = np.concatenate([np.repeat(np.arange(n_queries), k), owner])
    all_scores = np.concatenate([best_scores.ravel(), scores])
    all_ids = np.concatenate([best_ids.ravel(), ids])
    # By query, then score descending, then position ascending.
    order = np.lexsort((all_ids, -all_scores, rows))
    counts = np.bincount(rows, minlength=n_queries)
    starts = np.cumsum(counts) - counts
    take = order[starts[:, None] + np.arange(k)]
    return all_scores[take], all_ids[take]


def _rows(vectors: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
    out = np.asarray(vectors[rows], dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.where(norms > 0, norms, 1.0)
    return out
