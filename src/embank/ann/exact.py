"""Exact nearest-neighbour search: small tables, and the ground truth for ANN indexes.

Scores rows in chunks so memory stays bounded on memory-mapped tables of any size.
Saved as ``vectors.npy`` (a copy of the rows), loaded memory-mapped.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from threadpoolctl import ThreadpoolController

from embank.ann.base import META_FILE, IndexParams, index_kinds, parse_params, read_meta, write_meta
from embank.ann.checks import (
    Exclude,
    check_allowed,
    check_k,
    check_metric,
    check_queries,
    per_query_exclude,
)
from embank.errors import StorageError, ValidationError
from embank.progress import Task

__all__ = ["ExactIndex"]

_CHUNK_ROWS = 65_536
VECTORS_FILE = "vectors.npy"
# A few queries are matrix-vector products that threaded BLAS only slows down: on 2 busy
# cores one BlogCatalog query (10,312 x 128) took 32 ms with 2 BLAS threads, 0.5 ms with 1.
_ONE_THREAD_QUERIES = 32


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def _blas_threads(n_queries: int) -> AbstractContextManager[object]:
    if n_queries > _ONE_THREAD_QUERIES:
        return nullcontext()
    return _blas().limit(limits=1, user_api="blas")


class ExactIndex:
    """Top-k by cosine or dot product over ``vectors`` (n x dim, float32, may be a memmap)."""

    kind: ClassVar[str] = "exact"
    knob: ClassVar[str | None] = None
    Params: ClassVar[type[IndexParams]] = IndexParams

    def __init__(self, vectors: np.ndarray, metric: str) -> None:
        check_metric(metric)
        if np.ndim(vectors) != 2:
            raise ValidationError(f"vectors must be an n x dim array, got {np.shape(vectors)}")
        self.vectors = vectors
        self._metric = metric
        self._inv_norms: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        metric: str,
        params: dict[str, Any] | None = None,
        *,
        n_threads: int = 2,
        task: Task | None = None,
    ) -> Self:
        """Exact search over ``vectors`` as they are (a memmap stays one): nothing to build."""
        parse_params(IndexParams, params)
        index = cls(vectors, metric)
        if task is not None:
            task.advance(index.n_rows)
        return index

    def __repr__(self) -> str:
        return f"<ExactIndex {self.metric} rows={self.n_rows} dim={self.dim}>"

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def n_rows(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def knob_bounds(self, k: int) -> tuple[int, int]:
        return (0, 0)

    def _row_scale(self) -> np.ndarray | None:
        if self.metric != "cosine":
            return None
        if self._inv_norms is None:
            norms = np.empty(len(self.vectors), dtype=np.float32)
            for lo in range(0, len(self.vectors), _CHUNK_ROWS):
                block = np.asarray(self.vectors[lo : lo + _CHUNK_ROWS], dtype=np.float32)
                norms[lo : lo + len(block)] = np.linalg.norm(block, axis=1)
            with np.errstate(divide="ignore"):
                self._inv_norms = np.where(norms > 0, 1.0 / norms, 0.0).astype(np.float32)
        return self._inv_norms

    def _prepared(self, queries: np.ndarray) -> np.ndarray:
        queries = check_queries(queries, self.dim, self.metric)
        if self.metric == "cosine":
            queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        return queries

    def search(
        self,
        queries: np.ndarray,
        k: int,
        rows: tuple[int, int] | None = None,
        exclude: Exclude = None,
        *,
        allowed: np.ndarray | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows per query within ``rows`` = [lo, hi) and ``allowed``, best first.

        Returns (row ids, scores), each m x k'; k' = min(k, candidates), with -1 / nan
        padding where a query had fewer candidates after ``exclude``. Ties are ordered
        by row id. ``ef`` and ``nprobe`` are accepted and ignored: the search is exact.
        """
        k = check_k(k)
        queries = self._prepared(queries)
        lo, hi = rows if rows is not None else (0, self.n_rows)
        ids = check_allowed(allowed, self.n_rows)
        if ids is not None:
            ids = ids[(ids >= lo) & (ids < hi)]
        n_candidates = hi - lo if ids is None else len(ids)
        skip = per_query_exclude(exclude, len(queries))
        if n_candidates <= 0:
            return np.full((len(queries), 0), -1, np.int64), np.full((len(queries), 0), np.nan)
        n_extra = max((len(e) for e in skip), default=0) if skip else 0
        want = min(k + n_extra, n_candidates)
        with _blas_threads(len(queries)):
            best_rows, best_scores = self._top(queries, want, lo, hi, ids)
        if not skip:
            return best_rows[:, :k], best_scores[:, :k]
        out_rows = np.full((len(queries), min(k, want)), -1, dtype=np.int64)
        out_scores = np.full(out_rows.shape, np.nan, dtype=np.float32)
        for i, excluded in enumerate(skip):
            kept = [j for j, r in enumerate(best_rows[i]) if r not in excluded]
            kept = kept[: out_rows.shape[1]]
            out_rows[i, : len(kept)] = best_rows[i, kept]
            out_scores[i, : len(kept)] = best_scores[i, kept]
        return out_rows, out_scores

    def _blocks(self, lo: int, hi: int, ids: np.ndarray | None):  # type: ignore[no-untyped-def]
        """(row ids of the block, its vectors) in chunks of at most _CHUNK_ROWS."""
        if ids is None:
            for start in range(lo, hi, _CHUNK_ROWS):
                stop = min(start + _CHUNK_ROWS, hi)
                yield np.arange(start, stop), np.asarray(self.vectors[start:stop], np.float32)
        else:
            for start in range(0, len(ids), _CHUNK_ROWS):
                block_ids = ids[start : start + _CHUNK_ROWS]
                yield block_ids, np.asarray(self.vectors[block_ids], np.float32)

    def _top(
        self, queries: np.ndarray, want: int, lo: int, hi: int, ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        scale = self._row_scale()
        best_rows = np.full((len(queries), 0), -1, dtype=np.int64)
        best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        for block_ids, block in self._blocks(lo, hi, ids):
            scores = queries @ block.T
            if scale is not None:
                scores *= scale[block_ids]
            take = min(want, len(block_ids))
            top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
            best_rows = np.concatenate([best_rows, block_ids[top]], axis=1)
            best_scores = np.concatenate(
                [best_scores, np.take_along_axis(scores, top, axis=1)], axis=1
            )
            if best_rows.shape[1] > want:
                keep = np.argpartition(-best_scores, want - 1, axis=1)[:, :want]
                best_rows = np.take_along_axis(best_rows, keep, axis=1)
                best_scores = np.take_along_axis(best_scores, keep, axis=1)
        # Order by score, then row id, so ties come out the same every time.
        order = np.lexsort((best_rows, -best_scores), axis=1)
        return (
            np.take_along_axis(best_rows, order, axis=1),
            np.take_along_axis(best_scores, order, axis=1),
        )

    def score(self, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact scores of ``rows`` (n x m row ids, -1 for none) for each query: n x m
        float32, NaN where the row is -1. Used to judge what an ANN index returned."""
        queries = self._prepared(queries)
        rows = np.asarray(rows, dtype=np.int64).reshape(len(queries), -1)
        out = np.full(rows.shape, np.nan, dtype=np.float32)
        found = rows >= 0
        if not found.any():
            return out
        flat = rows[found]
        unique, inverse = np.unique(flat, return_inverse=True)
        vectors = np.asarray(self.vectors[unique], dtype=np.float32)
        scale = self._row_scale()
        if scale is not None:
            vectors = vectors * scale[unique][:, None]
        which_query = np.nonzero(found)[0]
        out[found] = np.einsum("ij,ij->i", queries[which_query], vectors[inverse])
        return out

    # -- files --------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write ``vectors.npy`` (a copy of the rows) and ``meta.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(
            folder / VECTORS_FILE, mode="w+", dtype=np.float32, shape=self.vectors.shape
        )
        for lo in range(0, self.n_rows, _CHUNK_ROWS):
            out[lo : lo + _CHUNK_ROWS] = self.vectors[lo : lo + _CHUNK_ROWS]
        out.flush()
        del out
        write_meta(
            folder,
            {
                "kind": self.kind,
                "metric": self.metric,
                "dim": self.dim,
                "n_rows": self.n_rows,
                "params": {},
                "files": [VECTORS_FILE],
            },
        )

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> Self:
        """Read ``vectors.npy``, memory-mapped unless ``mmap`` is False."""
        folder = Path(folder)
        meta = read_meta(folder)
        if meta["kind"] != cls.kind:
            raise StorageError(f"{folder / META_FILE} is a {meta['kind']!r} index, not exact")
        mode = "r" if mmap else None
        vectors = np.load(folder / VECTORS_FILE, mmap_mode=mode, allow_pickle=False)
        return cls(vectors, meta["metric"])


index_kinds.register("exact", ExactIndex)
