"""``neighbors(key)`` takes a lean path (the query is a stored row, checked at publish):
its answers equal the general, checked path's (``_search``, which ``neighbors_by_vector``
uses) to the last bit, and exact search's where the version is searched exactly."""

from __future__ import annotations

import numpy as np
import pytest

import embank
from embank.ann.search import search_version
from embank.ann.stored import build_version_index
from embank.errors import NotFoundError, ValidationError
from embank.store.models import Neighbor
from embank.vector_table import VectorTable

pytest.importorskip("hnswlib")

N_USERS, N_ITEMS, DIM = 1200, 900, 16


def _vectors(shape: str, n_rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if shape == "random":
        return rng.standard_normal((n_rows, DIM)).astype(np.float32)
    centers = rng.standard_normal((25, DIM)) * 3
    vectors = centers[rng.integers(0, 25, n_rows)] + rng.standard_normal((n_rows, DIM))
    vectors *= rng.lognormal(0.0, 0.5, size=(n_rows, 1))  # cosine and dot disagree
    if shape == "ties":  # each vector three times: scores that tie exactly
        vectors = np.repeat(vectors[: n_rows // 3 + 1], 3, axis=0)[:n_rows]
    return vectors.astype(np.float32)


def _co_table(shape: str) -> VectorTable:
    vectors = _vectors(shape, N_USERS + N_ITEMS, seed=11)
    keys = [f"u{i}" for i in range(N_USERS)] + [f"i{i}" for i in range(N_ITEMS)]
    entities = ["user"] * N_USERS + ["item"] * N_ITEMS
    return VectorTable(np.array(entities, dtype=object), np.array(keys, dtype=object), vectors)


@pytest.fixture(scope="module", params=["random", "clustered", "ties"])
def versions(request, tmp_path_factory):
    """One bank, one table per (metric, index kind): {(metric, kind): embedding}."""
    bank = embank.open(tmp_path_factory.mktemp("bank") / "bank")
    kinds = ["exact", "hnswlib"]
    try:
        import faiss  # noqa: F401

        kinds.append("faiss-hnsw")
    except ImportError:
        pass
    found = {}
    for metric in ("cosine", "dot"):
        for kind in kinds:
            name = f"t/{metric}_{kind.replace('-', '_')}"
            bank.publish(name, _co_table(request.param), metric=metric, entities=["user", "item"])
            build_version_index(bank, bank.get(name), kind=kind, n_queries=100, n_threads=1)
            embedding = bank.get(name)
            assert embedding.saved_index() is not None
            found[metric, kind] = embedding
    yield found
    bank.close()


def _general(embedding, key, k, entity, target=None, exclude=()):
    """What ``neighbors(key)`` answered before its lean path: every check, batch search."""
    row = int(embedding.rows([key], entity)[0])
    query = np.asarray(embedding.to_numpy()[row], dtype=np.float32)
    skip = {row} | {int(r) for r in embedding.rows(list(exclude), target or entity) if r >= 0}
    return embedding._search(query, k, target, skip)


def _exact(embedding, key, k, entity, target=None, exclude=()):
    row = int(embedding.rows([key], entity)[0])
    query = np.asarray(embedding.to_numpy()[row : row + 1], dtype=np.float32)
    skip = {row} | {int(r) for r in embedding.rows(list(exclude), target or entity) if r >= 0}
    found, scores = search_version(embedding, query, k, target, [skip], exact=True)
    return [
        (embedding.keys[r], float(s)) for r, s in zip(found[0], scores[0], strict=True) if r >= 0
    ]


def _cases(embedding):
    rng = np.random.default_rng(5)
    users = [f"u{i}" for i in rng.choice(N_USERS, 15, replace=False)]
    items = [f"i{i}" for i in rng.choice(N_ITEMS, 10, replace=False)]
    for key in users:
        yield key, "user", None, ()  # both types, merged by score
        yield key, "user", "user", ()
        yield key, "user", "item", ()
        seen = [n.key for n in embedding.neighbors(key, k=8, entity="user", target="item")]
        yield key, "user", "item", [*seen[::2], "i-not-a-key"]
    for key in items:
        yield key, "item", "item", [f"i{j}" for j in range(0, N_ITEMS, 3)]  # a third gone


@pytest.mark.parametrize("k", [1, 10, 40])
def test_same_answers_as_the_general_path(versions, k):
    for (_metric, _kind), embedding in versions.items():
        for key, entity, target, exclude in _cases(embedding):
            got = embedding.neighbors(key, k=k, entity=entity, target=target, exclude=exclude)
            want = _general(embedding, key, k, entity, target, exclude)
            assert all(type(n) is Neighbor for n in got)
            assert [n.model_dump() for n in got] == [n.model_dump() for n in want]
            assert got == want


def test_exact_versions_answer_what_exact_search_answers(versions):
    recalls = []
    for (_metric, kind), embedding in versions.items():
        for key, entity, target, exclude in _cases(embedding):
            got = embedding.neighbors(key, k=10, entity=entity, target=target, exclude=exclude)
            pairs = [(n.key, n.score) for n in got]
            if kind == "exact":
                want = _exact(embedding, key, 10, entity, target, exclude)
                assert [s for _, s in pairs] == [s for _, s in want]
                # ties are ordered by row; which of the rows tied at the k-th score make
                # the cut is exact search's choice (argpartition), the same either way
                last = want[-1][1]
                assert [p for p in pairs if p[1] > last] == [w for w in want if w[1] > last]
            else:  # an ANN: its scores are the rows' true scores, its rows near the best
                rows = np.array([embedding.rows([n.key], n.entity)[0] for n in got])
                row = embedding.rows([key], entity)
                query = np.asarray(embedding.to_numpy()[row], dtype=np.float32)
                true = embedding._index.score(query, rows[None, :])[0]
                assert np.allclose([n.score for n in got], true, atol=1e-4)
                cut = _exact(embedding, key, 10, entity, target, exclude)[-1][1]
                recalls.append(np.mean(true >= cut - 1e-4 * max(1.0, abs(cut))))
    assert np.mean(recalls) >= 0.95


def test_padding_when_k_exceeds_the_target_rows(versions):
    for embedding in versions.values():
        drop = [f"i{j}" for j in range(N_ITEMS - 5)]  # 5 items left
        got = embedding.neighbors("u3", k=20, entity="user", target="item", exclude=drop)
        assert sorted(n.key for n in got) == [f"i{j}" for j in range(N_ITEMS - 5, N_ITEMS)]
        assert got == _general(embedding, "u3", 20, "user", "item", drop)
        everything = embedding.neighbors("i0", k=N_ITEMS + 50, entity="item", target="item")
        assert len(everything) == N_ITEMS - 1 and "i0" not in {n.key for n in everything}


def test_errors_are_unchanged(versions):
    embedding = versions["cosine", "hnswlib"]
    with pytest.raises(ValidationError, match="k must be at least 1"):
        embedding.neighbors("u1", k=0, entity="user")
    with pytest.raises(ValidationError, match="whole number"):
        embedding.neighbors("u1", k=True, entity="user")
    with pytest.raises(NotFoundError, match="not in"):
        embedding.neighbors("nobody", k=3, entity="user")
    with pytest.raises(NotFoundError, match="no entity type"):
        embedding.neighbors("u1", k=3, entity="user", target="shop")


def test_searches_quickly(tmp_path):
    bank = embank.open(tmp_path / "bank")
    bank.publish("t/small", _co_table("random"), entities=["user", "item"])
    embedding = bank.get("t/small")
    size = embedding.n_rows * embedding.dim
    # never looked for its index yet: the first query would read the registry
    assert not embedding.searches_quickly(size)
    embedding.neighbors("u1", k=3, entity="user")  # looks: none yet, exact search
    assert embedding._saved_index is None
    assert embedding.searches_quickly(size) and not embedding.searches_quickly(size - 1)
    build_version_index(bank, embedding, kind="hnswlib", n_queries=50, n_threads=1)
    loaded = bank.get("t/small")
    loaded.neighbors("u1", k=3, entity="user")
    assert loaded._saved_index is not None and loaded.searches_quickly(0)
    bank.close()
