"""One published version, read-only: keys, vectors, neighbours, and exports to other tools.

Keyed lookups (:meth:`Embedding.vectors`) go through the bank's online store (the
memory-mapped files, or Redis); everything else reads the version's local files (the
folder, or a checked cache copy of an S3 one), fetched and memory-mapped on first use, so
opening a version costs nothing until rows are read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from embank.ann.exact import ExactIndex
from embank.ann.relations import RelationQuery, relation_operators, relation_query
from embank.ann.search import search_row, search_version
from embank.benchmarks.base import BenchmarkInputs
from embank.data.graph import Labels
from embank.errors import MixedSpacesError, NotFoundError, UsageError, ValidationError
from embank.names import key_text
from embank.store import files
from embank.store.backends.base import OnlineReader
from embank.store.local_version import LocalVersion
from embank.store.models import Neighbor, TableInfo, VersionInfo
from embank.vector_table import VectorTable

if TYPE_CHECKING:
    import pandas as pd
    from gensim.models import KeyedVectors

    from embank.ann.stored import VersionIndex
    from embank.store.consume import TorchEmbedding

__all__ = ["Embedding"]

log = logging.getLogger(__name__)

#: seconds between two looks for the saved index of a version that has none yet
INDEX_RECHECK_S = 10.0

Missing = Literal["raise", "zero", "nan"]


class Embedding:
    """A published version of a table: ``bank.get("ns/name@3")``."""

    def __init__(
        self,
        table: TableInfo,
        version: VersionInfo,
        local: LocalVersion,
        online: OnlineReader,
        version_id: str,
    ) -> None:
        self.table_info = table
        self.version_info = version
        self.local = local
        self.online = online
        self.version_id = version_id  # the unique name of its folder and online key space

    def __repr__(self) -> str:
        return f"<Embedding {self.name}@{self.version} rows={self.n_rows} dim={self.dim}>"

    # -- identity ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.table_info.name

    @property
    def version(self) -> int:
        return self.version_info.number

    @property
    def space_id(self) -> str:
        return self.version_info.space_id

    @property
    def dim(self) -> int:
        return self.version_info.dim

    @property
    def metric(self) -> str:
        return self.table_info.metric

    @property
    def n_rows(self) -> int:
        return self.version_info.n_rows

    # -- rows -------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        """The local folder of the version's files (a cache copy for a remote store)."""
        return self.local.folder

    @property
    def keys(self) -> np.ndarray:
        """Every key, in row order (sorted by entity, then key)."""
        return self.local.keys

    @property
    def entities(self) -> np.ndarray:
        """The entity type of every row."""
        return self.local.entities

    @property
    def _matrix(self) -> np.ndarray:
        return self.local.matrix

    @cached_property
    def _rows_view(self) -> np.ndarray:
        # the memory map as a plain ndarray: slicing a np.memmap runs its Python
        # __getitem__ and __array_finalize__ (~2 µs of a one-row query)
        return np.asarray(self._matrix)

    @property
    def _entity_ranges(self) -> dict[str, tuple[int, int]]:
        return self.local.entity_ranges

    @property
    def _row_index(self) -> dict[tuple[str, str], int]:
        return self.local.row_index

    def _entity_of(self, entity: str | None) -> str:
        if entity is not None:
            if entity not in self.table_info.entities:
                raise NotFoundError(
                    f"table {self.name!r} has no entity type {entity!r}; "
                    f"it has {', '.join(self.table_info.entities)}"
                )
            return entity
        if len(self.table_info.entities) > 1:
            raise UsageError(
                f"table {self.name!r} holds several entity types "
                f"({', '.join(self.table_info.entities)}): pass entity=..."
            )
        return self.table_info.entities[0]

    def rows(self, keys: Iterable[object], entity: str | None = None) -> np.ndarray:
        """Row ids of ``keys`` (-1 where a key is not in the version)."""
        entity = self._entity_of(entity)
        return self.local.rows_of(entity, _texts(list(keys)))

    def vectors(
        self,
        keys: Iterable[object],
        entity: str | None = None,
        normalize: bool = False,
        missing: Missing = "raise",
    ) -> np.ndarray:
        """The vectors of ``keys`` (len(keys) x dim float32), in the order asked.

        Served by the bank's online store. ``missing`` says what a key not in the version
        gets: an error (``raise``, :class:`NotFoundError`), zeros or NaN.
        """
        if missing not in ("raise", "zero", "nan"):
            raise UsageError(f"missing={missing!r}: use 'raise', 'zero' or 'nan'")
        keys = list(keys)
        entity = self._entity_of(entity)
        out, found = self.online.lookup(entity, _texts(keys))
        absent = ~found
        if absent.any() and missing == "raise":
            unknown = [key_text(k) for k, a in zip(keys, absent, strict=True) if a][:5]
            raise NotFoundError(
                f"{int(absent.sum())} key(s) not in {self.name}@{self.version}, e.g. {unknown}; "
                "pass missing='zero' or 'nan' to fill them"
            )
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, norms, out=out, where=norms > 0)
        if missing == "nan":
            out[absent] = np.nan
        return out

    # -- search -----------------------------------------------------------------------

    def check_space(self, space_id: str | None) -> None:
        """Raise :class:`MixedSpacesError` unless ``space_id`` is None or this version's."""
        if space_id is not None and space_id != self.space_id:
            raise MixedSpacesError(
                f"the vector is from space {space_id}, but {self.name}@{self.version} is in "
                f"space {self.space_id}: vectors of two spaces are not comparable; look the "
                f"vector up again in {self.name}@{self.version}, or query the version it "
                "came from"
            )

    @cached_property
    def _index(self) -> ExactIndex:
        return ExactIndex(self._matrix, self.metric)

    #: set by the bank: loads the version's saved ANN index (None while it has none)
    saved_index_loader: Callable[[], VersionIndex | None] | None = None
    _saved_index: VersionIndex | None = None
    _saved_index_checked_at = float("-inf")

    def saved_index(self) -> VersionIndex | None:
        """The version's saved ANN index (:mod:`embank.ann.stored`), or None while it has
        none: queries are then exact. A version without one asks the registry again at
        most every :data:`INDEX_RECHECK_S` seconds, so an index built later is picked up."""
        if self._saved_index is not None or self.saved_index_loader is None:
            return self._saved_index
        now = time.monotonic()
        if now - self._saved_index_checked_at < INDEX_RECHECK_S:
            return None
        self._saved_index_checked_at = now
        try:
            self._saved_index = self.saved_index_loader()
        except Exception as exc:  # exact search still answers, and correctly
            log.warning(
                "%s@%s: searching exactly, the saved index did not load: %s",
                self.name,
                self.version,
                exc,
            )
        return self._saved_index

    def searches_quickly(self, max_exact_values: int) -> bool:
        """Whether a neighbour query would now run without I/O and in about a millisecond
        at most: the saved index is loaded, or the version's matrix has at most
        ``max_exact_values`` values (rows x dim, searched exactly until an index loads)
        and it is not due to look for its index (:meth:`saved_index` reads the registry,
        then the index files)."""
        if self._saved_index is not None:
            return True
        due = (
            self.saved_index_loader is not None
            and time.monotonic() - self._saved_index_checked_at >= INDEX_RECHECK_S
        )
        return not due and self.n_rows * self.dim <= max_exact_values

    def neighbors(
        self,
        key: object,
        k: int = 10,
        entity: str | None = None,
        target: str | None = None,
        exclude: Iterable[object] = (),
        relation: str | None = None,
    ) -> list[Neighbor]:
        """The ``k`` rows most similar to ``key``, best first, not counting ``key`` itself.

        ``entity`` is the key's entity type; ``target`` restricts results to one entity
        type (e.g. items near a user); ``exclude`` drops keys of the target type.
        ``relation`` (a multi-relation table) moves the query through that relation's
        operator first (:mod:`embank.ann.relations`); ``target`` then defaults to the
        relation's other end. Uses the version's saved index once it has one.
        """
        entity = self._entity_of(entity)
        row = self.local.row_of(entity, key if type(key) is str else key_text(key))
        if row < 0:
            raise NotFoundError(
                f"key {key_text(key)!r} ({entity}) is not in {self.name}@{self.version}"
            )
        query = np.asarray(self._rows_view[row : row + 1], dtype=np.float32)  # 1 x dim
        if relation is None:
            skip = {row}
            if exclude:
                skip |= {int(r) for r in self.rows(exclude, target or entity) if r >= 0}
            return self._search_row(query, k, target, skip)
        moved = self._through(relation, query[0], entity)
        target = target or moved.target
        skip = {row}
        if exclude:
            skip |= {int(r) for r in self.rows(exclude, target or entity) if r >= 0}
        return self._search(moved.vector, k, target, skip, moved.score_shift)

    def _through(self, relation: str, query: np.ndarray, entity: str | None) -> RelationQuery:
        operators = relation_operators(self.version_info.lineage)
        return relation_query(operators, relation, query, self.metric, entity)

    def neighbors_by_vector(
        self,
        vector: np.ndarray,
        k: int = 10,
        target: str | None = None,
        space_id: str | None = None,
        exclude: Iterable[object] = (),
        relation: str | None = None,
    ) -> list[Neighbor]:
        """The ``k`` rows most similar to ``vector``, best first.

        ``exclude`` drops keys of the ``target`` type; ``relation`` moves the vector (a
        source of that relation) through its operator first, as :meth:`neighbors` does.

        ``space_id`` is the space the vector came from (its version's ``space_id``); when
        given and not this version's, :class:`MixedSpacesError` is raised: scores between
        two spaces mean nothing.
        """
        self.check_space(space_id)
        query = np.asarray(vector, dtype=np.float32)
        shift = 0.0
        if relation is not None:
            if query.shape != (self.dim,):
                raise ValidationError(
                    f"query vector has shape {query.shape}, expected ({self.dim},)"
                )
            moved = self._through(relation, query, None)
            query, shift, target = moved.vector, moved.score_shift, target or moved.target
        skip: set[int] = set()
        if exclude:
            if target is None and len(self.table_info.entities) > 1:
                raise UsageError("exclude= names keys of one entity type: pass target=...")
            skip = {int(r) for r in self.rows(exclude, target) if r >= 0}
        return self._search(query, k, target, skip, shift)

    def _search(
        self, query: np.ndarray, k: int, target: str | None, skip: set[int], shift: float = 0.0
    ) -> list[Neighbor]:
        if k < 1:
            raise ValidationError(f"k must be at least 1, got {k}")
        if query.shape != (self.dim,):
            raise ValidationError(f"query vector has shape {query.shape}, expected ({self.dim},)")
        if target is not None:
            target = self._entity_of(target)
        found, scores = search_version(self, query[None, :], k, target, [skip])
        return self._neighbors_of(found[0].tolist(), scores[0].tolist(), shift)

    def _search_row(
        self, query: np.ndarray, k: int, target: str | None, skip: set[int]
    ) -> list[Neighbor]:
        """:meth:`_search` for ``query`` = one of the version's own rows (1 x dim): its
        dimension, finiteness and (cosine) non-zero norm were checked at publish."""
        if k < 1:
            raise ValidationError(f"k must be at least 1, got {k}")
        if target is not None:
            target = self._entity_of(target)
        found, scores = search_row(self, query, k, target, skip)
        return self._neighbors_of(found, scores, 0.0)

    def _neighbors_of(self, rows: list[int], scores: list[float], shift: float) -> list[Neighbor]:
        """``Neighbor`` objects of the found ``rows``, skipping -1 padding."""
        keys, entities = self.keys, self.entities
        # pydantic-core's validator on a dict measured ~1 µs an object here, against 1-2 µs
        # for Neighbor(...) and ~3 µs for model_construct (a per-field loop in Python),
        # which was over a quarter of a neighbors(key) call in a profile with k=10.
        validate = Neighbor.__pydantic_validator__.validate_python
        return [
            validate({"entity": entities[r], "key": keys[r], "score": s + shift})
            for r, s in zip(rows, scores, strict=True)
            if r >= 0
        ]

    # -- whole-table access -----------------------------------------------------------

    def to_numpy(self) -> np.ndarray:
        """All vectors, n x dim float32, in row order (a read-only memory map)."""
        return self._matrix

    def to_vector_table(self) -> VectorTable:
        """The version's rows as the pipeline's :class:`VectorTable` (vectors in memory)."""
        return VectorTable(self.entities, self.keys, np.array(self._matrix, dtype=np.float32))

    def to_arrow(self) -> pa.Table:
        """entity, key, vector (FixedSizeList<float32>), in row order."""
        return pq.read_table(self.folder / files.OFFLINE)

    def to_pandas(self) -> pd.DataFrame:
        """entity, key and vector (one float32 array per row)."""
        import pandas as pd

        return pd.DataFrame(
            {"entity": self.entities, "key": self.keys, "vector": list(np.asarray(self._matrix))}
        )

    def to_torch_embedding(
        self, freeze: bool = True, entity: str | None = None, padding: bool = False
    ) -> TorchEmbedding:
        """A ``torch.nn.Embedding`` of the rows, with ``key_to_index`` and ``lookup(keys)``.

        See :func:`embank.store.consume.to_torch_embedding`; needs ``embank[torch]``.
        """
        from embank.store.consume import to_torch_embedding

        return to_torch_embedding(self, freeze=freeze, entity=entity, padding=padding)

    def to_keyedvectors(self, entity: str | None = None) -> KeyedVectors:
        """A gensim ``KeyedVectors`` of the rows; needs ``embank[walks]``.

        See :func:`embank.store.consume.to_keyedvectors`.
        """
        from embank.store.consume import to_keyedvectors

        return to_keyedvectors(self, entity=entity)

    def iter_batches(self, size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Row batches of the offline file, for tables larger than memory."""
        yield from pq.ParquetFile(self.folder / files.OFFLINE).iter_batches(batch_size=size)

    def row_attributes(self) -> pd.DataFrame | None:
        """Per-row attributes published with this version (entity, key, then e.g.
        ``folded`` and ``support`` of a fold-in), in row order; None when it has none."""
        return files.read_row_attributes(self.folder)

    def labels(self) -> Labels | None:
        """The labels published with this version (for benchmarks), if any."""
        return files.read_labels(self.folder)

    def holdout(self) -> pd.DataFrame | None:
        """The pairs kept out of this version's fit (src_entity, src, dst_entity, dst)."""
        return files.read_holdout(self.folder)

    def benchmark_inputs(self, verify: bool = True) -> BenchmarkInputs:
        """What the version's benchmarks read, as stored at publish: labels, hold-out,
        metadata, graph and interactions (each None when the version holds none).

        ``verify`` checks the stored files against the manifest first and raises
        :class:`~embank.errors.StorageError` when one changed.
        """
        return files.read_benchmark_inputs(self.folder, verify=verify)

    def stored_inputs(self) -> list[str]:
        """Names of the benchmark input files the version holds."""
        return sorted(files.stored_input_files(files.read_manifest(self.folder)))

    def verify(self) -> list[str]:
        """Files whose checksum no longer matches the manifest; empty when intact."""
        return files.verify_manifest(self.folder)


def _texts(keys: list[object]) -> list[str]:
    """The keys' canonical text (:func:`key_text`); a list of str as it is."""
    if set(map(type, keys)) <= {str}:  # C loops: ~20 us for 1,000 keys
        return keys  # type: ignore[return-value]
    return [key_text(k) for k in keys]
