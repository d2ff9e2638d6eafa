"""Searching one version: its saved index where it has one, exact search otherwise.

Each target entity type is searched by its own index (a saved ANN, or an exact scan of
its rows); with no target in a table of several types, the answers of each type are
merged by score. An ANN asked to leave rows out fetches more and filters
(:class:`~embank.ann.base.IndexBase`); a query that still comes back with fewer rows
than its candidates allow (a graph walk that missed) is answered exactly instead, so
``exclude`` never costs a caller results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from embank.ann.checks import check_k

if TYPE_CHECKING:
    from embank.store.embedding import Embedding

__all__ = ["search_row", "search_version"]


def search_version(
    embedding: Embedding,
    queries: np.ndarray,
    k: int,
    target: str | None = None,
    exclude: list[set[int]] | None = None,
    *,
    exact: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` table rows per query (n x dim float32), best first: (rows int64, scores
    float32), n x k', padded with -1 / NaN where a query has fewer candidates.

    ``target`` restricts the answer to one entity type; ``exclude`` is one set of table
    rows per query; ``exact`` ignores the saved index (the ground truth).
    """
    k = check_k(k)
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    ranges = embedding.local.entity_ranges
    saved = None if exact else embedding.saved_index()
    targets = [target] if target is not None else list(ranges)
    if saved is None and target is None:
        return embedding._index.search(queries, k, None, exclude)
    parts = [_search_entity(embedding, saved, e, ranges[e], queries, k, exclude) for e in targets]
    if len(parts) == 1:
        return parts[0]
    return _merge(parts, k)


def _search_entity(
    embedding: Embedding,
    saved: object,
    entity: str,
    span: tuple[int, int],
    queries: np.ndarray,
    k: int,
    exclude: list[set[int]] | None,
) -> tuple[np.ndarray, np.ndarray]:
    exact = embedding._index
    ann = saved.ann(entity) if saved is not None else None  # type: ignore[attr-defined]
    if ann is None:
        return exact.search(queries, k, span, exclude)
    if len(queries) == 1:
        rows_1, scores_1 = _one_query(
            ann, exact, queries, k, span, exclude[0] if exclude else set()
        )
        return (
            np.array(rows_1, dtype=np.int64).reshape(1, -1),
            np.array(scores_1, dtype=np.float32).reshape(1, -1),
        )
    lo, hi = span
    n_skipped = np.array(
        [sum(1 for r in s if lo <= r < hi) for s in exclude] if exclude else [0] * len(queries)
    )
    # Over-fetch by the most rows any query leaves out, then filter; a query still short
    # after that is answered exactly below (cheaper than fetching again and again).
    fetch = min(k + int(n_skipped.max(initial=0)), hi - lo)
    rows, scores = ann.search(queries, fetch)
    if exclude and n_skipped.any():
        rows, scores = _dropped(rows, scores, exclude, k)
    else:
        rows, scores = rows[:, :k], scores[:, :k]
    wanted = np.minimum(k, hi - lo - n_skipped)
    short = np.flatnonzero((rows >= 0).sum(axis=1) < wanted)
    if len(short) or rows.shape[1] < k:
        rows, scores = _widened(rows, scores, min(k, hi - lo))
    if len(short):
        skip = [exclude[i] for i in short] if exclude else None
        found, found_scores = exact.search(queries[short], k, span, skip)
        rows[short, : found.shape[1]] = found
        scores[short, : found.shape[1]] = found_scores
    return rows, scores


def search_row(
    embedding: Embedding, query: np.ndarray, k: int, target: str | None, skip: set[int]
) -> tuple[list[int], list[float]]:
    """:func:`search_version` for one query that is a row of ``embedding`` itself (what
    ``neighbors(key)`` asks), as plain lists: rows and scores, best first, -1 / NaN padded
    as there. ``query`` is 1 x dim float32; publish checked that it is finite and (under
    cosine) not zero, so the saved index is searched without checking it again and without
    the batch bookkeeping. ``target`` must be one of the version's entity types or None;
    ``skip`` holds table rows. The same answers as :func:`search_version`."""
    k = check_k(k)
    ranges = embedding.local.entity_ranges
    saved = embedding.saved_index()
    entity = target if target is not None or len(ranges) != 1 else next(iter(ranges))
    ann = saved.ann(entity) if saved is not None and entity is not None else None
    if ann is None:  # exact search, or several entity types to merge
        found, scores = search_version(embedding, query, k, target, [skip])
        return found[0].tolist(), scores[0].tolist()
    return _one_query(ann, embedding._index, query, k, ranges[entity], skip, trusted=True)


def _one_query(
    ann: Any,
    exact: Any,
    query: np.ndarray,
    k: int,
    span: tuple[int, int],
    skip: set[int],
    *,
    trusted: bool = False,
) -> tuple[list[int], list[float]]:
    """:func:`_search_entity` for one query (a serving request), in plain lists: the same
    over-fetch, filter and exact fallback without the batch bookkeeping. ``trusted``: the
    query is a row of the table (see :func:`search_row`), so the index skips its checks."""
    lo, hi = span
    n_skipped = sum(1 for r in skip if lo <= r < hi)
    fetch = min(k + n_skipped, hi - lo)
    if trusted:
        rows, scores = ann.search_one(query, fetch)
    else:
        found, found_scores = ann.search(query, fetch)
        rows, scores = found[0].tolist(), found_scores[0].tolist()
    kept_rows: list[int] = []
    kept_scores: list[float] = []
    for r, s in zip(rows, scores, strict=True):
        if r >= 0 and r not in skip:
            kept_rows.append(r)
            kept_scores.append(s)
            if len(kept_rows) == k:
                break
    if len(kept_rows) < min(k, hi - lo - n_skipped):  # the graph walk missed some
        found, found_scores = exact.search(query, k, span, [skip])
        return found[0].tolist(), found_scores[0].tolist()
    return kept_rows, kept_scores


def _dropped(
    rows: np.ndarray, scores: np.ndarray, exclude: list[set[int]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` rows of each query that its ``exclude`` set does not hold, in order;
    -1 / NaN after the last one kept."""
    keep = rows >= 0
    for i, skip in enumerate(exclude):
        if skip:
            keep[i] &= [r not in skip for r in rows[i].tolist()]
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    kept = np.take_along_axis(keep, order, axis=1)
    rows = np.where(kept, np.take_along_axis(rows, order, axis=1), -1)
    scores = np.where(kept, np.take_along_axis(scores, order, axis=1), np.nan)
    return rows, scores.astype(np.float32, copy=False)


def _widened(rows: np.ndarray, scores: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    out_rows = np.full((len(rows), max(width, rows.shape[1])), -1, dtype=np.int64)
    out_scores = np.full(out_rows.shape, np.nan, dtype=np.float32)
    out_rows[:, : rows.shape[1]] = rows
    out_scores[:, : rows.shape[1]] = scores
    return out_rows, out_scores


def _merge(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of several answers per query: by score, then row id (as exact)."""
    rows = np.concatenate([p[0] for p in parts], axis=1)
    scores = np.concatenate([p[1] for p in parts], axis=1)
    ranked = np.where(rows >= 0, -np.nan_to_num(scores, nan=-np.inf), np.inf)
    order = np.lexsort((rows, ranked), axis=1)[:, :k]
    return np.take_along_axis(rows, order, axis=1), np.take_along_axis(scores, order, axis=1)
