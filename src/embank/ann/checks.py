"""Input checks and small array helpers that every index kind shares.

Each check raises :class:`~embank.errors.ValidationError` (HTTP 422, exit 2) with a
one-line message that says what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from embank.errors import ValidationError

__all__ = [
    "METRICS",
    "Exclude",
    "brute_force_top",
    "check_allowed",
    "check_k",
    "check_metric",
    "check_queries",
    "check_vectors",
    "normalized",
    "per_query_exclude",
]

METRICS = ("cosine", "dot")
_CHUNK_ROWS = 65_536

#: Rows to skip: one collection for every query, or one per query.
Exclude = Collection[int] | Sequence[Collection[int]] | None


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValidationError(f"unknown metric {metric!r}: use 'cosine' or 'dot'")
    return metric


def check_k(k: object) -> int:
    """``k`` as an int; raises :class:`ValidationError` unless it is a whole number >= 1."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValidationError(f"k must be a whole number of at least 1, got {k!r}")
    return int(k)


def check_vectors(vectors: np.ndarray) -> np.ndarray:
    """Vectors to index as a C-contiguous float32 n x dim array; rejects NaN and Inf."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] < 1 or vectors.shape[1] < 1:
        raise ValidationError(f"vectors must be a non-empty n x dim array, got {vectors.shape}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise ValidationError("vectors to index must be finite (no NaN or Inf)")
    return vectors


def check_queries(queries: np.ndarray, dim: int, metric: str) -> np.ndarray:
    """Queries as a float32 n x dim array (one vector is one query); raises
    :class:`ValidationError` on a wrong dimension, NaN / Inf, or a zero cosine query."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValidationError(
            f"query has dimension {queries.shape[-1]}, the table has {dim}"
            if queries.ndim == 2
            else f"queries must be an n x {dim} array, got shape {queries.shape}"
        )
    if not np.isfinite(queries).all():
        raise ValidationError("query vectors must be finite (no NaN or Inf)")
    if metric == "cosine" and not (queries != 0).any(axis=1).all():
        raise ValidationError("a zero query vector has no cosine neighbours")
    return np.ascontiguousarray(queries)


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as a new float32 array."""
    out = np.array(vectors, dtype=np.float32, order="C")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def brute_force_top(
    queries: np.ndarray,
    candidates: np.ndarray,
    k: int,
    vectors_of: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products of ``queries`` over the ``candidates`` row ids, best
    first (ties by row id); ``vectors_of(ids)`` gives the rows' vectors, a chunk at a time."""
    best_rows = np.empty((len(queries), 0), dtype=np.int64)
    best_scores = np.empty((len(queries), 0), dtype=np.float32)
    for lo in range(0, len(candidates), _CHUNK_ROWS):
        ids = np.asarray(candidates[lo : lo + _CHUNK_ROWS], dtype=np.int64)
        scores = (queries @ vectors_of(ids).T).astype(np.float32, copy=False)
        best_rows = np.concatenate([best_rows, np.broadcast_to(ids, scores.shape)], axis=1)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        if best_rows.shape[1] > k:
            top = np.argpartition(-best_scores, k - 1, axis=1)[:, :k]
            best_rows = np.take_along_axis(best_rows, top, axis=1)
            best_scores = np.take_along_axis(best_scores, top, axis=1)
    order = np.lexsort((best_rows, -best_scores), axis=1)[:, :k]
    return (
        np.take_along_axis(best_rows, order, axis=1),
        np.take_along_axis(best_scores, order, axis=1),
    )


def per_query_exclude(exclude: Exclude, n_queries: int) -> list[set[int]] | None:
    """``exclude`` as one set of row ids per query (None when nothing is excluded).

    A flat collection of ints applies to every query; a sequence of collections must
    have one per query.
    """
    if exclude is None:
        return None
    if isinstance(exclude, np.ndarray) and exclude.ndim == 1:
        shared = {int(r) for r in exclude}
        return [shared] * n_queries if shared else None
    items = list(exclude)
    if not items:
        return None
    if all(isinstance(r, int | np.integer) for r in items):
        shared = {int(r) for r in items}
        return [shared] * n_queries
    if len(items) != n_queries:
        raise ValidationError(
            f"exclude has {len(items)} collections of rows for {n_queries} queries: "
            "give one per query, or one flat collection for all"
        )
    return [{int(r) for r in row} for row in items]


def check_allowed(allowed: np.ndarray | Collection[int] | None, n_rows: int) -> np.ndarray | None:
    """Allowed rows as sorted unique int64 ids; raises on ids outside the index."""
    if allowed is None:
        return None
    ids = np.unique(np.asarray(list(allowed) if not isinstance(allowed, np.ndarray) else allowed))
    if ids.size and (ids.dtype.kind not in "iu" or ids[0] < 0 or ids[-1] >= n_rows):
        raise ValidationError(f"allowed rows must be row ids in [0, {n_rows})")
    return ids.astype(np.int64)
