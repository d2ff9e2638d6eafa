"""node2vec on small graphs built here: walks, their biases, training, determinism, errors."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points

import numpy as np
import pydantic
import pytest
import scipy.sparse as sp

from embank.algorithms.node2vec import Node2Vec
from embank.algorithms.skipgram import alias_table
from embank.data.graph import Dataset, Graph
from embank.errors import DataError


def _graph(adjacency: sp.spmatrix | np.ndarray, directed: bool = False) -> Graph:
    adjacency = sp.csr_matrix(adjacency, dtype=np.float64)
    keys = np.array([f"n{i:04d}" for i in range(adjacency.shape[0])], dtype=object)
    return Graph(entity="node", index_to_key=keys, adjacency=adjacency, directed=directed)


def _undirected(n: int, edges: list[tuple[int, int, float]]) -> sp.csr_matrix:
    rows, cols, weights = zip(*edges, strict=True)
    upper = sp.coo_matrix((weights, (rows, cols)), shape=(n, n))
    return (upper + upper.T).tocsr()


def planted_partition(n_per_block: int = 100, seed: int = 7) -> tuple[Graph, np.ndarray]:
    """Two dense communities with few links between them, and each node's block."""
    rng = np.random.default_rng(seed)
    blocks = np.repeat([0, 1], n_per_block)
    probs = np.where(blocks[:, None] == blocks[None, :], 0.1, 0.005)
    upper = np.triu(rng.random((blocks.size, blocks.size)) < probs, k=1)
    return _graph((upper | upper.T).astype(np.float64)), blocks


def _community_margin(vectors: np.ndarray, blocks: np.ndarray) -> float:
    """Mean cosine within communities minus mean cosine across them."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = blocks[:, None] == blocks[None, :]
    np.fill_diagonal(same, False)
    return float(cosine[same].mean() - cosine[blocks[:, None] != blocks[None, :]].mean())


def _walks(adjacency: sp.csr_matrix, **params: object) -> np.ndarray:
    return Node2Vec(params).walks(sp.csr_matrix(adjacency, dtype=np.float64))


SMALL = {"dim": 16, "walks_per_node": 10, "walk_length": 20, "window": 5}


@pytest.fixture(scope="module")
def communities() -> tuple[Graph, np.ndarray]:
    return planted_partition()


@pytest.mark.parametrize(("p", "q"), [(1.0, 1.0), (0.5, 2.0), (3.0, 0.3)])
def test_walks_follow_directed_weighted_edges_only(p, q):
    rng = np.random.default_rng(0)
    dense = (rng.random((40, 40)) < 0.1) * rng.uniform(0.1, 5.0, (40, 40))
    dense[7] = 0.0  # node 7 has no out-edges: walks reaching it stop there
    adjacency = sp.csr_matrix(dense)
    walks = _walks(adjacency, p=p, q=q, walks_per_node=5, walk_length=15)
    assert walks.shape == (200, 15) and walks.dtype == np.int32
    assert sorted(walks[:, 0].tolist()) == sorted(list(range(40)) * 5)
    for walk in walks:
        steps = walk[walk >= 0]
        assert (walk[steps.size :] == -1).all()  # padding only at the end
        for a, b in itertools.pairwise(steps):
            assert dense[a, b] > 0, (a, b)  # the direction of each edge is respected
        if steps.size < 15:
            assert adjacency[steps[-1]].nnz == 0  # stopped only at a dead end


def test_directed_cycle_is_walked_forward_and_dead_ends_stop():
    n = 6
    forward = sp.csr_matrix((np.ones(n - 1), (np.arange(n - 1), np.arange(1, n))), shape=(n, n))
    walks = _walks(forward, walks_per_node=1, walk_length=8)
    for walk in walks:
        start = walk[0]
        expected = list(range(start, n)) + [-1] * (8 - (n - start))
        assert walk.tolist() == expected[:8]


def test_first_step_frequencies_follow_the_weights():
    # node 0 -> 1 with weight 9 and 0 -> 2 with weight 1
    adjacency = _undirected(3, [(0, 1, 9.0), (0, 2, 1.0)])
    walks = _walks(adjacency, walks_per_node=4000, walk_length=2)
    first = walks[walks[:, 0] == 0, 1]
    assert abs((first == 1).mean() - 0.9) < 0.02


def _exact_second_step(adjacency: np.ndarray, t: int, v: int, p: float, q: float) -> np.ndarray:
    """node2vec's transition probabilities out of ``v`` having come from ``t``."""
    weights = adjacency[v].copy()
    for x in np.flatnonzero(weights):
        if x == t:
            weights[x] /= p
        elif adjacency[t, x] == 0:
            weights[x] /= q
    return weights / weights.sum()


@pytest.mark.parametrize(("p", "q"), [(0.25, 4.0), (4.0, 0.25), (0.5, 0.5), (2.0, 2.0)])
def test_second_order_steps_match_the_exact_node2vec_probabilities(p, q):
    # 0-1-{0, 2, 3, 4, 5} with 0-2 closing a triangle; weighted
    edges = [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 2.0), (1, 3, 1.0), (1, 4, 3.0), (1, 5, 0.5)]
    adjacency = _undirected(6, edges)
    walks = _walks(adjacency, p=p, q=q, walks_per_node=40000, walk_length=3, seed=1)
    came = walks[(walks[:, 0] == 0) & (walks[:, 1] == 1), 2]
    observed = np.bincount(came, minlength=6) / came.size
    expected = _exact_second_step(adjacency.toarray(), 0, 1, p, q)
    # about 20,000 draws: 4 standard errors of the largest probability is < 0.015
    np.testing.assert_allclose(observed, expected, atol=0.015)


def test_small_q_walks_outward_and_small_p_returns():
    # a path 0-1-2-...-29: outward means moving on, returning means going back
    n = 30
    path = _undirected(n, [(i, i + 1, 1.0) for i in range(n - 1)])

    def mean_reach(p: float, q: float) -> float:
        walks = _walks(path, p=p, q=q, walks_per_node=20, walk_length=10)
        return float(np.abs(walks[:, -1] - walks[:, 0]).mean())

    def return_rate(p: float, q: float) -> float:
        walks = _walks(path, p=p, q=q, walks_per_node=20, walk_length=10)
        return float((walks[:, 2:] == walks[:, :-2]).mean())

    assert mean_reach(1.0, 0.05) > 2 * mean_reach(1.0, 1.0)
    assert return_rate(0.05, 1.0) > 0.9 > return_rate(1.0, 1.0)


def test_walks_do_not_depend_on_the_thread_count(communities):
    graph, _ = communities
    for p, q in [(1.0, 1.0), (0.5, 2.0)]:
        one = _walks(graph.adjacency, p=p, q=q, n_threads=1, seed=3)
        two = _walks(graph.adjacency, p=p, q=q, n_threads=2, seed=3)
        assert np.array_equal(one, two)
        assert not np.array_equal(one, _walks(graph.adjacency, p=p, q=q, seed=4))


def test_shape_keys_and_one_thread_is_bit_identical(communities):
    graph, _ = communities
    params = {**SMALL, "p": 0.5, "q": 2.0, "n_threads": 1, "seed": 5}
    first = Node2Vec(params).fit(Dataset(graph=graph)).embeddings
    second = Node2Vec(params).fit(Dataset(graph=graph)).embeddings
    assert first.vectors.shape == (200, 16) and first.vectors.dtype == np.float32
    assert first.keys.tolist() == graph.index_to_key.tolist()
    assert first.entity_names() == ["node"]
    assert np.array_equal(first.vectors, second.vectors)
    other = Node2Vec({**params, "seed": 6}).fit(Dataset(graph=graph)).embeddings
    assert not np.array_equal(first.vectors, other.vectors)


@pytest.mark.parametrize("trainer", ["numba", "gensim"])
def test_two_communities_are_separated_by_cosine(trainer, communities):
    graph, blocks = communities
    params = {**SMALL, "trainer": trainer, "n_threads": 2, "seed": 1}
    vectors = Node2Vec(params).fit(Dataset(graph=graph)).embeddings.vectors
    assert np.isfinite(vectors).all()
    assert _community_margin(vectors, blocks) > 0.3


@pytest.mark.parametrize("trainer", ["numba", "gensim"])
def test_summed_input_and_output_vectors_also_separate_communities(trainer, communities):
    graph, blocks = communities
    params = {**SMALL, "trainer": trainer, "n_threads": 1, "seed": 2}
    dataset = Dataset(graph=graph)
    summed = Node2Vec({**params, "vectors": "sum"}).fit(dataset).embeddings.vectors
    assert np.isfinite(summed).all()
    assert _community_margin(summed, blocks) > 0.3
    inputs = Node2Vec(params).fit(dataset).embeddings.vectors
    assert not np.allclose(summed, inputs)


def test_subsampling_and_more_epochs_still_separate_communities(communities):
    graph, blocks = communities
    params = {**SMALL, "sample": 1e-2, "epochs": 2, "n_threads": 1}
    vectors = Node2Vec(params).fit(Dataset(graph=graph)).embeddings.vectors
    assert _community_margin(vectors, blocks) > 0.3


@pytest.mark.parametrize("trainer", ["numba", "gensim"])
def test_isolated_and_sink_nodes_get_finite_vectors(trainer):
    # nodes 4 and 5 are isolated; 6 only has an in-edge
    dense = np.zeros((7, 7))
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 0), (1, 3)]:
        dense[a, b] = dense[b, a] = 1.0
    dense[2, 6] = 1.0
    graph = _graph(dense, directed=True)
    table = Node2Vec({**SMALL, "trainer": trainer}).fit(Dataset(graph=graph)).embeddings
    assert table.vectors.shape == (7, 16)
    assert np.isfinite(table.vectors).all()
    assert (np.linalg.norm(table.vectors[[4, 5]], axis=1) > 0).all()


def test_a_graph_without_edges_still_fits():
    table = Node2Vec(SMALL).fit(Dataset(graph=_graph(sp.csr_matrix((3, 3))))).embeddings
    assert table.vectors.shape == (3, 16) and np.isfinite(table.vectors).all()


@pytest.mark.parametrize(
    "bad",
    [
        {"p": 0},
        {"q": -1.0},
        {"p": float("inf")},
        {"q": float("nan")},
        {"window": 0},
        {"dim": 0},
        {"walk_length": 0},
        {"negative": 0},
        {"learning_rate": 0},
        {"trainer": "torch"},
        {"vectors": "output"},
        {"n_threads": 0},
        {"unknown": 1},
    ],
)
def test_bad_params_are_refused_with_the_field_named(bad):
    with pytest.raises(pydantic.ValidationError) as excinfo:
        Node2Vec(bad)
    assert next(iter(bad)) in str(excinfo.value)


@pytest.mark.parametrize("weight", [-1.0, np.nan])
def test_negative_or_nan_weights_are_refused(weight):
    adjacency = _undirected(3, [(0, 1, 1.0), (1, 2, weight)])
    with pytest.raises(DataError, match="weights"):
        Node2Vec(SMALL).fit(Dataset(graph=_graph(adjacency)))


def test_an_empty_graph_is_refused():
    empty = Graph("node", np.array([], dtype=object), sp.csr_matrix((0, 0)))
    with pytest.raises(DataError, match="at least one node"):
        Node2Vec(SMALL).fit(Dataset(graph=empty))


def test_a_dataset_without_a_graph_names_the_spec_section():
    with pytest.raises(DataError, match=r"node2vec.*data\.edges"):
        Node2Vec(SMALL).fit(Dataset())


def test_registered_and_progress_reported_per_stage(communities):
    # through the entry point, as a plugin would be found (without loading the others)
    assert entry_points(group="embank.algorithms")["node2vec"].load() is Node2Vec
    graph, _ = communities
    steps: dict[str, list[float]] = {}

    class Recorder:
        @contextmanager
        def task(self, description: str, total: float | None = None) -> Iterator[object]:
            done = steps.setdefault(description, [total or 0, 0])

            class Task:
                def advance(self, n: float = 1) -> None:
                    done[1] += n

            yield Task()

    Node2Vec({**SMALL, "epochs": 2}).fit(Dataset(graph=graph), Recorder())
    assert steps == {"node2vec: walks": [10, 10], "node2vec: training (numba)": [2, 2]}


def test_alias_table_draws_in_proportion():
    weights = np.array([0.0, 1.0, 2.0, 7.0])
    prob, alias = alias_table(weights)
    # probability of i: (prob[i] + sum of (1 - prob[j]) over j aliased to i) / n
    mass = prob.copy()
    np.add.at(mass, alias, 1.0 - prob)
    np.testing.assert_allclose(mass / weights.size, weights / weights.sum(), atol=1e-12)
