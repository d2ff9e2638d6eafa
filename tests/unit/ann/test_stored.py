"""A version's saved index: built, recorded, used by neighbors(), never for another version."""

from __future__ import annotations

import numpy as np
import pytest

import embank
from embank.ann.stored import build_version_index, load_version_index
from embank.errors import NotFoundError, ValidationError
from embank.store.artifacts import INLINE
from embank.vector_table import VectorTable

from .conftest import clustered


def _co_table(n_users: int, n_items: int, dim: int = 16, seed: int = 0) -> VectorTable:
    vectors = clustered(n_users + n_items, dim=dim, seed=seed)
    keys = [f"u{i}" for i in range(n_users)] + [f"i{i}" for i in range(n_items)]
    entities = ["user"] * n_users + ["item"] * n_items
    return VectorTable(np.array(entities, dtype=object), np.array(keys, dtype=object), vectors)


@pytest.fixture
def bank(tmp_path):
    bank = embank.open(tmp_path / "bank")
    yield bank
    bank.close()


def _recall(found: list[str], truth: list[str]) -> float:
    return len(set(found) & set(truth)) / len(truth)


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_neighbors_use_the_saved_index_and_match_exact(bank, metric):
    bank.publish("demo/co", _co_table(3000, 400), metric=metric, entities=["user", "item"])
    embedding = bank.get("demo/co")
    meta = build_version_index(bank, embedding, kind="hnswlib", n_queries=300)
    assert meta["kind"] == "hnswlib" and meta["metric"] == metric
    assert set(meta["entities"]) == {"item", "user"}
    assert meta["recall_at_10"] >= 0.95 and meta["reached_target"]
    for entity, info in meta["entities"].items():
        assert info["report"]["entity"] == entity and info["report"]["ef"] >= 10

    served = bank.get("demo/co")
    saved = served.saved_index()
    assert saved is not None and saved.ann("user") is not None and saved.ann("item") is not None
    rng = np.random.default_rng(3)
    recalls = []
    for i in rng.choice(3000, 100, replace=False):
        key = f"u{i}"
        for target in ("user", "item"):
            got = served.neighbors(key, k=10, entity="user", target=target)
            want = _exact(served, key, target)
            assert len(got) == 10 and {n.entity for n in got} == {target}
            assert [n.score for n in got] == sorted((n.score for n in got), reverse=True)
            recalls.append(_recall([n.key for n in got], want))
    assert np.mean(recalls) >= 0.95


def _exact(embedding, key: str, target: str, k: int = 10, exclude=()) -> list[str]:
    from embank.ann.search import search_version

    row = embedding.rows([key], "user")[0]
    query = np.asarray(embedding.to_numpy()[row])[None, :]
    skip = {int(row)} | {int(r) for r in embedding.rows(list(exclude), target) if r >= 0}
    found, _ = search_version(embedding, query, k, target, [skip], exact=True)
    return [embedding.keys[r] for r in found[0] if r >= 0]


def test_exclude_with_an_index_still_answers_k_and_never_the_excluded(bank):
    bank.publish("demo/co", _co_table(3000, 400), entities=["user", "item"])
    build_version_index(bank, bank.get("demo/co"), kind="hnswlib", n_queries=200)
    embedding = bank.get("demo/co")
    first = [n.key for n in embedding.neighbors("u1", k=50, entity="user", target="item")]
    # exclude the 50 best, and most of the rest of the items: the search must still find 10
    drop = first + [f"i{i}" for i in range(380) if f"i{i}" not in first][:330]
    got = embedding.neighbors("u1", k=10, entity="user", target="item", exclude=drop)
    assert len(got) == 10 and not {n.key for n in got} & set(drop)
    assert [n.key for n in got] == _exact(embedding, "u1", "item", exclude=drop)


def test_a_small_table_gets_an_exact_index_without_files(bank):
    bank.publish("demo/small", _co_table(500, 0), metric="dot")
    embedding = bank.get("demo/small")
    meta = build_version_index(bank, embedding, n_queries=100)
    row = bank.artifact("demo/small", 1, "index")
    assert row is not None and row.path == INLINE and row.meta == meta
    assert meta["kind"] == "exact" and meta["recall_at_10"] == 1.0
    saved = bank.get("demo/small").saved_index()
    assert saved is not None and saved.ann("user") is None  # searched exactly


def test_the_index_of_one_version_is_never_used_for_another(bank):
    bank.publish("demo/co", _co_table(2000, 10), entities=["user", "item"])
    build_version_index(bank, bank.get("demo/co@1"), kind="hnswlib", n_queries=100)
    bank.publish("demo/co", _co_table(2000, 10, seed=5), entities=["user", "item"])
    v1, v2 = bank.get("demo/co@1"), bank.get("demo/co@2")
    assert v1.saved_index() is not None and v2.saved_index() is None
    # a row that claims v1's index for v2 (a copied registry row, say) is refused
    stolen = bank.artifact("demo/co", 1, "index")
    bank.put_artifact("demo/co", 2, "index", stolen.meta, stolen.path)
    assert load_version_index(bank, bank.get("demo/co@2")) is None
    got = [n.key for n in v2.neighbors("u3", k=10, entity="user", target="user")]
    assert got == _exact(v2, "u3", "user")


def test_unknown_kinds_and_targets_are_refused(bank):
    bank.publish("demo/small", _co_table(100, 0))
    with pytest.raises(ValidationError, match="index kind"):
        build_version_index(bank, bank.get("demo/small"), kind="annoy")
    with pytest.raises(ValidationError, match="recall target"):
        build_version_index(bank, bank.get("demo/small"), recall_target=1.5)


def test_a_relation_moves_the_query_through_its_operator(bank):
    rng = np.random.default_rng(0)
    table = _co_table(300, 200, dim=8)
    weights = rng.uniform(0.2, 2.0, 8)
    operators = {
        "likes": {
            "operator": "diagonal",
            "src_entity": "user",
            "dst_entity": "item",
            "params": weights.tolist(),
        }
    }
    bank.publish(
        "demo/graph",
        table,
        metric="dot",
        entities=["user", "item"],
        lineage={"algorithm": {"relation_operators": operators}},
    )
    embedding = bank.get("demo/graph")
    user = embedding.vectors(["u5"], entity="user")[0].astype(np.float64)
    lo, hi = embedding.local.entity_ranges["item"]
    items = np.asarray(embedding.to_numpy()[lo:hi], dtype=np.float64)
    scores = (items * weights) @ user  # the model's score: e_s . op(e_d)
    want = [embedding.keys[lo + i] for i in np.argsort(-scores)[:5]]
    got = embedding.neighbors("u5", k=5, entity="user", relation="likes")
    assert [n.key for n in got] == want and {n.entity for n in got} == {"item"}
    assert np.allclose([n.score for n in got], np.sort(scores)[::-1][:5], rtol=1e-4)
    # from the item side: the users whose vectors score highest against op(e_item)
    item = embedding.vectors(["i7"], entity="item")[0].astype(np.float64)
    lo_u, hi_u = embedding.local.entity_ranges["user"]
    users = np.asarray(embedding.to_numpy()[lo_u:hi_u], dtype=np.float64)
    want_users = [embedding.keys[lo_u + i] for i in np.argsort(-(users @ (item * weights)))[:5]]
    got = embedding.neighbors("i7", k=5, entity="item", relation="likes")
    assert [n.key for n in got] == want_users
    with pytest.raises(NotFoundError, match="likes"):
        embedding.neighbors("u5", k=5, entity="user", relation="follows")


def test_an_entity_type_of_one_row_is_indexed_too(bank):
    # its only query excludes itself and has nothing to find: recall counts it as whole
    bank.publish("demo/co", _co_table(200, 1), entities=["user", "item"])
    meta = build_version_index(bank, bank.get("demo/co"), kind="hnswlib", n_queries=50)
    assert meta["entities"]["item"]["report"]["recall_at_10"] == 1.0
    assert meta["entities"]["item"]["report"]["n_queries"] == 1
    found = bank.get("demo/co").neighbors("u3", k=5, entity="user", target="item")
    assert [n.key for n in found] == ["i0"]
