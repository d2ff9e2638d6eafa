import numpy as np
import pytest
import scipy.sparse as sp

from embank.benchmarks import BenchmarkInputs, benchmarks
from embank.benchmarks.follow_jaccard import FollowJaccard
from embank.data.graph import Graph
from embank.errors import DataError
from embank.vector_table import VectorTable


def _graph(n=200, seed=0):
    rng = np.random.default_rng(seed)
    group = np.arange(n) % 4
    same = group[:, None] == group[None, :]
    dense = np.triu(rng.random((n, n)) < np.where(same, 0.2, 0.01), 1)
    dense = dense | dense.T
    keys = np.array([f"n{i:03d}" for i in range(n)], dtype=object)
    return Graph("user", keys, sp.csr_matrix(dense.astype(np.float64))), dense


def test_adjacency_rows_track_jaccard_random_does_not():
    graph, dense = _graph()
    # an adjacency row as a vector: cosine of rows is close to set overlap
    table = VectorTable.single_entity("user", graph.index_to_key, dense.astype(np.float32) + 1e-3)
    result = FollowJaccard({"n_users": 100}).run(table, BenchmarkInputs(graph=graph))
    figures = {f.name: f for f in result.figures}
    assert set(figures) == {"follow_jaccard.spearman", "follow_jaccard.overlap_at_10"}
    spearman = figures["follow_jaccard.spearman"]
    assert spearman.value > 0.8 and abs(spearman.baseline) < 0.2
    overlap = figures["follow_jaccard.overlap_at_10"]
    assert overlap.value > 0.5 and overlap.baseline < 0.2
    assert overlap.sample_size == 100


def test_deterministic_registered_and_needs_a_graph():
    graph, dense = _graph()
    table = VectorTable.single_entity("user", graph.index_to_key, dense.astype(np.float32) + 1e-3)
    first = [f.value for f in FollowJaccard().run(table, BenchmarkInputs(graph=graph)).figures]
    again = [f.value for f in FollowJaccard().run(table, BenchmarkInputs(graph=graph)).figures]
    assert first == again
    assert benchmarks.get("follow_jaccard") is FollowJaccard
    with pytest.raises(DataError, match=r"needs data.edges"):
        FollowJaccard().run(table, BenchmarkInputs())


def _path_graph():
    """0-1, 0-2, 1-2, 2-3, 3-4: N(0)={1,2} N(1)={0,2} N(2)={0,1,3} N(3)={2,4} N(4)={3}."""
    rows, cols = zip((0, 1), (0, 2), (1, 2), (2, 3), (3, 4), strict=True)
    upper = sp.coo_matrix((np.ones(5, dtype=np.float32), (rows, cols)), shape=(5, 5))
    return (upper + upper.T).tocsr()


def test_jaccard_and_top_jaccard_by_hand():
    from embank.benchmarks.follow_jaccard import _jaccard, _top_jaccard

    adjacency = _path_graph()
    # J(0,1) = |{2}| / |{0,1,2}|; J(0,4) = 0; J(2,4) = |{3}| / |{0,1,3}|; J(1,3) = |{2}| / |{0,2,4}|
    got = _jaccard(adjacency, np.array([0, 0, 2, 1]), np.array([1, 4, 4, 3]))
    assert np.allclose(got, [1 / 3, 0, 1 / 3, 1 / 3])
    # user 0: J(0,1) = J(0,3) = 1/3 > J(0,2) = 1/4 > J(0,4) = 0; ties by id, never itself
    assert _top_jaccard(adjacency, np.array([0]), 2) == {0: {1, 3}}
    assert _top_jaccard(adjacency, np.array([0]), 3) == {0: {1, 2, 3}}
    assert _top_jaccard(adjacency, np.array([0]), 4) == {0: {1, 2, 3, 4}}  # padded with 4
    assert _top_jaccard(adjacency, np.array([4]), 2) == {4: {2, 0}}  # J(4,2)=1/3, then id 0


def test_spearman_and_overlap_by_hand():
    from embank.benchmarks.follow_jaccard import _scores

    angles = np.radians([0, 10, 60, 120, 170])  # cosine with node 0 falls with the angle
    vectors = np.column_stack([np.cos(angles), np.sin(angles)]).astype(np.float32)
    users, others = np.zeros(4, dtype=int), np.arange(1, 5)
    rising = np.array([0.1, 0.2, 0.3, 0.4])
    assert _scores(vectors, users, others, rising[::-1], {0: {1}}, 1) == (1.0, 1.0)
    spearman, overlap = _scores(vectors, users, others, rising, {0: {4}}, 1)
    assert (spearman, overlap) == (-1.0, 0.0)
    # k = 2: node 0's nearest are 1 and 2; of the highest-Jaccard {1, 4} one is among them
    assert _scores(vectors, users, others, rising, {0: {1, 4}}, 2)[1] == 0.5
