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
