"""Recall against exact search, and tuning an index's search knob to a recall target.

Recall@k of one query is the share of the exact top-k that the index found. A row counts
as found when its exact score reaches the exact k-th score (within float32 rounding), so
rows tied with the k-th count whichever of them an index returns. By default the queries
are a seeded sample of the table's own rows, each excluding itself (as
``neighbors(key)`` does), so the figure is not flattered by self-matches.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from embank.ann.base import Searcher
from embank.ann.checks import Exclude, check_k, per_query_exclude
from embank.ann.exact import ExactIndex
from embank.errors import ValidationError
from embank.progress import NullProgress, Progress

__all__ = ["GroundTruth", "IndexReport", "measure_recall", "sample_queries", "tune"]

log = logging.getLogger(__name__)

_REL_TOL = 1e-5  # float32 scores from different kernels differ in the last bits
_LATENCY_QUERIES = 200


@dataclass(frozen=True)
class IndexReport:
    """How an index was built and how well it finds exact neighbours (JSON-serialisable).

    ``query_ms`` is the median time of one query per call on one thread (what a serving
    request waits); ``queries_per_s`` is the whole query sample as one batch on
    ``n_threads`` threads. ``steps`` lists each (knob value, recall@10) tried by tuning.
    """

    kind: str
    metric: str
    n_rows: int
    dim: int
    params: dict[str, Any]
    ef: int | None
    nprobe: int | None
    recall_at_10: float
    n_queries: int
    target_recall: float | None
    reached_target: bool
    build_s: float
    tune_s: float
    query_ms: float
    queries_per_s: float
    n_threads: int
    steps: list[tuple[int, float]] = field(default_factory=list)
    entity: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = [list(step) for step in self.steps]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexReport:
        data = dict(data)
        data["steps"] = [(int(v), float(r)) for v, r in data.get("steps", [])]
        return cls(**data)


def sample_queries(n_rows: int, n_queries: int = 1000, seed: int = 0) -> np.ndarray:
    """``min(n_queries, n_rows)`` distinct row ids drawn with ``seed``, ascending."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=min(n_queries, n_rows), replace=False)).astype(np.int64)


@dataclass(frozen=True)
class GroundTruth:
    """The exact answer to a query sample, computed once and reused by every measurement:
    ``GroundTruth.compute(exact, queries, k).recall(rows)``."""

    exact: ExactIndex
    queries: np.ndarray
    exclude: list[set[int]] | None
    k: int
    kth: np.ndarray  # exact k-th best score per query (the lowest that still counts)
    tol: np.ndarray
    n_found: np.ndarray  # exact results per query (k, or fewer in a tiny table)

    @classmethod
    def compute(
        cls, exact: ExactIndex, queries: np.ndarray, k: int = 10, exclude: Exclude = None
    ) -> GroundTruth:
        """Exact top-``k`` of ``queries`` (``exclude`` as in :meth:`Index.search`)."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        skip = per_query_exclude(exclude, len(queries))
        rows, scores = exact.search(queries, k, exclude=skip)
        found = rows >= 0
        n_found = found.sum(axis=1)
        # A query with nothing to find (a one-row entity type, all of it excluded) has
        # nothing to miss: it counts as found in full, so a tiny table can still be indexed.
        if rows.shape[1]:
            last = scores[np.arange(len(rows)), np.maximum(n_found, 1) - 1]
            kth = np.where(n_found > 0, last, 0.0).astype(np.float32)
            top = np.nan_to_num(np.abs(scores[:, 0]))
        else:
            kth = top = np.zeros(len(rows), dtype=np.float32)
        tol = _REL_TOL * np.maximum(np.maximum(top, np.abs(kth)), np.finfo(np.float32).tiny)
        return cls(exact, queries, skip, k, kth, tol, n_found)

    def recall(self, rows: np.ndarray) -> float:
        """Mean share of each query's exact top-k found among ``rows`` (n x >= k, the
        first k count; -1 for none)."""
        rows = np.asarray(rows, dtype=np.int64)[:, : self.k]
        true_scores = self.exact.score(self.queries, rows)
        hit = (rows >= 0) & (true_scores >= (self.kth - self.tol)[:, None])
        if self.exclude is not None:
            for i, skip in enumerate(self.exclude):
                hit[i] &= ~np.isin(rows[i], list(skip))
        n_found = np.maximum(self.n_found, 1)
        per_query = np.where(self.n_found > 0, np.minimum(hit.sum(axis=1), n_found) / n_found, 1.0)
        return float(per_query.mean())


def measure_recall(
    index: Searcher,
    exact: ExactIndex,
    queries: np.ndarray,
    k: int = 10,
    *,
    exclude: Exclude = None,
    ef: int | None = None,
    nprobe: int | None = None,
) -> float:
    """Recall@``k`` of ``index`` against ``exact`` (over the same rows) on ``queries``.

    ``exclude`` applies to both searches; ``ef`` / ``nprobe`` override the index's
    setting. Raises :class:`ValidationError` when the two indexes differ in rows, dim or
    metric.
    """
    k = check_k(k)
    _check_pair(index, exact)
    truth = GroundTruth.compute(exact, queries, k, exclude)
    rows, _ = index.search(queries, k, exclude=truth.exclude, ef=ef, nprobe=nprobe)
    return truth.recall(rows)


def tune(
    index: Searcher,
    exact: ExactIndex,
    target: float = 0.95,
    *,
    queries: np.ndarray | None = None,
    exclude: Exclude = None,
    n_queries: int = 1000,
    k: int = 10,
    seed: int = 0,
    build_s: float = 0.0,
    n_threads: int = 1,
    progress: Progress | None = None,
) -> IndexReport:
    """Raise the index's knob (``ef`` or ``nprobe``) until recall@``k`` >= ``target``.

    Doubles from the smallest useful value until the target is met, then bisects down to
    the smallest value that meets it; sets it on the index and returns the report with
    its recall and latency. Without ``queries``, ``n_queries`` rows are sampled with
    ``seed``, each excluding itself. When even the largest value misses the target, the
    index keeps that value and the report says ``reached_target=False``.
    """
    if not 0.0 < target <= 1.0:
        raise ValidationError(f"target recall must be in (0, 1], got {target}")
    k = check_k(k)
    _check_pair(index, exact)
    progress = progress if progress is not None else NullProgress()
    start = time.perf_counter()
    if queries is None:
        rows = sample_queries(exact.n_rows, n_queries, seed)
        queries = np.asarray(exact.vectors[rows], dtype=np.float32)
        exclude = [{int(r)} for r in rows]
    with progress.task(f"exact neighbours of {len(queries):,} queries"):
        truth = GroundTruth.compute(exact, queries, k, exclude)

    def recall_at(value: int | None) -> float:
        kwargs = {index.knob: value} if index.knob and value is not None else {}
        found, _ = index.search(truth.queries, k, exclude=truth.exclude, **kwargs)
        return truth.recall(found)

    steps: list[tuple[int, float]] = []
    knob = index.knob
    if knob is None:
        chosen, recall = None, recall_at(None)
    else:
        with progress.task(f"tuning {knob} for recall@{k} >= {target}") as task:
            chosen, recall = _search_knob(index, recall_at, target, k, steps, task.advance)
        setattr(index, knob, chosen)
    tune_s = time.perf_counter() - start
    query_ms, queries_per_s = _latency(index, truth.queries, k, n_threads)
    if recall < target:
        log.warning(
            "%s index reached recall@%d %.3f < target %.3f at %s=%s",
            index.kind,
            k,
            recall,
            target,
            knob,
            chosen,
        )
    return IndexReport(
        kind=index.kind,
        metric=index.metric,
        n_rows=index.n_rows,
        dim=index.dim,
        params=index.params,
        ef=chosen if knob == "ef" else None,
        nprobe=chosen if knob == "nprobe" else None,
        recall_at_10=round(recall, 6),
        n_queries=len(truth.queries),
        target_recall=target,
        reached_target=recall >= target,
        build_s=round(build_s, 3),
        tune_s=round(tune_s, 3),
        query_ms=round(query_ms, 4),
        queries_per_s=round(queries_per_s, 1),
        n_threads=n_threads,
        steps=steps,
    )


def _search_knob(
    index: Searcher,
    recall_at: Any,
    target: float,
    k: int,
    steps: list[tuple[int, float]],
    advance: Any,
) -> tuple[int, float]:
    """Smallest knob value meeting ``target``: doubling, then bisecting."""
    lowest, highest = index.knob_bounds(k)

    def measure(value: int) -> float:
        recall = recall_at(value)
        steps.append((value, round(recall, 6)))
        advance(1)
        return recall

    value, failed = lowest, lowest - 1
    recall = measure(value)
    while recall < target and value < highest:
        failed, value = value, min(2 * value, highest)
        recall = measure(value)
    if recall < target:
        return value, recall
    # Bisect (failed, value] to within an eighth of the value: a few more steps at most.
    while value - failed > max(1, value // 8):
        middle = (failed + value) // 2
        middle_recall = measure(middle)
        if middle_recall >= target:
            value, recall = middle, middle_recall
        else:
            failed = middle
    return value, recall


def _latency(index: Searcher, queries: np.ndarray, k: int, n_threads: int) -> tuple[float, float]:
    """(median ms of one query per call on one thread, queries/s of one batch call)."""
    set_threads = getattr(index, "set_num_threads", None)
    before = getattr(index, "n_threads", n_threads)
    if set_threads is not None:
        set_threads(1)
    times = []
    for query in queries[:_LATENCY_QUERIES]:
        start = time.perf_counter()
        index.search(query[None, :], k)
        times.append(time.perf_counter() - start)
    if set_threads is not None:
        set_threads(n_threads)
    start = time.perf_counter()
    index.search(queries, k)
    batch_s = time.perf_counter() - start
    if set_threads is not None:
        set_threads(before)
    return float(np.median(times) * 1000), len(queries) / max(batch_s, 1e-9)


def _check_pair(index: Searcher, exact: ExactIndex) -> None:
    if (index.n_rows, index.dim, index.metric) != (exact.n_rows, exact.dim, exact.metric):
        raise ValidationError(
            f"the index ({index.n_rows} rows, dim {index.dim}, {index.metric}) and the exact "
            f"search ({exact.n_rows} rows, dim {exact.dim}, {exact.metric}) must cover the "
            "same rows"
        )
