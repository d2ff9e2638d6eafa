"""A graph of several entity types and relation types (follows, likes, rates, ...)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MultiGraph", "Relation"]


@dataclass(frozen=True, eq=False)
class Relation:
    """Edges of one relation type: ``src`` ids index ``keys[src_entity]``, ``dst`` ids
    index ``keys[dst_entity]``; ``weight`` is float64, one per edge."""

    name: str
    src_entity: str
    dst_entity: str
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    @property
    def n_edges(self) -> int:
        return len(self.src)


@dataclass(frozen=True, eq=False)
class MultiGraph:
    """Every entity type's keys (sorted bytewise) and every relation's edges."""

    keys: dict[str, np.ndarray]
    relations: dict[str, Relation]

    @property
    def n_edges(self) -> int:
        return sum(r.n_edges for r in self.relations.values())

    def n_nodes(self, entity: str) -> int:
        return len(self.keys[entity])
