"""What selection hands to the algorithms: a graph over one entity type, and labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

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
    """Everything the fit and the benchmarks get from selection."""

    graph: Graph
    labels: Labels | None = None
    lineage: dict[str, object] = field(default_factory=dict)  # sources, sha256, counts
