"""The artifact every stage hands on: rows of (entity, key, vector).

Algorithms produce a :class:`VectorTable`, benchmarks judge one, the bank publishes one.
It is independent of the algorithm that made it (the gensim ``KeyedVectors`` habit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embank.errors import ValidationError

__all__ = ["VectorTable"]


@dataclass(frozen=True, eq=False)
class VectorTable:
    """``entities[i]``, ``keys[i]`` name row ``i`` of ``vectors`` (float32, n x dim)."""

    entities: np.ndarray
    keys: np.ndarray
    vectors: np.ndarray
    _index: dict[tuple[str, str], int] | None = field(default=None, repr=False, compare=False)

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

    @property
    def n_rows(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def entity_names(self) -> list[str]:
        return sorted(set(self.entities.tolist()))

    def row_of(self, entity: str, key: str) -> int | None:
        """The row of ``(entity, key)``, or None when it is not in the table."""
        if self._index is None:
            index = {
                (e, k): i for i, (e, k) in enumerate(zip(self.entities, self.keys, strict=True))
            }
            object.__setattr__(self, "_index", index)
        assert self._index is not None
        return self._index.get((entity, key))

    def sorted(self) -> VectorTable:
        """Rows ordered by (entity, key) bytewise: the order every version is stored in."""
        # Python orders str by code point, which for UTF-8 is the bytewise order.
        order = sorted(range(self.n_rows), key=lambda i: (self.entities[i], self.keys[i]))
        idx = np.asarray(order, dtype=np.int64)
        return VectorTable(self.entities[idx], self.keys[idx], self.vectors[idx])
