"""The one-row fast path (``neighbors(key)``): ``RowMappedIndex.search_one`` and
``search_row`` give exactly what the checked, batch path gives."""

from __future__ import annotations

import numpy as np
import pytest

from embank.ann import index_kinds
from embank.ann.entities import RowMappedIndex
from embank.ann.hnsw import HnswlibIndex

from .conftest import clustered

pytest.importorskip("hnswlib")

KINDS = {
    "hnswlib": {"M": 12, "ef_construction": 60, "ef": 12},
    "faiss-hnsw": {"M": 12, "ef_construction": 60, "ef": 12},
    "ivfpq": {"nlist": 16, "m": 8, "nbits": 6, "refine_factor": 4, "nprobe": 3},
    "exact": {},
}


def _table(shape: str) -> np.ndarray:
    if shape == "clustered":
        return clustered(1500, seed=7)
    if shape == "ties":  # every vector four times: rows whose scores tie exactly
        return np.repeat(clustered(300, seed=8), 4, axis=0)
    return np.random.default_rng(9).standard_normal((1500, 16)).astype(np.float32)


@pytest.mark.parametrize("shape", ["clustered", "random", "ties"])
@pytest.mark.parametrize("layout", ["contiguous", "interleaved"])
@pytest.mark.parametrize("metric", ["cosine", "dot"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_search_one_answers_what_search_answers(kind, metric, layout, shape):
    if kind in ("faiss-hnsw", "ivfpq"):
        pytest.importorskip("faiss")
    vectors = _table(shape)
    inner = index_kinds.get(kind).build(vectors, metric, KINDS[kind], n_threads=1)
    n = len(vectors)
    table_rows = 40 + np.arange(n) if layout == "contiguous" else 3 * np.arange(n) + 1
    index = RowMappedIndex(inner, table_rows, "node")
    for i in np.random.default_rng(0).choice(n, 60, replace=False):
        query = np.ascontiguousarray(vectors[i : i + 1])
        for k in (1, 11, n + 5):  # n + 5: more than the index holds
            rows, scores = index.search(query, k)
            got_rows, got_scores = index.search_one(query, k)
            assert got_rows == rows[0].tolist()
            # the same float32 values, bit for bit (NaN where padded)
            assert np.array_equal(np.float32(got_scores), scores[0], equal_nan=True)


def test_hnswlib_leaves_ef_alone_yet_walks_as_wide(vectors, queries):
    """hnswlib walks with max(ef, k) itself: not setting ef = k per call changes nothing,
    and an ef asked for one call is still honoured and undone."""
    index = HnswlibIndex.build(vectors, "cosine", {"M": 8, "ef_construction": 40, "ef": 5})
    for k in (3, 5, 40):
        rows, scores = index.search(queries, k)
        index._graph.set_ef(max(5, k))  # what the search did before
        labels, distances = index._graph.knn_query(queries, k=k)
        index._graph.set_ef(5)
        assert np.array_equal(rows, labels.astype(np.int64))
        assert np.array_equal(scores, (1.0 - distances).astype(np.float32))
        assert np.array_equal(index.search_prepared(queries, k)[0], rows)
    wide, _ = index.search(queries, 10, ef=200)
    index._graph.set_ef(200)
    labels, _ = index._graph.knn_query(queries, k=10)
    index._graph.set_ef(5)
    assert np.array_equal(wide, labels.astype(np.int64)) and index.ef == 5
    assert np.array_equal(index.search(queries, 10)[0], index.search_prepared(queries, 10)[0])


def test_a_graph_short_of_k_falls_back_to_exact_scores():
    # 6 rows, k 6, ef 1: hnswlib may refuse; either way every row comes back, best first
    vectors = clustered(6, seed=2)
    index = HnswlibIndex.build(vectors, "dot", {"M": 2, "ef_construction": 8, "ef": 1})
    rows, scores = index.search_prepared(np.ascontiguousarray(vectors[:1]), 6)
    assert sorted(rows[0].tolist()) == list(range(6))
    assert (np.diff(scores[0]) <= 1e-6).all()
    assert np.array_equal(rows, index.search(vectors[:1], 6)[0])
