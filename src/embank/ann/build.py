"""Choose, build, tune and measure an index in one call; load one back by its folder.

``kind="auto"`` picks exact search below :data:`EXACT_BELOW_ROWS` rows (a flat scan of a
small table is fast and perfect), IVF-PQ for a memory-tight table when faiss is
installed, and hnswlib otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embank.ann import exact as _exact
from embank.ann import faiss_index as _faiss_index
from embank.ann import hnsw as _hnsw
from embank.ann.base import Index, index_kinds, read_meta
from embank.ann.checks import check_metric, check_vectors
from embank.ann.tuning import IndexReport, tune
from embank.errors import MissingExtraError, ValidationError
from embank.progress import NullProgress, Progress

__all__ = ["DEFAULT_KIND", "EXACT_BELOW_ROWS", "build_index", "choose_kind", "load_index"]

# The built-in kinds register on import, as a plugin's do through its entry point.
_BUILT_IN = (_exact, _hnsw, _faiss_index)

EXACT_BELOW_ROWS = 20_000
DEFAULT_KIND = "hnswlib"


def choose_kind(n_rows: int, *, memory_tight: bool = False) -> str:
    """``exact`` below :data:`EXACT_BELOW_ROWS` rows; else ``ivfpq`` when
    ``memory_tight`` and faiss is installed; else ``hnswlib``."""
    if n_rows < EXACT_BELOW_ROWS:
        return "exact"
    if memory_tight:
        try:
            _faiss_index.import_faiss()
        except MissingExtraError:
            return DEFAULT_KIND
        return "ivfpq"
    return DEFAULT_KIND


def build_index(
    vectors: np.ndarray,
    metric: str,
    *,
    kind: str = "auto",
    params: Mapping[str, Any] | None = None,
    target_recall: float = 0.95,
    n_queries: int = 1000,
    seed: int = 0,
    memory_tight: bool = False,
    progress: Progress | None = None,
    n_threads: int = 2,
) -> tuple[Index, IndexReport]:
    """Build an index of ``kind`` over ``vectors`` (n x dim float32; row i is id i),
    tune its knob to ``target_recall`` (recall@10 against exact search on ``n_queries``
    rows sampled with ``seed``), and measure it.

    ``params`` are the kind's build params (see each kind's ``Params``); with
    ``kind="auto"`` they map a kind to its params (``{"hnswlib": {"M": 32}}``), used for
    whichever kind is chosen. ``seed`` fills
    the kind's ``seed`` param when it has one and ``params`` does not set it. Raises
    :class:`ValidationError` on bad vectors or metric, :class:`UnknownPluginError` on an
    unknown kind, :class:`MissingExtraError` when a faiss kind is asked for without faiss.
    """
    check_metric(metric)
    if np.ndim(vectors) != 2 or np.shape(vectors)[0] < 1:
        raise ValidationError(f"vectors must be a non-empty n x dim array, got {np.shape(vectors)}")
    if n_threads < 1:
        raise ValidationError(f"n_threads must be at least 1, got {n_threads}")
    progress = progress if progress is not None else NullProgress()
    n_rows = int(np.shape(vectors)[0])
    if kind == "auto":
        kind = choose_kind(n_rows, memory_tight=memory_tight)
        params = dict((params or {}).get(kind) or {})
    cls: Any = index_kinds.get(kind)
    params = dict(params or {})
    if "seed" in cls.Params.model_fields:
        params.setdefault("seed", seed)
    # Exact search reads the rows where they lie (a memmap stays one).
    matrix = vectors if kind == "exact" else check_vectors(vectors)
    start = time.perf_counter()
    with progress.task(f"building {kind} index over {n_rows:,} rows", total=n_rows) as task:
        index = cls.build(matrix, metric, params, n_threads=n_threads, task=task)
    build_s = time.perf_counter() - start
    exact = index if isinstance(index, _exact.ExactIndex) else _exact.ExactIndex(matrix, metric)
    report = tune(
        index,
        exact,
        target_recall,
        n_queries=n_queries,
        seed=seed,
        build_s=build_s,
        n_threads=n_threads,
        progress=progress,
    )
    return index, report


def load_index(folder: Path, *, mmap: bool = True) -> Index:
    """The index saved in ``folder`` (by any registered kind), memory-mapped where the
    kind's library allows (exact, faiss; hnswlib reads its graph into RAM)."""
    kind = read_meta(Path(folder))["kind"]
    cls: Any = index_kinds.get(kind)
    return cls.load(Path(folder), mmap=mmap)
