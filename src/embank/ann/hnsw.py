"""The default ANN kind: an HNSW graph built with hnswlib.

``cosine`` uses hnswlib's ``cosine`` space (it L2-normalises rows as they are added and
queries as they arrive), ``dot`` its ``ip`` space (plain inner product, so norms count).
Scores are ``1 - distance``. Saved as ``hnsw.bin``; hnswlib reads the whole file into
memory (it cannot memory-map), so loading costs the index's size in RAM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from pydantic import Field

from embank.ann.base import MAX_EF, HnswEfKnob, IndexBase, IndexParams, index_kinds, parse_params
from embank.ann.checks import brute_force_top, check_metric, check_vectors, normalized
from embank.errors import MissingExtraError
from embank.progress import Task

__all__ = ["HnswParams", "HnswlibIndex"]

INDEX_FILE = "hnsw.bin"
# With so few allowed rows, scoring them all beats walking the graph with a filter.
_BRUTE_FORCE_ALLOWED = 4096
_ADD_CHUNK_ROWS = 50_000


class HnswParams(IndexParams):
    M: int = Field(
        16, ge=2, le=256, description="Links per node: more is better recall, more memory."
    )
    ef_construction: int = Field(
        100, ge=8, le=4096, description="Candidate list size while building: quality vs time."
    )
    ef: int = Field(64, ge=1, le=MAX_EF, description="Candidate list size while searching (tuned).")
    seed: int = Field(0, ge=0, description="Random seed of the level assignment.")


def _hnswlib() -> Any:
    try:
        import hnswlib
    except ImportError:  # pragma: no cover - hnswlib is a dependency
        raise MissingExtraError(
            "the 'hnswlib' index kind needs the hnswlib package: pip install hnswlib"
        ) from None
    return hnswlib


class HnswlibIndex(HnswEfKnob, IndexBase):
    """An hnswlib HNSW graph over the rows; ``ef`` is the search knob."""

    kind: ClassVar[str] = "hnswlib"
    knob: ClassVar[str | None] = "ef"
    Params: ClassVar[type[IndexParams]] = HnswParams

    def __init__(self, graph: Any, metric: str, params: HnswParams) -> None:
        super().__init__(metric, graph.dim, graph.get_current_count(), params)
        self._graph = graph
        self._graph.set_ef(params.ef)

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        metric: str,
        params: HnswParams | dict[str, Any] | None = None,
        *,
        n_threads: int = 2,
        task: Task | None = None,
    ) -> Self:
        """Build over ``vectors`` (row i gets id i) with ``n_threads`` threads;
        ``task`` is advanced by rows added."""
        hnswlib = _hnswlib()
        check_metric(metric)
        params = parse_params(HnswParams, params)
        vectors = check_vectors(vectors)
        graph = hnswlib.Index(space="cosine" if metric == "cosine" else "ip", dim=vectors.shape[1])
        graph.init_index(
            max_elements=len(vectors),
            M=params.M,
            ef_construction=params.ef_construction,
            random_seed=params.seed,
        )
        graph.set_num_threads(n_threads)
        for lo in range(0, len(vectors), _ADD_CHUNK_ROWS):
            block = vectors[lo : lo + _ADD_CHUNK_ROWS]
            graph.add_items(block, np.arange(lo, lo + len(block)), num_threads=n_threads)
            if task is not None:
                task.advance(len(block))
        index = cls(graph, metric, params)
        index.set_num_threads(n_threads)
        return index

    def _ef_changed(self, value: int) -> None:
        self._graph.set_ef(value)

    def set_num_threads(self, n_threads: int) -> None:
        super().set_num_threads(n_threads)
        self._graph.set_num_threads(self.n_threads)

    def _search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, setting: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None and len(allowed) <= _BRUTE_FORCE_ALLOWED:
            return self._brute_force(queries, k, allowed)
        # hnswlib walks with max(its ef, k) by itself, so the graph's ef only changes for
        # an ef asked for this call, not for every k above it (two set_ef calls a query).
        ef = self.ef
        walk_ef = max(setting or ef, k)
        change = walk_ef != max(ef, k)
        if change:
            self._graph.set_ef(walk_ef)
        keep = None
        if allowed is not None:
            keep = set(allowed.tolist()).__contains__
        try:
            labels, distances = self._graph.knn_query(
                queries, k=k, num_threads=self.n_threads, filter=keep
            )
        except RuntimeError:
            # hnswlib refuses a batch where some query found fewer than k rows (a tiny
            # graph, or a tight filter): score the candidates exactly instead.
            candidates = allowed if allowed is not None else np.arange(self.n_rows)
            return self._brute_force(queries, k, candidates)
        finally:
            if change:
                self._graph.set_ef(ef)
        return _answer(labels, distances)

    def search_prepared(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # :meth:`_search` with nothing to filter and the graph's own ef: the walk alone
        try:
            labels, distances = self._graph.knn_query(queries, k=k, num_threads=self.n_threads)
        except RuntimeError:  # fewer than k found: _search scores exactly
            return self._search(queries, k, None, None)
        return _answer(labels, distances)

    def _brute_force(
        self, queries: np.ndarray, k: int, candidates: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.metric == "cosine":
            queries = normalized(queries)  # the graph holds normalised rows already
        return brute_force_top(
            queries,
            candidates,
            k,
            lambda ids: np.asarray(self._graph.get_items(ids, return_type="numpy"), np.float32),
        )

    def _save_files(self, folder: Path) -> list[str]:
        self._graph.save_index(str(folder / INDEX_FILE))
        return [INDEX_FILE]

    @classmethod
    def _load_files(cls, folder: Path, meta: dict[str, Any], params: Any, *, mmap: bool) -> Self:
        # hnswlib has no memory-mapped loading: the graph is read into RAM whatever mmap says.
        hnswlib = _hnswlib()
        space = "cosine" if meta["metric"] == "cosine" else "ip"
        graph = hnswlib.Index(space=space, dim=int(meta["dim"]))
        graph.load_index(str(folder / INDEX_FILE))
        return cls(graph, meta["metric"], params)


def _answer(labels: np.ndarray, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hnswlib's (uint64 labels, float32 distances) as (int64 rows, float32 scores)."""
    scores = np.subtract(1.0, distances, out=distances)  # float32 arithmetic, as 1.0 - d
    return labels.astype(np.int64), scores


index_kinds.register("hnswlib", HnswlibIndex)
