"""One index per entity type, so "items near a user" searches item rows only.

Each entity's index numbers its own rows 0..n-1; :class:`RowMappedIndex` maps those back
to the table's row ids (and table rows in ``exclude`` / ``allowed`` to its own), so every
caller speaks table rows. On disk (the bank puts the folder beside a version as
``index/``)::

    index/
      indexes.json        format, metric, n_rows, and per entity: kind, rows, report
      <entity>/           one folder per entity type (names are ^[a-z][a-z0-9_]{0,31}$)
        meta.json         kind, metric, dim, n_rows, params, files
        rows.npy          int64, ascending: the table row of each index id
        hnsw.bin | faiss.index | vectors.npy   the kind's own files
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from embank.ann.base import Index
from embank.ann.build import build_index, load_index
from embank.ann.checks import Exclude, check_k, check_metric, per_query_exclude
from embank.ann.tuning import IndexReport
from embank.errors import NotFoundError, StorageError, UsageError, ValidationError
from embank.names import check_entity
from embank.progress import Progress

__all__ = ["EntityIndexes", "RowMappedIndex", "build_entity_indexes"]

INDEXES_FILE = "indexes.json"
ROWS_FILE = "rows.npy"
FORMAT = 1


class RowMappedIndex:
    """An index over some of a table's rows (``rows``, ascending), answering in table rows."""

    def __init__(self, inner: Index, rows: np.ndarray, entity: str | None = None) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) != inner.n_rows:
            raise ValidationError(f"{len(rows)} table rows for an index of {inner.n_rows}")
        if len(rows) > 1 and not (np.diff(rows) > 0).all():
            raise ValidationError("the table rows of an index must be ascending and distinct")
        self.inner = inner
        self.rows = rows
        self.entity = entity
        # An entity's rows in a stored version are one contiguous range (rows are sorted
        # by entity): index id -> table row is then an addition, not a look-up per id.
        contiguous = len(rows) > 0 and int(rows[-1]) - int(rows[0]) == len(rows) - 1
        self._first_row = int(rows[0]) if contiguous else None

    def __repr__(self) -> str:
        return f"<RowMappedIndex {self.entity} {self.inner!r}>"

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def knob(self) -> str | None:
        return self.inner.knob

    @property
    def metric(self) -> str:
        return self.inner.metric

    @property
    def n_rows(self) -> int:
        return self.inner.n_rows

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def params(self) -> dict[str, Any]:
        return self.inner.params

    def knob_bounds(self, k: int) -> tuple[int, int]:
        return self.inner.knob_bounds(k)

    def local(self, table_rows: np.ndarray) -> np.ndarray:
        """Index ids of ``table_rows``; -1 where a row is not in this index."""
        table_rows = np.asarray(table_rows, dtype=np.int64)
        pos = np.searchsorted(self.rows, table_rows)
        pos = np.minimum(pos, len(self.rows) - 1)
        return np.where(self.rows[pos] == table_rows, pos, -1)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude: Exclude = None,
        allowed: np.ndarray | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`Index.search`, with table row ids in and out; rows of ``exclude``
        and ``allowed`` that are not in this index are ignored."""
        k = check_k(k)
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        skip = per_query_exclude(exclude, len(queries))
        local_skip = None
        if skip is not None:
            local_skip = [set(self._present(np.fromiter(s, np.int64)).tolist()) for s in skip]
        local_allowed = None
        if allowed is not None:
            local_allowed = self._present(np.asarray(allowed, dtype=np.int64))
        found, scores = self.inner.search(
            queries, k, exclude=local_skip, allowed=local_allowed, ef=ef, nprobe=nprobe
        )
        return np.where(found >= 0, self.rows[np.maximum(found, 0)], -1), scores

    def search_one(self, query: np.ndarray, k: int) -> tuple[list[int], list[float]]:
        """Top-``k`` table rows for one query the caller vouches for, as plain lists, best
        first (-1 / NaN where the index found fewer). ``query`` is a 1 x dim C-contiguous
        float32 array, finite and not zero under cosine (a row of the table itself); ``k``
        is at least 1. :meth:`search` without its checks and batch handling (a serving
        request's ``neighbors(key)``): the same rows and scores."""
        k = min(k, self.n_rows)
        prepared = getattr(self.inner, "search_prepared", None)
        if prepared is not None:
            found, scores = prepared(query, k)
        else:  # a kind without the unchecked entry point
            found, scores = self.inner.search(query, k)
        ids = found[0].tolist()
        first = self._first_row
        if first is not None:
            rows = [i + first if i >= 0 else -1 for i in ids]
        else:
            rows = [int(self.rows[i]) if i >= 0 else -1 for i in ids]
        return rows, scores[0].tolist()

    def _present(self, table_rows: np.ndarray) -> np.ndarray:
        ids = self.local(table_rows) if len(table_rows) else table_rows
        return ids[ids >= 0]

    # The knob lives on the inner index; tune() reads and sets it by name.
    @property
    def ef(self) -> int:
        return int(self.inner.ef)  # type: ignore[attr-defined]

    @ef.setter
    def ef(self, value: int) -> None:
        self.inner.ef = value  # type: ignore[attr-defined]

    @property
    def nprobe(self) -> int:
        return int(self.inner.nprobe)  # type: ignore[attr-defined]

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self.inner.nprobe = value  # type: ignore[attr-defined]

    def set_num_threads(self, n_threads: int) -> None:
        setter = getattr(self.inner, "set_num_threads", None)
        if setter is not None:
            setter(n_threads)

    @property
    def n_threads(self) -> int:
        return int(getattr(self.inner, "n_threads", 1))


class EntityIndexes(Mapping[str, RowMappedIndex]):
    """The per-entity indexes of one table: ``indexes["item"].search(...)``."""

    def __init__(
        self,
        indexes: Mapping[str, RowMappedIndex],
        reports: Mapping[str, IndexReport],
        metric: str,
        n_rows: int,
    ) -> None:
        self._indexes = dict(indexes)
        self.reports = dict(reports)
        self.metric = metric
        self.n_rows = n_rows

    def __getitem__(self, entity: str) -> RowMappedIndex:
        try:
            return self._indexes[entity]
        except KeyError:
            raise NotFoundError(
                f"no index for entity type {entity!r}; there are {', '.join(self._indexes)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._indexes)

    def __len__(self) -> int:
        return len(self._indexes)

    def search(
        self, queries: np.ndarray, k: int, entity: str | None = None, **kwargs: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` table rows of type ``entity`` (required with several types)."""
        if entity is None:
            if len(self._indexes) != 1:
                raise UsageError(
                    f"the table holds several entity types ({', '.join(self._indexes)}): "
                    "pass entity=..."
                )
            entity = next(iter(self._indexes))
        return self[entity].search(queries, k, **kwargs)

    def save(self, folder: Path) -> None:
        """Write every entity's index under ``folder/<entity>/`` and ``indexes.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for entity, index in self._indexes.items():
            index.inner.save(folder / entity)
            np.save(folder / entity / ROWS_FILE, index.rows, allow_pickle=False)
        summary = {
            "format": FORMAT,
            "metric": self.metric,
            "n_rows": self.n_rows,
            "entities": {
                entity: {
                    "kind": index.kind,
                    "n_rows": index.n_rows,
                    "report": self.reports[entity].to_dict() if entity in self.reports else None,
                }
                for entity, index in self._indexes.items()
            },
        }
        text = json.dumps(summary, indent=2, sort_keys=True)
        (folder / INDEXES_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> EntityIndexes:
        """Read what :meth:`save` wrote; memory-mapped where each kind allows."""
        folder = Path(folder)
        try:
            summary = json.loads((folder / INDEXES_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"no indexes in {folder}: {INDEXES_FILE} is missing") from None
        if summary.get("format") != FORMAT:
            raise StorageError(f"{folder / INDEXES_FILE} has format {summary.get('format')!r}")
        indexes, reports = {}, {}
        for entity, info in summary["entities"].items():
            rows = np.load(folder / entity / ROWS_FILE, mmap_mode="r" if mmap else None)
            indexes[entity] = RowMappedIndex(load_index(folder / entity, mmap=mmap), rows, entity)
            if info.get("report"):
                reports[entity] = IndexReport.from_dict(info["report"])
        return cls(indexes, reports, summary["metric"], int(summary["n_rows"]))


def build_entity_indexes(
    vectors: np.ndarray,
    entities: np.ndarray,
    metric: str,
    *,
    kind: str | Mapping[str, str] = "auto",
    params: Mapping[str, dict[str, Any]] | None = None,
    target_recall: float = 0.95,
    n_queries: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
    n_threads: int = 2,
) -> EntityIndexes:
    """One index per entity type over its rows of ``vectors`` (``entities[i]`` is row i's
    type), each built, tuned and measured by :func:`build_index`; ``kind`` may name one
    kind per entity, and ``params`` maps a kind to its params. Rows of one entity that
    are contiguous (as in a stored version, sorted by entity) are indexed from a view,
    without copying."""
    check_metric(metric)
    entities = np.asarray(entities, dtype=object)
    if np.ndim(vectors) != 2 or len(entities) != np.shape(vectors)[0]:
        raise ValidationError(
            f"{len(entities)} entity types for {np.shape(vectors)[0]} rows: give one per row"
        )
    indexes, reports = {}, {}
    for entity in sorted(set(entities.tolist())):
        check_entity(entity)
        rows = np.flatnonzero(entities == entity).astype(np.int64)
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        subset = vectors[lo:hi] if hi - lo == len(rows) else np.asarray(vectors)[rows]
        entity_kind = kind.get(entity, "auto") if isinstance(kind, Mapping) else kind
        entity_params = params if entity_kind == "auto" else (params or {}).get(entity_kind)
        index, report = build_index(
            subset,
            metric,
            kind=entity_kind,
            params=entity_params,
            target_recall=target_recall,
            n_queries=n_queries,
            seed=seed,
            progress=progress,
            n_threads=n_threads,
        )
        indexes[entity] = RowMappedIndex(index, rows, entity)
        reports[entity] = _with_entity(report, entity)
    return EntityIndexes(indexes, reports, metric, int(np.shape(vectors)[0]))


def _with_entity(report: IndexReport, entity: str) -> IndexReport:
    return replace(report, entity=entity)
