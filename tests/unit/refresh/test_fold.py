"""The fold-in solves: graph neighbour means, ALS least squares, minimum support."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embank.algorithms.als import ALS, confidence_matrix, fold_in
from embank.data.graph import Graph
from embank.data.interactions import Interactions
from embank.errors import UsageError
from embank.refresh.fold import fold_graph, fold_interactions
from embank.vector_table import VectorTable

KNOWN = {"a": [1.0, 0.0, 0.0], "b": [0.0, 4.0, 0.0], "c": [0.0, 0.0, 2.0]}


def _graph(edges: list[tuple[str, str, float]], directed: bool = False) -> Graph:
    keys = np.array(sorted({k for e in edges for k in e[:2]} | set(KNOWN)), dtype=object)
    index = {k: i for i, k in enumerate(keys)}
    rows = [index[s] for s, _, _ in edges]
    cols = [index[d] for _, d, _ in edges]
    weights = [w for _, _, w in edges]
    if not directed:
        rows, cols, weights = rows + cols, cols + rows, weights + weights
    adjacency = sp.csr_matrix((weights, (rows, cols)), shape=(len(keys), len(keys)))
    return Graph("node", keys, adjacency, directed=directed)


def _previous() -> VectorTable:
    return VectorTable.single_entity(
        "node", list(KNOWN), np.array(list(KNOWN.values()), dtype=np.float32)
    )


def _folded_vector(folded, key: str) -> np.ndarray:
    return folded.table.vectors[list(folded.table.keys).index(key)]


def test_a_new_node_is_the_weighted_mean_of_its_known_neighbours_under_dot():
    graph = _graph([("a", "b", 1), ("d", "a", 1.0), ("d", "b", 3.0), ("d", "e", 5.0)])
    folded = fold_graph(graph, _previous(), metric="dot")
    # e is new too: it adds no weight, and e (linked only to d) has nothing to stand on
    np.testing.assert_allclose(_folded_vector(folded, "d"), [0.25, 3.0, 0.0], rtol=1e-6)
    assert folded.support[list(folded.table.keys).index("d")] == 2
    assert list(folded.skipped["key"]) == ["e"] and list(folded.skipped["support"]) == [0]


def test_under_cosine_directions_are_averaged_and_the_length_is_the_neighbours():
    graph = _graph([("d", "a", 1.0), ("d", "b", 1.0)])
    vector = _folded_vector(fold_graph(graph, _previous(), metric="cosine"), "d")
    # b's length (4) does not pull the direction toward it: 45 degrees between a and b
    assert vector[0] == pytest.approx(vector[1])
    assert np.linalg.norm(vector) == pytest.approx((1.0 + 4.0) / 2)


def test_min_support_leaves_weakly_linked_keys_without_a_vector():
    graph = _graph([("d", "a", 1.0), ("f", "a", 1.0), ("f", "b", 1.0), ("f", "c", 1.0)])
    folded = fold_graph(graph, _previous(), metric="dot", min_support=2)
    assert list(folded.table.keys) == ["f"] and list(folded.support) == [3]
    assert folded.skipped.to_dict(orient="records") == [
        {"entity": "node", "key": "d", "support": 1}
    ]
    with pytest.raises(UsageError, match="min_support=0"):
        fold_graph(graph, _previous(), min_support=0)


def test_a_directed_graph_counts_followers_too():
    graph = _graph([("a", "d", 1.0), ("d", "b", 1.0)], directed=True)
    folded = fold_graph(graph, _previous(), metric="dot")
    np.testing.assert_allclose(_folded_vector(folded, "d"), [0.5, 2.0, 0.0])
    assert list(folded.support) == [2]


def test_known_keys_are_not_folded():
    graph = _graph([("a", "b", 1.0), ("b", "c", 1.0)])
    folded = fold_graph(graph, _previous(), metric="cosine")
    assert folded.n_folded == 0 and folded.n_skipped == 0


def _interactions() -> Interactions:
    rng = np.random.default_rng(3)
    dense = (rng.random((30, 12)) < 0.4).astype(np.float64)
    dense[29] = 0  # a user with no interaction at all
    dense[28] = 0
    dense[28, 11] = 1.0  # a user whose only item is new
    matrix = sp.csr_matrix(dense)
    users = np.array([f"u{i:02d}" for i in range(30)], dtype=object)
    items = np.array([f"i{i:02d}" for i in range(12)], dtype=object)
    return Interactions("user", "item", users, items, matrix)


def test_als_users_are_the_least_squares_solve_against_the_known_items():
    interactions = _interactions()
    params = ALS.Params(dim=4, confidence="linear", regularization=0.5, alpha=2.0)
    rng = np.random.default_rng(0)
    # the version knows users u00-u19 and items i00-i10
    users = np.array([f"u{i:02d}" for i in range(20)], dtype=object)
    items = np.array([f"i{i:02d}" for i in range(11)], dtype=object)
    previous = VectorTable(
        np.array(["item"] * 11 + ["user"] * 20, dtype=object),
        np.concatenate([items, users]),
        rng.standard_normal((31, 4)).astype(np.float32),
    )
    folded = fold_interactions(interactions, previous, params, min_support=1)
    by_key = dict(zip(folded.table.keys, folded.table.vectors, strict=True))
    confidence = confidence_matrix(interactions.matrix, "linear") * 2.0
    known_items = previous.vectors[:11]
    expected = fold_in(sp.csr_matrix(confidence[20:28, :11]), known_items, 0.5)
    for offset, user in enumerate(f"u{i:02d}" for i in range(20, 28)):
        np.testing.assert_allclose(by_key[user], expected[offset], rtol=1e-5, atol=1e-6)
    # i11 is new: solved against the known users that had it
    item_support = int(interactions.matrix[:20, 11].nnz)
    assert ("i11" in by_key) == (item_support >= 1)
    skipped = {(r["entity"], r["key"]): r["support"] for r in folded.skipped.to_dict("records")}
    # u28's only item is new and u29 has none: neither has a known item to be solved from
    assert skipped[("user", "u28")] == 0 and skipped[("user", "u29")] == 0
    supports = dict(zip(folded.table.keys, folded.support, strict=True))
    assert supports["u20"] == interactions.matrix[20, :11].nnz
    strict = fold_interactions(interactions, previous, params, min_support=4)
    assert all(s >= 4 for s in strict.support)
    assert set(strict.skipped["key"]) > set(folded.skipped["key"])
