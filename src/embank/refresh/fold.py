"""The fold-in solves: vectors for keys a version lacks, from the version's own vectors.

Nothing is refitted: every known vector stays fixed, and a new key's vector is what the
fit would give it against them, so it lands in the version's space.

- **Interactions (ALS)**: a new user is the closed-form least-squares solve against the
  version's item vectors (:func:`embank.algorithms.als.fold_in`, one ALS half-sweep, the
  confidence weighting the spec's params give), a new item the same against its user
  vectors. Interactions with keys the version lacks add nothing.
- **Graphs**: a new node is the weighted mean of its known neighbours' vectors
  (:func:`embank.algorithms.warm.neighbour_mean`, links weighted as in the graph); under
  the cosine metric the neighbours' directions are averaged (unit vectors) and the result
  takes their weighted mean length, so a long vector does not outvote its peers.

A key's *support* is the number of its links to keys with a vector: what its folded
vector is made of. Keys with less support than ``min_support`` get no vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embank.algorithms.als import ALS, confidence_matrix, fold_in
from embank.algorithms.warm import neighbour_mean
from embank.data.graph import Graph
from embank.data.interactions import Interactions
from embank.errors import UsageError
from embank.vector_table import VectorTable

__all__ = ["Folded", "fold_graph", "fold_interactions"]


@dataclass(frozen=True)
class Folded:
    """New keys with a folded vector, and the new keys left out for lack of support."""

    table: VectorTable  # the folded rows
    support: np.ndarray  # int64, per row of ``table``
    skipped: pd.DataFrame  # entity, key, support: new keys below min_support

    @property
    def n_folded(self) -> int:
        return self.table.n_rows

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)


def fold_interactions(
    interactions: Interactions, previous: VectorTable, params: ALS.Params, min_support: int = 1
) -> Folded:
    """Fold the users and items of ``interactions`` that ``previous`` lacks (ALS tables).

    ``params`` are the table's ALS params: the confidence weighting and regularization of
    the solve are the fit's own.
    """
    _check_min_support(min_support)
    weights = confidence_matrix(
        interactions.matrix, params.confidence, params.bm25_k1, params.bm25_b
    )
    # implicit fits alpha * f(weight) as the confidence; the fold-in solves the same
    confidence = sp.csr_matrix(weights * params.alpha if params.alpha != 1.0 else weights)
    parts = [
        _fold_side(
            confidence,
            interactions.src_entity,
            interactions.src_keys,
            interactions.dst_entity,
            interactions.dst_keys,
            previous,
            params.regularization,
        ),
        _fold_side(
            confidence.T.tocsr(),
            interactions.dst_entity,
            interactions.dst_keys,
            interactions.src_entity,
            interactions.src_keys,
            previous,
            params.regularization,
        ),
    ]
    return _combine(parts, previous.dim, min_support)


def _fold_side(
    confidence: sp.csr_matrix,
    entity: str,
    keys: np.ndarray,
    other_entity: str,
    other_keys: np.ndarray,
    previous: VectorTable,
    regularization: float,
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(entity, new keys, their vectors, their support) for one side of the matrix."""
    new = np.flatnonzero(previous.rows_of(entity, keys) < 0)
    if new.size == 0:
        return entity, keys[:0], np.zeros((0, previous.dim), np.float32), np.zeros(0, np.int64)
    # The other side's factors are every vector the version has of that entity (its Gram
    # matrix is the fit's), the columns remapped onto them; links to keys it lacks drop.
    other_rows = np.flatnonzero(previous.entities == other_entity)
    position = np.full(previous.n_rows, -1, dtype=np.int64)
    position[other_rows] = np.arange(other_rows.size)
    found = previous.rows_of(other_entity, other_keys)
    column = np.where(found >= 0, position[np.maximum(found, 0)], -1)
    sub = confidence[new].tocoo()
    keep = column[sub.col] >= 0
    remapped = sp.csr_matrix(
        (sub.data[keep], (sub.row[keep], column[sub.col[keep]])),
        shape=(new.size, other_rows.size),
    )
    remapped.eliminate_zeros()
    support = np.diff(remapped.indptr).astype(np.int64)
    vectors = fold_in(remapped, previous.vectors[other_rows], regularization)
    return entity, keys[new], vectors, support


def fold_graph(
    graph: Graph, previous: VectorTable, metric: str = "cosine", min_support: int = 1
) -> Folded:
    """Fold the nodes of ``graph`` that ``previous`` lacks: weighted neighbour means."""
    _check_min_support(min_support)
    keys = graph.index_to_key
    rows = previous.rows_of(graph.entity, keys)
    known = rows >= 0
    new = np.flatnonzero(~known)
    dim = previous.dim
    if new.size == 0:
        empty = (graph.entity, keys[:0], np.zeros((0, dim), np.float32), np.zeros(0, np.int64))
        return _combine([empty], dim, min_support)
    links = sp.csr_matrix(graph.adjacency, dtype=np.float64)
    if graph.directed:  # a follower tells as much about a node as a followee
        links = sp.csr_matrix(links + links.T)
    links = links[new]
    links.eliminate_zeros()
    vectors = np.zeros((len(keys), dim), dtype=np.float32)
    vectors[known] = previous.vectors[rows[known]]
    if metric == "cosine":
        norms = np.linalg.norm(vectors, axis=1)
        unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
        directions, has = neighbour_mean(links, unit, known)
        lengths, _ = neighbour_mean(links, norms[:, None], known)
        size = np.linalg.norm(directions, axis=1, keepdims=True)
        means = directions / np.where(size > 0, size, 1.0) * lengths
    else:
        means, has = neighbour_mean(links, vectors, known)
    support = np.asarray((links != 0).astype(np.int64) @ known.astype(np.int64)).ravel()
    # neighbours whose directions cancel leave nothing to stand on
    support[~has | ~np.abs(means).any(axis=1)] = 0
    return _combine(
        [(graph.entity, keys[new], means.astype(np.float32), support)], dim, min_support
    )


def _combine(
    parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], dim: int, min_support: int
) -> Folded:
    entities, keys, vectors, supports = [], [], [], []
    skipped = []
    for entity, part_keys, part_vectors, support in parts:
        ok = support >= min_support
        entities.append(np.full(int(ok.sum()), entity, dtype=object))
        keys.append(np.asarray(part_keys, dtype=object)[ok])
        vectors.append(np.asarray(part_vectors, dtype=np.float32)[ok])
        supports.append(support[ok])
        skipped.append(
            pd.DataFrame(
                {
                    "entity": entity,
                    "key": np.asarray(part_keys, dtype=object)[~ok].astype(str),
                    "support": support[~ok].astype(np.int64),
                }
            )
        )
    table = VectorTable(
        np.concatenate(entities) if entities else np.zeros(0, dtype=object),
        np.concatenate(keys) if keys else np.zeros(0, dtype=object),
        np.vstack(vectors) if vectors else np.zeros((0, dim), np.float32),
    )
    return Folded(
        table=table,
        support=np.concatenate(supports).astype(np.int64),
        skipped=pd.concat(skipped, ignore_index=True),
    )


def _check_min_support(min_support: int) -> None:
    if min_support < 1:
        raise UsageError(
            f"min_support={min_support}: a folded vector needs at least 1 link to a known key"
        )
