"""What every nearest-neighbour index is: the :class:`Searcher` and :class:`Index`
protocols, the :data:`index_kinds` registry, and :class:`IndexBase`, which gives a kind
the checks, ``exclude`` by over-fetching, and ``meta.json``.

A kind plugs in by registering a class in :data:`index_kinds` (entry-point group
``embank.indexes``); callers only ever see the protocol. Rows are the table's row ids
(int64), scores are in the table's metric: ``cosine`` (dot product of L2-normalised vectors)
or ``dot`` (plain inner product, so norms count), best first.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from embank.ann.checks import (
    Exclude,
    check_allowed,
    check_k,
    check_metric,
    check_queries,
    per_query_exclude,
)
from embank.errors import NotFoundError, StorageError, ValidationError
from embank.plugins import PluginRegistry
from embank.progress import Task

__all__ = [
    "MAX_EF",
    "META_FILE",
    "HnswEfKnob",
    "Index",
    "IndexBase",
    "IndexParams",
    "Searcher",
    "index_kinds",
    "parse_params",
    "read_meta",
    "write_meta",
]

META_FILE = "meta.json"
FORMAT = 1


@runtime_checkable
class Searcher(Protocol):
    """Anything that answers nearest-neighbour queries over ``n_rows`` vectors of
    dimension ``dim``: every :class:`Index`, and views such as one entity's index."""

    @property
    def kind(self) -> str: ...

    @property
    def knob(self) -> str | None:
        """The search setting that trades speed for recall (``ef``, ``nprobe``), or None;
        an index with a knob has an attribute of that name holding its current value."""
        ...

    @property
    def metric(self) -> str: ...

    @property
    def n_rows(self) -> int: ...

    @property
    def dim(self) -> int: ...

    @property
    def params(self) -> dict[str, Any]:
        """Build and search settings, JSON-serialisable."""
        ...

    def knob_bounds(self, k: int) -> tuple[int, int]:
        """The smallest and largest useful value of :attr:`knob` for ``k`` neighbours."""
        ...

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
        """Top-``k`` rows per query, best first: (rows int64, scores float32), each
        n x min(k, candidate rows).

        ``queries`` is n x dim (one vector is one query). ``exclude`` drops rows
        (already-seen items): one collection for all queries or one per query; the index
        fetches more and filters. ``allowed`` restricts the search to those row ids. A
        query left with fewer than ``k`` candidates gets -1 / NaN padding. ``ef`` /
        ``nprobe`` override the index's setting for this call; kinds without that
        setting ignore it. Raises :class:`ValidationError` for k < 1, a wrong dimension,
        NaN / Inf queries, a zero query under cosine, or rows outside the index.
        """
        ...


@runtime_checkable
class Index(Searcher, Protocol):
    """A kind of index: built from vectors, searched, saved to and loaded from a folder.

    A kind registers its class in :data:`index_kinds` under its :attr:`kind` name.
    """

    #: the kind's typed build and search params
    Params: ClassVar[type[IndexParams]]

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
        """An index over ``vectors`` (row i is id i); ``task`` advances by rows added."""
        ...

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (created if missing), with its ``meta.json``."""
        ...

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> Self:
        """Read an index that :meth:`save` wrote; memory-mapped where the library allows."""
        ...


index_kinds: PluginRegistry[type[Index]] = PluginRegistry("index kind", "embank.indexes")


class IndexParams(BaseModel):
    """Base of every kind's typed build and search params; each field has a description."""

    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=IndexParams)


def parse_params(model: type[P], params: P | dict[str, Any] | None) -> P:
    """``params`` validated by ``model``; raises :class:`ValidationError` naming the field."""
    if isinstance(params, model):
        return params
    try:
        return model.model_validate(dict(params or {}))
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ValidationError(f"bad {model.__name__}: {problems}") from None


# -- the shared implementation ----------------------------------------------------------


#: the largest search ``ef`` the HNSW kinds accept
MAX_EF = 4096


class HnswEfKnob:
    """The ``ef`` search knob of an HNSW graph (hnswlib's or faiss's), kept in the index's
    params; a kind whose library holds its own copy overrides :meth:`_ef_changed`."""

    _params: IndexParams
    n_rows: int

    @property
    def ef(self) -> int:
        return int(self._params.ef)  # type: ignore[attr-defined]

    @ef.setter
    def ef(self, value: int) -> None:
        self._params = self._params.model_copy(update={"ef": int(value)})
        self._ef_changed(int(value))

    def _ef_changed(self, value: int) -> None:
        """Nothing to do where ``ef`` is read from the params at each search."""

    def knob_bounds(self, k: int) -> tuple[int, int]:
        return (k, max(k, min(MAX_EF, self.n_rows)))


class IndexBase(ABC):
    """Checks, ``exclude`` by over-fetching, and save/load of ``meta.json``, for the kinds.

    A kind implements :meth:`_search` (plain top-k over allowed rows, -1 / NaN padded),
    :meth:`_save_files` and :meth:`_load_files`.
    """

    kind: ClassVar[str]
    knob: ClassVar[str | None] = None
    Params: ClassVar[type[IndexParams]] = IndexParams

    def __init__(self, metric: str, dim: int, n_rows: int, params: IndexParams) -> None:
        self._metric = check_metric(metric)
        self._dim = int(dim)
        self._n_rows = int(n_rows)
        self._params = params
        self.n_threads = 1

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.metric} rows={self.n_rows} dim={self.dim}>"

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def params(self) -> dict[str, Any]:
        return self._params.model_dump()

    def set_num_threads(self, n_threads: int) -> None:
        """Threads for batch searches (builds take theirs from the build call)."""
        if n_threads < 1:
            raise ValidationError(f"n_threads must be at least 1, got {n_threads}")
        self.n_threads = int(n_threads)

    def knob_bounds(self, k: int) -> tuple[int, int]:
        return (0, 0)

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
        k = check_k(k)
        queries = check_queries(queries, self.dim, self.metric)
        allowed_ids = check_allowed(allowed, self.n_rows)
        setting = {"ef": ef, "nprobe": nprobe}.get(self.knob or "")
        if setting is not None and setting < 1:
            raise ValidationError(f"{self.knob} must be at least 1, got {setting}")
        skip = per_query_exclude(exclude, len(queries))
        n_candidates = self.n_rows if allowed_ids is None else len(allowed_ids)
        if n_candidates == 0:
            return _padded(len(queries), 0)
        if skip is None:
            return self._search(queries, min(k, n_candidates), allowed_ids, setting)
        return _search_excluding(
            lambda fetch: self._search(queries, fetch, allowed_ids, setting),
            skip,
            k,
            n_candidates,
            allowed_ids,
        )

    def search_prepared(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` for queries the caller vouches for, with none of its checks:
        C-contiguous float32 n x dim, finite, none zero under cosine (rows of the indexed
        table itself, which publish checked), and 1 <= ``k`` <= :attr:`n_rows`; at the
        index's own knob, no ``exclude`` or ``allowed``. The same answers as :meth:`search`.
        """
        return self._search(queries, k, None, None)

    @abstractmethod
    def _search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, setting: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (<= candidates) over checked queries; -1 / NaN where none was found."""

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = self._save_files(folder)
        write_meta(
            folder,
            {
                "kind": self.kind,
                "metric": self.metric,
                "dim": self.dim,
                "n_rows": self.n_rows,
                "params": self.params,
                "files": files,
            },
        )

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> Self:
        folder = Path(folder)
        meta = read_meta(folder)
        if meta["kind"] != cls.kind:
            raise StorageError(f"{folder} holds a {meta['kind']!r} index, not {cls.kind!r}")
        params = parse_params(cls.Params, meta["params"])
        return cls._load_files(folder, meta, params, mmap=mmap)

    @abstractmethod
    def _save_files(self, folder: Path) -> list[str]:
        """Write the library's files; returns their names."""

    @classmethod
    @abstractmethod
    def _load_files(
        cls, folder: Path, meta: dict[str, Any], params: Any, *, mmap: bool
    ) -> Self: ...


def _padded(n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.full((n_queries, k), -1, dtype=np.int64),
        np.full((n_queries, k), np.nan, dtype=np.float32),
    )


def _search_excluding(
    fetch_top: Any,
    skip: list[set[int]],
    k: int,
    n_candidates: int,
    allowed: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` after dropping ``skip`` rows: fetch k + the most excluded, filter, and
    fetch twice as many while a query is short of what its candidates allow."""
    if allowed is None:
        n_skipped = np.array([len(s) for s in skip])  # rows past n_rows are never found
    else:
        n_skipped = np.array([int(np.isin(allowed, list(s)).sum()) if s else 0 for s in skip])
    want = np.minimum(k, n_candidates - n_skipped)
    fetch = min(k + int(n_skipped.max()), n_candidates)
    while True:
        rows, scores = fetch_top(fetch)
        out_rows, out_scores = _padded(len(rows), min(k, n_candidates))
        short = False
        for i, excluded in enumerate(skip):
            keep = [j for j, r in enumerate(rows[i]) if r >= 0 and int(r) not in excluded]
            keep = keep[: out_rows.shape[1]]
            out_rows[i, : len(keep)] = rows[i, keep]
            out_scores[i, : len(keep)] = scores[i, keep]
            short = short or len(keep) < want[i]
        if not short or fetch >= n_candidates:
            return out_rows, out_scores
        fetch = min(2 * fetch, n_candidates)


# -- meta.json --------------------------------------------------------------------------


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    text = json.dumps({"format": FORMAT, **meta}, indent=2, sort_keys=True)
    (Path(folder) / META_FILE).write_text(text + "\n", encoding="utf-8")


def read_meta(folder: Path) -> dict[str, Any]:
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"no index in {folder}: {META_FILE} is missing") from None
    except json.JSONDecodeError as exc:
        raise StorageError(f"{path} is not valid JSON: {exc}") from None
    if meta.get("format") != FORMAT:
        raise StorageError(
            f"{path} has index format {meta.get('format')!r}; this embank reads {FORMAT}"
        )
    return meta
