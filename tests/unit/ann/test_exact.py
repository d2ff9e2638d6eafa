import numpy as np
import pytest

from embank.ann.exact import ExactIndex
from embank.errors import ValidationError


def _brute(vectors, queries, metric, k):
    if metric == "cosine":
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k], np.sort(scores, axis=1)[:, ::-1][
        :, :k
    ]


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_matches_brute_force_across_chunks(metric, monkeypatch):
    monkeypatch.setattr("embank.ann.exact._CHUNK_ROWS", 97)  # force several chunks
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((1000, 12)).astype(np.float32)
    queries = rng.standard_normal((7, 12)).astype(np.float32)
    rows, scores = ExactIndex(vectors, metric).search(queries, 10)
    want_rows, want_scores = _brute(vectors, queries, metric, 10)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)


def test_row_range_and_exclude():
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((200, 4)).astype(np.float32)
    index = ExactIndex(vectors, "dot")
    rows, _ = index.search(vectors[:1], 5, rows=(100, 200))
    assert ((rows >= 100) & (rows < 200)).all()
    full, _ = index.search(vectors[:1], 3)
    excluded, _ = index.search(vectors[:1], 3, exclude=[{int(full[0, 0])}])
    assert full[0, 0] not in excluded[0]
    assert list(excluded[0, :2]) == list(full[0, 1:3])


def test_bad_queries_rejected():
    index = ExactIndex(np.ones((3, 2), dtype=np.float32), "cosine")
    with pytest.raises(ValidationError, match="dimension"):
        index.search(np.ones((1, 3)), 1)
    with pytest.raises(ValidationError, match="finite"):
        index.search(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(ValidationError, match="zero query"):
        index.search(np.zeros((1, 2)), 1)
