"""Hashed-neighbourhood embeddings: an example embank algorithm plugin.

Every key gets a random Gaussian vector drawn from a generator seeded by ``(seed, key)``
alone; a node's vector is the mean of its neighbours' random vectors (plus its own, with
``self_weight``), repeated for ``hops`` steps, then L2-normalised. This is a random
projection of the (self-looped, row-normalised) adjacency's ``hops``-th power: nodes
with overlapping neighbourhoods get close vectors, and because a key's random vector
does not depend on which other keys exist, a refit on a grown graph keeps old nodes
near where they were. numpy and scipy only; no training, so it is fast and exact.

Registered in this package's ``pyproject.toml``::

    [project.entry-points."embank.algorithms"]
    hashing = "embank_hashing:HashingEmbedding"
"""

from __future__ import annotations

import hashlib
from typing import Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from embank.algorithms import Algorithm, AlgorithmParams
from embank.data.graph import Dataset, Graph
from embank.errors import DataError, EmptySelectionError
from embank.progress import Progress
from embank.vector_table import VectorTable

__all__ = ["HashingEmbedding"]


class HashingEmbedding(Algorithm):
    """Random projection of each node's neighbourhood; see the module docstring."""

    name = "hashing"
    deterministic = True  # single-threaded numpy / scipy: bit-identical for a fixed seed

    class Params(AlgorithmParams):
        dim: int = Field(64, ge=1, le=4096, description="Dimension of the vectors.")
        hops: int = Field(
            3, ge=1, le=5, description="Neighbourhood radius: how many times to average."
        )
        self_weight: float = Field(
            1.0,
            ge=0,
            description="Weight of a node's own vector beside its neighbours' (an edge weight); "
            "0 leaves isolated nodes with a zero vector.",
        )

    params: Params

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Embed ``dataset.graph`` (a directed graph uses out-neighbours).

        Raises :class:`DataError` without a graph or with negative or non-finite weights,
        and :class:`EmptySelectionError` when the graph has no nodes.
        """
        graph: Graph = dataset.require("graph", self.name, "data.edges")
        p = self.params
        adjacency = _checked_adjacency(graph)
        with self._progress(progress).task("hashing: propagating", total=p.hops + 1) as task:
            own = np.stack([_key_vector(key, p.seed, p.dim) for key in graph.index_to_key])
            task.advance()
            looped = adjacency + p.self_weight * sp.identity(graph.n_nodes, format="csr")
            step = _row_normalize(looped.tocsr())
            vectors = own
            for _ in range(p.hops):
                vectors = step @ vectors
                task.advance()
        self.embeddings_ = VectorTable.single_entity(
            graph.entity, graph.index_to_key, _l2_normalize(vectors).astype(np.float32)
        )
        return self


def _checked_adjacency(graph: Graph) -> sp.csr_matrix:
    if graph.n_nodes == 0:
        raise EmptySelectionError("data.edges selected no nodes: there is nothing to embed")
    adjacency = sp.csr_matrix(graph.adjacency, dtype=np.float64)
    if not np.isfinite(adjacency.data).all() or (adjacency.data < 0).any():
        raise DataError(
            "algorithm 'hashing' needs finite, non-negative edge weights; "
            "drop or rescale them in the selection"
        )
    return adjacency


def _key_vector(key: str, seed: int, dim: int) -> np.ndarray:
    """A standard Gaussian vector that depends only on ``(seed, key)``."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    rng = np.random.default_rng([seed, int.from_bytes(digest, "little")])
    return rng.standard_normal(dim)


def _row_normalize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    inverse = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return (sp.diags(inverse) @ matrix).tocsr()


def _l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
