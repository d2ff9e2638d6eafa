"""The artifact every stage hands on: rows of (entity, key, vector).

Algorithms produce a :class:`VectorTable`, benchmarks judge one, the bank publishes one.
It is independent of the algorithm that made it (the gensim ``KeyedVectors`` habit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embank.errors import ValidationError

__all__ = ["SortedRows", "VectorTable"]


@dataclass(frozen=True, eq=False)
class VectorTable:
    """``entities[i]``, ``keys[i]`` name row ``i`` of ``vectors`` (float32, n x dim)."""

    entities: np.ndarray
    keys: np.ndarray
    vectors: np.ndarray
    _index: dict[tuple[str, str], int] | None = field(default=None, repr=False, compare=False)
    _arrow: tuple[pa.Array, pa.Array] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        entities = np.asarray(self.entities, dtype=object)
        keys = np.asarray(self.keys, dtype=object)
        vectors = np.asarray(self.vectors)
        if vectors.ndim != 2:
            raise ValidationError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        if not (len(entities) == len(keys) == vectors.shape[0]):
            raise ValidationError(
                f"{len(entities)} entities, {len(keys)} keys and {vectors.shape[0]} vectors: "
                "each row needs one of each"
            )
        object.__setattr__(self, "entities", entities)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "vectors", np.ascontiguousarray(vectors, dtype=np.float32))

    @classmethod
    def single_entity(
        cls, entity: str, keys: np.ndarray | list[str], vectors: np.ndarray
    ) -> VectorTable:
        keys = np.asarray(keys, dtype=object)
        return cls(np.full(len(keys), entity, dtype=object), keys, vectors)

    @classmethod
    def from_arrow(cls, entities: pa.Array, keys: pa.Array, vectors: np.ndarray) -> VectorTable:
        """Rows from Arrow string columns (kept, so nothing converts them back)."""
        entities = entities.cast(pa.string())
        keys = keys.cast(pa.string())
        table = cls(
            entities.to_numpy(zero_copy_only=False), keys.to_numpy(zero_copy_only=False), vectors
        )
        object.__setattr__(table, "_arrow", (entities, keys))
        return table

    @property
    def n_rows(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def entity_names(self) -> list[str]:
        columns = self.arrow_columns()
        if columns is not None:
            return sorted(pc.unique(columns[0]).to_pylist())
        return sorted(set(self.entities.tolist()))

    def row_of(self, entity: str, key: str) -> int | None:
        """The row of ``(entity, key)``, or None when it is not in the table."""
        return self._lookup().get((entity, key))

    def rows_of(self, entities: str | np.ndarray, keys: np.ndarray | list[str]) -> np.ndarray:
        """The row of each ``(entity, key)`` as int64, -1 where the table lacks it.

        ``entities`` is one entity for every key, or one per key. Rows are matched by
        (entity, key), never by position.
        """
        keys = np.asarray(keys, dtype=object)
        if isinstance(entities, str):
            entities = np.full(len(keys), entities, dtype=object)
        get = self._lookup().get
        pairs = zip(entities.tolist(), keys.tolist(), strict=True)
        return np.fromiter((get(pair, -1) for pair in pairs), dtype=np.int64, count=len(keys))

    def _lookup(self) -> dict[tuple[str, str], int]:
        """(entity, key) -> row, built on first use."""
        if self._index is None:
            index = {
                (e, k): i for i, (e, k) in enumerate(zip(self.entities, self.keys, strict=True))
            }
            object.__setattr__(self, "_index", index)
        assert self._index is not None
        return self._index

    def arrow_columns(self) -> tuple[pa.Array, pa.Array] | None:
        """(entities, keys) as Arrow string arrays, converted once; None unless every
        entity and key is a ``str`` (then only Python can order or check them)."""
        if self._arrow is None:
            columns = []
            for values in (self.entities, self.keys):
                try:
                    array = pa.array(values)  # inferred: string only if all are str
                except (pa.ArrowException, UnicodeError, TypeError, ValueError):
                    return None
                empty = pa.types.is_null(array.type) and not len(array)
                if array.null_count or not (pa.types.is_string(array.type) or empty):
                    return None
                columns.append(array.cast(pa.string()))
            object.__setattr__(self, "_arrow", (columns[0], columns[1]))
        return self._arrow

    def sort_order(self) -> np.ndarray | None:
        """The permutation that orders the rows by (entity, key) bytewise, the order every
        version is stored in; None when they are in that order already."""
        columns = self.arrow_columns()
        if columns is None:
            # Python orders str by code point, which for UTF-8 is the bytewise order.
            order = np.asarray(
                sorted(range(self.n_rows), key=lambda i: (self.entities[i], self.keys[i])),
                dtype=np.int64,
            )
        elif len(pc.unique(columns[0])) <= 1:  # one entity type: order by key alone (8x faster)
            order = pc.sort_indices(columns[1]).to_numpy()
        else:
            # Arrow compares strings bytewise; the sort is stable.
            both = pa.table({"entity": columns[0], "key": columns[1]})
            order = pc.sort_indices(
                both, sort_keys=[("entity", "ascending"), ("key", "ascending")]
            ).to_numpy()
        if np.array_equal(order, np.arange(self.n_rows)):
            return None
        return order

    def deduplicated(self, keep: str = "first") -> tuple[VectorTable, int]:
        """The table without repeated (entity, key) rows, keeping each key's ``first`` or
        ``last`` row, and how many rows were dropped; ``self`` when there are none."""
        if keep not in ("first", "last"):
            raise ValidationError(f"keep must be 'first' or 'last', got {keep!r}")
        import pandas as pd  # only an opt-in dedupe pays for the import

        repeated = pd.DataFrame({"e": self.entities, "k": self.keys}).duplicated(keep=keep)
        mask = repeated.to_numpy()
        dropped = int(mask.sum())
        if not dropped:
            return self, 0
        kept = np.flatnonzero(~mask)
        return VectorTable(self.entities[kept], self.keys[kept], self.vectors[kept]), dropped

    def sorted(self) -> VectorTable:
        """Rows ordered by (entity, key) bytewise: the order every version is stored in.

        Returns ``self`` when the rows are in that order already (no copy).
        """
        order = self.sort_order()
        if order is None:
            return self
        result = VectorTable(self.entities[order], self.keys[order], self.vectors[order])
        columns = self.arrow_columns()
        if columns is not None:
            taken = pa.array(order)
            object.__setattr__(result, "_arrow", (columns[0].take(taken), columns[1].take(taken)))
        return result


@dataclass(frozen=True, eq=False)
class SortedRows:
    """A table's rows in stored order, (entity, key) bytewise, without a copy of its
    vectors: row ``i`` is ``table``'s row ``order[i]`` (``order`` None: the same row).

    What a publish writes from: a sorted copy of a million 128-float rows would cost
    another 512 MB; the vectors are gathered a block of rows at a time instead.
    """

    table: VectorTable
    order: np.ndarray | None
    entities: pa.Array  # in stored order, Arrow strings
    keys: pa.Array

    @classmethod
    def of(cls, table: VectorTable) -> SortedRows:
        """``table``'s rows in stored order (its entities and keys must all be ``str``)."""
        order = table.sort_order()
        columns = table.arrow_columns()
        if columns is None:
            columns = (
                pa.array(table.entities.tolist(), pa.string()),
                pa.array(table.keys.tolist(), pa.string()),
            )
        if order is not None:
            taken = pa.array(order)
            columns = (columns[0].take(taken), columns[1].take(taken))
        return cls(table, order, columns[0], columns[1])

    @classmethod
    def presorted(cls, table: VectorTable) -> SortedRows:
        """``table`` whose rows are in stored order already (not checked)."""
        columns = table.arrow_columns()
        if columns is None:
            columns = (
                pa.array(table.entities.tolist(), pa.string()),
                pa.array(table.keys.tolist(), pa.string()),
            )
        return cls(table, None, columns[0], columns[1])

    @property
    def n_rows(self) -> int:
        return self.table.n_rows

    @property
    def dim(self) -> int:
        return self.table.dim

    def vectors(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo:hi`` (in stored order) of the vectors, float32, C-contiguous."""
        if self.order is None:
            return self.table.vectors[lo:hi]
        return self.table.vectors[self.order[lo:hi]]

    def label(self, row: int) -> str:
        """``entity:key`` of a row in stored order, for messages."""
        return f"{self.entities[row].as_py()}:{self.keys[row].as_py()}"
