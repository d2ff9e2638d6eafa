"""The contract every index kind passes: same answers as exact search, metrics, exclude,
allowed rows, save/load, and clear errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from embank.ann import ExactIndex, index_kinds, load_index
from embank.ann.base import Index
from embank.errors import ValidationError

pytest.importorskip("hnswlib")

# Search settings high enough that each kind is exact on 3,000 rows.
EXACT_ENOUGH = {
    "exact": ({}, {}),
    "hnswlib": ({"M": 16, "ef_construction": 100}, {"ef": 300}),
    "faiss-hnsw": ({"M": 16, "ef_construction": 100}, {"ef": 300}),
    "ivfpq": ({"nlist": 16, "m": 8, "nbits": 6, "refine_factor": 16}, {"nprobe": 16}),
}
KINDS = list(EXACT_ENOUGH)


def _needs(kind: str) -> None:
    if kind in ("faiss-hnsw", "ivfpq"):
        pytest.importorskip("faiss")


_built: dict[tuple[str, str, bytes], Index] = {}


def build(kind: str, vectors: np.ndarray, metric: str) -> tuple[Index, dict]:
    """The kind's index over ``vectors``, built once per test session (searches don't
    change it)."""
    _needs(kind)
    build_params, search_params = EXACT_ENOUGH[kind]
    key = (kind, metric, hashlib.sha1(vectors.tobytes()).digest())
    if key not in _built:
        # One thread: OpenMP threads spin badly when the cores are busy with other work.
        _built[key] = index_kinds.get(kind).build(vectors, metric, build_params, n_threads=1)
    return _built[key], search_params


@pytest.mark.parametrize("metric", ["cosine", "dot"])
@pytest.mark.parametrize("kind", KINDS)
def test_same_top_k_as_exact(kind, metric, vectors, queries):
    index, search = build(kind, vectors, metric)
    assert isinstance(index, Index)
    assert (index.kind, index.metric, index.n_rows, index.dim) == (kind, metric, 3000, 16)
    rows, scores = index.search(queries, 10, **search)
    want_rows, want_scores = ExactIndex(vectors, metric).search(queries, 10)
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    assert rows.shape == scores.shape == (len(queries), 10)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    if metric == "dot" and kind in ("hnswlib", "faiss-hnsw"):
        # An HNSW graph by inner product can leave a few rows unreachable whatever ef
        # (here 1-3 of 3,000): near-exact is what it can promise.
        found = sum(len(set(got) & set(want)) for got, want in zip(rows, want_rows, strict=True))
        assert found >= 0.99 * want_rows.size
        return
    for got, want in zip(rows, want_rows, strict=True):
        assert set(got) == set(want)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_dot_honours_norms_and_cosine_ignores_them(kind, vectors, queries):
    cosine, search = build(kind, vectors, "cosine")
    dot, _ = build(kind, vectors, "dot")
    top_cosine = cosine.search(queries, 1, **search)[0][:, 0]
    top_dot = dot.search(queries, 1, **search)[0][:, 0]
    norms = np.linalg.norm(vectors, axis=1)
    assert (top_cosine != top_dot).sum() >= len(queries) // 2
    assert norms[top_dot].mean() > 1.5 * norms[top_cosine].mean()  # dot favours long rows
    # Scaling a row up moves it to the top for dot search, never for cosine.
    scaled = vectors.copy()
    far = int(np.argmin(queries[0] @ vectors.T))
    scaled[far] = vectors[far] * 0 + queries[0] * 1000
    assert build(kind, scaled, "dot")[0].search(queries[:1], 1, **search)[0][0, 0] == far


@pytest.mark.parametrize("kind", KINDS)
def test_exclude_over_fetches(kind, vectors, queries):
    index, search = build(kind, vectors, "cosine")
    exact = ExactIndex(vectors, "cosine")
    full, _ = exact.search(queries, 60)
    per_query = [set(row[:50].tolist()) for row in full]  # the 50 best: more than k
    rows, _ = index.search(queries, 10, exclude=per_query, **search)
    want, _ = exact.search(queries, 10, exclude=per_query)
    for got, skip, expected in zip(rows, per_query, want, strict=True):
        assert not skip & set(got.tolist())
        assert set(got) == set(expected)
    shared = full[0, :5].tolist()  # one flat collection applies to every query
    rows, _ = index.search(queries, 5, exclude=shared, **search)
    assert not set(shared) & set(rows.ravel().tolist())


@pytest.mark.parametrize("kind", ["exact", "hnswlib", "faiss-hnsw"])  # ivfpq: too few to train
def test_excluding_nearly_everything_pads(kind, vectors):
    index, _ = build(kind, vectors[:40], "dot")
    rows, scores = index.search(vectors[:2], 5, exclude=list(range(38)))
    assert rows.shape == (2, 5)
    assert (np.sort(rows[:, :2], axis=1) == [38, 39]).all()
    assert (rows[:, 2:] == -1).all() and np.isnan(scores[:, 2:]).all()


@pytest.mark.parametrize("small_subset", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_allowed_rows(kind, small_subset, vectors, queries, monkeypatch):
    if not small_subset:  # force the library's own filter instead of scoring the subset
        monkeypatch.setattr("embank.ann.hnsw._BRUTE_FORCE_ALLOWED", 10)
        monkeypatch.setattr("embank.ann.faiss_index._BRUTE_FORCE_ALLOWED", 10)
    index, search = build(kind, vectors, "cosine")
    allowed = np.arange(0, 3000, 3)
    rows, _ = index.search(queries, 10, allowed=allowed, **search)
    want, _ = ExactIndex(vectors, "cosine").search(queries, 10, allowed=allowed)
    assert (rows % 3 == 0).all()
    for got, expected in zip(rows, want, strict=True):
        assert set(got) == set(expected)


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind, mmap, vectors, queries, tmp_path):
    index, search = build(kind, vectors, "cosine")
    before = index.search(queries, 10, **search)
    index.save(tmp_path / "index")
    loaded = load_index(tmp_path / "index", mmap=mmap)
    assert type(loaded) is type(index)
    assert (loaded.kind, loaded.metric, loaded.n_rows, loaded.params) == (
        index.kind,
        index.metric,
        index.n_rows,
        index.params,
    )
    after = loaded.search(queries, 10, **search)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_refused(kind, vectors):
    index, _ = build(kind, vectors[:500], "cosine")
    query = vectors[:1]
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValidationError, match="k must be"):
            index.search(query, k)
    with pytest.raises(ValidationError, match="dimension"):
        index.search(np.ones((1, 15), dtype=np.float32), 3)
    with pytest.raises(ValidationError, match="finite"):
        index.search(np.full((1, 16), np.nan, dtype=np.float32), 3)
    with pytest.raises(ValidationError, match="zero query"):
        index.search(np.zeros((1, 16), dtype=np.float32), 3)
    with pytest.raises(ValidationError, match="allowed rows"):
        index.search(query, 3, allowed=np.array([600]))
    with pytest.raises(ValidationError, match="one per query"):
        index.search(np.vstack([query, query]), 3, exclude=[{1}, {2}, {3}])


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "exact"])
def test_bad_build_input_is_refused(kind, vectors):
    _needs(kind)
    cls = index_kinds.get(kind)
    with pytest.raises(ValidationError, match="metric"):
        cls.build(vectors, "euclidean")
    with pytest.raises(ValidationError, match="finite"):
        cls.build(np.full((10, 4), np.nan, dtype=np.float32), "dot")
    with pytest.raises(ValidationError, match="no_such_param"):
        cls.build(vectors, "dot", {"no_such_param": 1})
