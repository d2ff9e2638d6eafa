"""Neighbours over HTTP through a saved index and through a relation equal the Python API."""

from __future__ import annotations

import numpy as np

from embank.ann.stored import build_version_index
from embank.vector_table import VectorTable

NEIGHBORS = "/tables/demo/users/neighbors"


def test_http_neighbors_through_a_saved_index_equal_python(client, bank):
    build_version_index(bank, bank.get("demo/users@2"), kind="hnswlib", n_queries=60)
    emb = bank.get("demo/users@2")
    assert emb.saved_index().ann("user").kind == "hnswlib"
    for key in ("u0", "u7", "u99"):
        body = client.post(NEIGHBORS, json={"key": key, "k": 8, "exclude": ["u1"]}).json()
        expected = emb.neighbors(key, k=8, exclude=["u1"])
        assert body["neighbors"] == [n.model_dump() for n in expected]
        assert len(expected) == 8 and "u1" not in {n.key for n in expected}
    query = np.linspace(-1, 1, 8).astype(np.float32)
    body = client.post(NEIGHBORS, json={"vector": query.tolist(), "k": 5}).json()
    assert body["neighbors"] == [n.model_dump() for n in emb.neighbors_by_vector(query, k=5)]


def test_http_neighbors_through_a_relation_equal_python(client, bank):
    rng = np.random.default_rng(0)
    n_users, n_items, dim = 40, 30, 6
    entities = ["user"] * n_users + ["item"] * n_items
    keys = [f"u{i}" for i in range(n_users)] + [f"i{i}" for i in range(n_items)]
    vectors = rng.standard_normal((n_users + n_items, dim))
    operators = {
        "likes": {
            "operator": "translation",
            "src_entity": "user",
            "dst_entity": "item",
            "params": rng.standard_normal(dim).tolist(),
        }
    }
    bank.publish(
        "demo/graph",
        VectorTable(entities, keys, vectors),
        metric="dot",
        lineage={"algorithm": {"relation_operators": operators}},
    )
    emb = bank.get("demo/graph")
    body = client.post(
        "/tables/demo/graph/neighbors",
        json={"key": "u3", "entity": "user", "k": 5, "relation": "likes"},
    ).json()
    expected = emb.neighbors("u3", k=5, entity="user", relation="likes")
    assert body["neighbors"] == [n.model_dump() for n in expected]
    assert {n["entity"] for n in body["neighbors"]} == {"item"}
    # a translation under dot: the model's own score, e_s . (e_d + t)
    user = emb.vectors(["u3"], entity="user")[0].astype(np.float64)
    item = emb.vectors([expected[0].key], entity="item")[0].astype(np.float64)
    model = user @ (item + np.asarray(operators["likes"]["params"]))
    assert np.isclose(expected[0].score, model, rtol=1e-4)
    missing = client.post(
        "/tables/demo/graph/neighbors",
        json={"key": "u3", "entity": "user", "k": 5, "relation": "follows"},
    )
    assert missing.status_code == 404 and "likes" in missing.text


def test_neighbors_run_inline_only_when_quick(client, bank, monkeypatch):
    """An open version with a loaded index, or small enough to scan, answers on the event
    loop; otherwise (not open yet, or a large scan) the search runs in a worker thread."""
    from embank.serve.routes import vectors

    hops = []

    async def counted(func, *args):
        hops.append(func.__name__)
        return func(*args)

    monkeypatch.setattr(vectors, "run_in_threadpool", counted)
    first = client.post(NEIGHBORS, json={"key": "u0", "k": 3})
    assert first.status_code == 200 and hops == ["embedding", "_neighbors_answer"]
    hops.clear()
    again = client.post(NEIGHBORS, json={"key": "u0", "k": 3})  # open now, 120 x 8 rows
    assert again.json() == first.json() and hops == []
    monkeypatch.setattr(vectors, "INLINE_EXACT_VALUES", 100)  # as if the table were large
    client.post(NEIGHBORS, json={"key": "u0", "k": 3})
    assert hops == ["embedding", "_neighbors_answer"]
