"""Lookups (JSON, Arrow, raw float32) and neighbours equal the Python API's answers; caps,
size limits and bad queries are JSON errors, never a 500."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embank.serve.formats import ARROW_STREAM, OCTET_STREAM, decode_arrow, decode_raw

LOOKUP = "/tables/demo/users/lookup"
NEIGHBORS = "/tables/demo/users/neighbors"
KEYS = ["u5", "u0", "nobody", "u119", "u5"]


def _served(response, name):
    assert response.headers["X-Embank-Version"] == name
    assert response.headers["X-Embank-Space"]


def test_json_lookup_equals_python_vectors(client, bank):
    emb = bank.get("demo/users")
    response = client.post(LOOKUP, json={"keys": KEYS})
    assert response.status_code == 200
    _served(response, "demo/users@2")
    body = response.json()
    assert (body["table"], body["version"], body["space_id"]) == (
        "demo/users",
        2,
        emb.space_id,
    )
    assert response.headers["X-Embank-Space"] == emb.space_id
    assert body["keys"] == KEYS
    assert body["found"] == [True, True, False, True, True]
    assert body["vectors"][2] is None
    expected = emb.vectors(KEYS, missing="nan")
    got = np.array([v if v is not None else [np.nan] * 8 for v in body["vectors"]], np.float32)
    np.testing.assert_array_equal(got, expected)  # float32 -> JSON -> float32 is exact


def test_arrow_lookup_equals_python_vectors(client, bank):
    emb = bank.get("demo/users@production")
    response = client.post(
        LOOKUP, json={"keys": KEYS, "version": "production"}, headers={"Accept": ARROW_STREAM}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == ARROW_STREAM
    _served(response, "demo/users@1")
    meta, table = decode_arrow(response.content)
    assert meta == {
        "embank.table": "demo/users",
        "embank.version": "1",
        "embank.space_id": emb.space_id,
    }
    assert table.column_names == ["key", "entity", "vector"]
    assert str(table.schema.field("vector").type) == "fixed_size_list<item: float>[8]"
    assert table.column("key").to_pylist() == KEYS
    assert set(table.column("entity").to_pylist()) == {"user"}
    vectors = table.column("vector").to_pylist()
    assert vectors[2] is None
    present = [i for i in range(len(KEYS)) if i != 2]
    expected = emb.vectors([KEYS[i] for i in present])
    np.testing.assert_array_equal(np.array([vectors[i] for i in present], np.float32), expected)


def test_raw_lookup_equals_python_vectors(client, bank):
    emb = bank.get("demo/users@1")
    response = client.post(
        LOOKUP, json={"keys": KEYS, "version": 1}, headers={"Accept": OCTET_STREAM}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == OCTET_STREAM
    _served(response, "demo/users@1")
    meta, vectors = decode_raw(response.content)
    assert meta["keys"] == KEYS
    assert meta["found"] == [True, True, False, True, True]
    assert (meta["version"], meta["space_id"], meta["dim"]) == (1, emb.space_id, 8)
    # the vectors start at a multiple of 8 bytes
    assert (4 + int.from_bytes(response.content[:4], "little")) % 8 == 0
    assert vectors.dtype == np.float32 and vectors.shape == (5, 8)
    np.testing.assert_array_equal(vectors, emb.vectors(KEYS, missing="nan"))


def test_accept_picks_the_first_binary_type_listed(client):
    both = f"{OCTET_STREAM}, {ARROW_STREAM};q=0.9"
    response = client.post(LOOKUP, json={"keys": ["u1"]}, headers={"Accept": both})
    assert response.headers["content-type"] == OCTET_STREAM
    for accept in ("*/*", "text/html", "application/json"):
        response = client.post(LOOKUP, json={"keys": ["u1"]}, headers={"Accept": accept})
        assert response.headers["content-type"] == "application/json"


def test_lookup_of_a_co_embedded_table_needs_the_entity(client, bank):
    emb = bank.get("demo/recs")
    response = client.post("/tables/demo/recs/lookup", json={"keys": ["1", 2]})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "usage_error"
    for entity in ("user", "item"):
        body = client.post(
            "/tables/demo/recs/lookup", json={"keys": ["1", 2], "entity": entity}
        ).json()
        assert body["keys"] == ["1", "2"]  # integer ids are decimal text
        assert body["entity"] == entity
        np.testing.assert_array_equal(
            np.array(body["vectors"], np.float32), emb.vectors(["1", "2"], entity=entity)
        )
    response = client.post("/tables/demo/recs/lookup", json={"keys": ["1"], "entity": "movie"})
    assert response.status_code == 404


def test_lookup_caps_and_limits(client):
    over = [f"u{i}" for i in range(10_001)]
    response = client.post(LOOKUP, json={"keys": over})
    assert response.status_code == 422
    assert "10000" in response.json()["error"]["message"]
    assert client.post(LOOKUP, json={"keys": over[:10_000]}).status_code == 200
    # a body over 1 MiB: 413 by Content-Length ...
    big = json.dumps({"keys": ["x" * 500] * 2_200}).encode()
    assert len(big) > 1 << 20
    response = client.post(LOOKUP, content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large_error"

    # ... and streamed without one (chunked)
    def chunks():
        for lo in range(0, len(big), 65_536):
            yield big[lo : lo + 65_536]

    response = client.post(LOOKUP, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["status"] == 413
    # a 10 MB body
    response = client.post(
        LOOKUP, content=b"[" * 10_000_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"keys": "u1"},
        {"keys": [None]},
        {"keys": [""]},
        {"keys": ["a\tb"]},
        {"keys": ["x" * 513]},
        {"keys": ["é" * 300]},
        {"keys": [1.5]},
        {"keys": [True]},
        {"keys": ["u1"], "version": 0},
        {"keys": ["u1"], "version": "no such alias!"},
        {"keys": ["u1"], "surprise": 1},
    ],
)
def test_bad_lookups_are_422(client, body):
    response = client.post(LOOKUP, json=body)
    assert response.status_code == 422, response.text
    assert set(response.json()["error"]) == {"type", "message", "status"}


def test_a_lone_surrogate_key_is_422(client):
    for route in (LOOKUP, NEIGHBORS):
        field = b"keys" if route == LOOKUP else b"key"
        value = b'["\\ud800"]' if route == LOOKUP else b'"\\ud800"'
        body = b'{"' + field + b'": ' + value + b"}"
        response = client.post(route, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert "UTF-8" in response.json()["error"]["message"]


def test_not_json_is_422(client):
    response = client.post(
        LOOKUP, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "request_validation_error"


def test_unknown_version_or_table_is_404(client):
    assert client.post(LOOKUP, json={"keys": ["u1"], "version": 9}).status_code == 404
    assert client.post(LOOKUP, json={"keys": ["u1"], "version": "staging"}).status_code == 404
    response = client.post("/tables/demo/none/lookup", json={"keys": ["u1"]})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_neighbors_by_key_equal_python(client, bank):
    emb = bank.get("demo/users")
    response = client.post(NEIGHBORS, json={"key": "u7", "k": 12, "exclude": ["u1", "u2"]})
    assert response.status_code == 200
    _served(response, "demo/users@2")
    body = response.json()
    assert (body["version"], body["space_id"], body["key"]) == (2, emb.space_id, "u7")
    expected = emb.neighbors("u7", k=12, exclude=["u1", "u2"])
    assert body["neighbors"] == [n.model_dump() for n in expected]


def test_neighbors_by_vector_equal_python(client, bank):
    emb = bank.get("demo/users@1")
    query = np.linspace(-1, 1, 8).astype(np.float32)
    response = client.post(NEIGHBORS, json={"vector": query.tolist(), "k": 5, "version": 1})
    _served(response, "demo/users@1")
    body = response.json()
    assert body["key"] is None
    expected = emb.neighbors_by_vector(query, k=5)
    assert body["neighbors"] == [n.model_dump() for n in expected]
    # exclude drops those keys and still answers k
    drop = [expected[0].key, expected[2].key]
    body = client.post(
        NEIGHBORS, json={"vector": query.tolist(), "k": 5, "version": 1, "exclude": drop}
    ).json()
    keys = [n["key"] for n in body["neighbors"]]
    assert len(keys) == 5 and not set(drop) & set(keys)
    assert keys == [n.key for n in emb.neighbors_by_vector(query, k=7) if n.key not in drop]


def test_neighbors_across_entities(client, bank):
    emb = bank.get("demo/recs")
    body = client.post(
        "/tables/demo/recs/neighbors",
        json={"key": 3, "entity": "user", "target": "item", "k": 4, "exclude": ["0"]},
    ).json()
    expected = emb.neighbors("3", k=4, entity="user", target="item", exclude=["0"])
    assert body["neighbors"] == [n.model_dump() for n in expected]
    assert {n["entity"] for n in body["neighbors"]} == {"item"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"key": "u1", "k": 10**9}, 422),
        ({"key": "u1", "k": 1001}, 422),
        ({"key": "u1", "k": 0}, 422),
        ({"key": "u1", "vector": [1.0] * 8}, 422),
        ({"k": 3}, 422),
        ({"vector": [1.0] * 7}, 422),
        ({"vector": [0.0] * 8}, 422),
        ({"vector": [1e39] + [1.0] * 7}, 422),
        ({"key": "nobody"}, 404),
        ({"key": "u1", "target": "movie"}, 404),
        ({"key": "u1", "exclude": ["u2"] * 10_001}, 422),
    ],
)
def test_bad_neighbor_queries(client, body, status):
    response = client.post(NEIGHBORS, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["status"] == status


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_query_vectors_are_422(client, literal):
    body = b'{"vector": [' + literal + b", 1, 1, 1, 1, 1, 1, 1]}"
    response = client.post(NEIGHBORS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text


def test_a_new_version_is_served_at_once(client, bank, make_users):
    first = client.post(LOOKUP, json={"keys": ["u1"]})
    assert first.headers["X-Embank-Version"] == "demo/users@2"
    new = bank.publish("demo/users", make_users(3))  # through the Python API
    response = client.post(LOOKUP, json={"keys": ["u1"]})
    assert response.headers["X-Embank-Version"] == f"demo/users@{new.version}" == "demo/users@3"
    assert response.json()["space_id"] == new.space_id
    np.testing.assert_array_equal(
        np.array(response.json()["vectors"], np.float32), new.vectors(["u1"])
    )
    neighbors = client.post(NEIGHBORS, json={"key": "u1"})
    assert neighbors.headers["X-Embank-Version"] == "demo/users@3"


def test_lookups_from_a_redis_online_store(tmp_path, redis_url, settings, make_users):
    from fastapi.testclient import TestClient

    import embank
    from embank.serve import create_app

    bank = embank.open(tmp_path / "redis-bank", online=redis_url)
    emb = bank.publish("demo/users", make_users(5))
    try:
        with TestClient(create_app(settings, bank=bank)) as client:
            for accept in ("application/json", ARROW_STREAM, OCTET_STREAM):
                response = client.post(LOOKUP, json={"keys": KEYS}, headers={"Accept": accept})
                assert response.status_code == 200
                _served(response, "demo/users@1")
            _, vectors = decode_raw(response.content)
            np.testing.assert_array_equal(vectors, emb.vectors(KEYS, missing="nan"))
    finally:
        bank.online.delete(emb.version_id)
        bank.close()
