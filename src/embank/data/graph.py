"""What selection hands to the algorithms: a graph over one entity type, and labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embank.data.attributes import Features, Metadata, Texts
from embank.data.interactions import Interactions
from embank.data.relations import MultiGraph
from embank.errors import DataError

__all__ = ["Dataset", "Graph", "Labels"]


@dataclass(frozen=True, eq=False)
class Graph:
    """A graph over one entity type.

    ``index_to_key[i]`` is the key of node ``i``, sorted bytewise; ``adjacency`` is an
    n x n CSR matrix of float64 edge weights (symmetric unless ``directed``).
    """

    entity: str
    index_to_key: np.ndarray
    adjacency: sp.csr_matrix
    directed: bool = False
    _key_to_index: dict[str, int] | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        return int(self.adjacency.shape[0])

    @property
    def n_edges(self) -> int:
        """Stored entries; an undirected edge counts twice."""
        return int(self.adjacency.nnz)

    @property
    def key_to_index(self) -> dict[str, int]:
        if self._key_to_index is None:
            mapping = {key: i for i, key in enumerate(self.index_to_key.tolist())}
            object.__setattr__(self, "_key_to_index", mapping)
        assert self._key_to_index is not None
        return self._key_to_index

    def degrees(self) -> np.ndarray:
        """Weighted out-degree of each node."""
        return np.asarray(self.adjacency.sum(axis=1)).ravel()


@dataclass(frozen=True, eq=False)
class Labels:
    """(key, label) pairs of one entity type; a key may carry several labels."""

    entity: str
    pairs: pd.DataFrame  # columns: key (str), label (str)
    n_skipped: int = 0  # labelled keys that are not in the table

    @property
    def n_keys(self) -> int:
        return int(self.pairs["key"].nunique())

    def label_sets(self) -> dict[str, list[str]]:
        """Each labelled key with its sorted labels."""
        grouped = self.pairs.groupby("key", sort=True)["label"]
        return {key: sorted(set(values)) for key, values in grouped}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Everything the fit and the benchmarks get from selection.

    Which parts are set depends on the spec's data sections: ``graph`` (``data.edges``),
    ``interactions`` (``data.interactions``), ``relations`` (``data.relations``), ``texts``
    (``data.text``), ``features`` (``data.features``); ``labels``, ``metadata`` and
    ``holdout`` are for benchmarks.
    """

    graph: Graph | None = None
    labels: Labels | None = None
    lineage: dict[str, object] = field(default_factory=dict)  # sources, sha256, counts
    interactions: Interactions | None = None
    relations: MultiGraph | None = None
    texts: Texts | None = None
    features: Features | None = None
    metadata: Metadata | None = None
    holdout: pd.DataFrame | None = None  # src_entity, src, dst_entity, dst: kept out of the fit

    def keys_of(self, entity: str) -> np.ndarray | None:
        """Every key of ``entity`` the fitted parts hold (sorted), or None if none holds it."""
        found: list[np.ndarray] = []
        if self.graph is not None and self.graph.entity == entity:
            found.append(self.graph.index_to_key)
        if self.interactions is not None:
            if self.interactions.src_entity == entity:
                found.append(self.interactions.src_keys)
            if self.interactions.dst_entity == entity:
                found.append(self.interactions.dst_keys)
        if self.relations is not None and entity in self.relations.keys:
            found.append(self.relations.keys[entity])
        for part in (self.texts, self.features):
            if part is not None and part.entity == entity:
                found.append(part.keys)
        if not found:
            return None
        return np.unique(np.concatenate(found).astype(str)).astype(object)

    def require(self, part: str, algorithm: str, section: str) -> Any:
        """The part an algorithm needs, or a :class:`DataError` naming the spec section."""
        value = getattr(self, part)
        if value is None:
            raise DataError(f"algorithm {algorithm!r} needs {section} in the spec's data")
        return value
