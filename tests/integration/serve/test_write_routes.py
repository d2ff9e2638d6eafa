"""Writes: bearer-token auth (constant time), publish from an Arrow upload, alias moves;
bad data and oversized uploads leave the bank exactly as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from embank.serve import ServeSettings, auth, create_app
from embank.serve.formats import ARROW_STREAM

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLISH = "/tables/demo/users/versions"


def _arrow(entities, keys, vectors, *, fixed=True) -> bytes:
    vectors = np.asarray(vectors, dtype=np.float32)
    if fixed:
        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    else:
        column = pa.array([list(v) for v in vectors], pa.list_(pa.float32()))
    columns = {"key": pa.array(keys), "vector": column}
    if entities is not None:
        columns = {"entity": pa.array(entities), **columns}
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _users(n=60, dim=8, seed=11):
    rng = np.random.default_rng(seed)
    return ["user"] * n, [f"u{i}" for i in range(n)], rng.standard_normal((n, dim))


def _state(bank):
    tables = {t.name: (t.n_versions, t.aliases) for t in bank.tables()}
    return tables, len(bank.audit_log())


def _upload(client, data, params=None, headers=AUTH):
    return client.post(
        PUBLISH,
        content=data,
        params=params or {},
        headers={**headers, "Content-Type": ARROW_STREAM},
    )


# -- auth ---------------------------------------------------------------------------------


def _write_operations(client):
    """Every state-changing operation in the OpenAPI schema, with a harmless valid call."""
    found = []
    for path, item in client.get("/openapi.json").json()["paths"].items():
        for method in item:
            if method.upper() in ("POST", "PUT", "PATCH", "DELETE") and not path.endswith(
                ("/lookup", "/neighbors")
            ):
                found.append((method.upper(), path))
    return found


def _call(client, method, path, headers):
    url = path.format(ns="demo", name="users", alias="production")
    if path.endswith("/versions"):
        return client.request(method, url, content=_arrow(*_users()), headers=headers)
    return client.request(method, url, json={"version": 2}, headers=headers)


def test_write_routes_need_the_token_and_change_nothing_without_it(client, bank):
    operations = _write_operations(client)
    assert sorted(operations) == [
        ("POST", "/tables/{ns}/{name}/versions"),
        ("PUT", "/tables/{ns}/{name}/aliases/{alias}"),
    ]
    before = _state(bank)
    for method, path in operations:
        for headers, status in (
            ({}, 401),
            ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
            ({"Authorization": "Bearer"}, 401),
            ({"Authorization": "Bearer wrong"}, 403),
            ({"Authorization": f"Bearer {TOKEN}x"}, 403),
            ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 403),
        ):
            response = _call(client, method, path, headers)
            assert response.status_code == status, (method, path, headers, response.text)
            assert response.json()["error"]["status"] == status
            if status == 401:
                assert response.headers["WWW-Authenticate"] == "Bearer"
    assert _state(bank) == before


def test_the_token_is_compared_in_constant_time(client, monkeypatch):
    calls = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    response = client.put(
        "/tables/demo/users/aliases/staging",
        json={"version": 1},
        headers={"Authorization": "Bearer guess"},
    )
    assert response.status_code == 403
    assert calls == [(b"guess", TOKEN.encode())]
    assert auth.tokens_match("abc", "abc") and not auth.tokens_match("abc", "abd")


def test_a_server_without_a_token_is_read_only(bank, monkeypatch):
    monkeypatch.delenv("EMBANK_TOKEN", raising=False)
    before = _state(bank)
    with TestClient(create_app(ServeSettings(), bank=bank)) as client:
        assert client.get("/healthz").json()["writable"] is False
        assert client.post("/tables/demo/users/lookup", json={"keys": ["u1"]}).status_code == 200
        for method, path in _write_operations(client):
            assert _call(client, method, path, {}).status_code == 401
            response = _call(client, method, path, {"Authorization": "Bearer anything"})
            assert response.status_code == 403
            assert "read-only" in response.json()["error"]["message"]
    assert _state(bank) == before


def test_the_token_comes_from_the_named_env_var(bank, monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "other-token")
    monkeypatch.setenv("EMBANK_TOKEN", TOKEN)
    settings = ServeSettings(token_env="MY_TOKEN")
    with TestClient(create_app(settings, bank=bank)) as client:
        body = {"version": 1}
        url = "/tables/demo/users/aliases/staging"
        assert client.put(url, json=body, headers=AUTH).status_code == 403
        ok = client.put(url, json=body, headers={"Authorization": "Bearer other-token"})
        assert ok.status_code == 200


# -- publish ------------------------------------------------------------------------------


def test_publish_an_upload_then_read_it_back(client, bank):
    entities, keys, vectors = _users()
    response = _upload(
        client,
        _arrow(entities, keys, vectors),
        params={"description": "refit", "tags": ["a", "b"], "aliases": ["canary"]},
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Embank-Version"] == "demo/users@3"
    shown = response.json()
    assert shown == bank.show("demo/users@3").model_dump(mode="json")
    assert shown["version"]["aliases"] == ["canary", "latest"]
    assert shown["table"]["description"] == "refit"
    assert shown["table"]["tags"] == ["a", "b"]
    emb = bank.get("demo/users@3")
    assert emb.n_rows == 60
    np.testing.assert_array_equal(emb.vectors(keys), np.asarray(vectors, np.float32))
    looked_up = client.post("/tables/demo/users/lookup", json={"keys": keys[:5]}).json()
    assert looked_up["version"] == 3
    np.testing.assert_array_equal(
        np.array(looked_up["vectors"], np.float32), np.asarray(vectors[:5], np.float32)
    )
    entry = bank.audit_log("demo/users")[-1]
    assert (entry["action"], entry["actor"], entry["version_number"]) == ("publish", "http", 3)


def test_publish_a_new_table_with_integer_keys_and_list_vectors(client, bank):
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((10, 3))
    data = _arrow(None, pa.array(range(10), pa.int64()), vectors, fixed=False)
    response = client.post(
        "/tables/team/new/versions",
        content=data,
        params={"entity": "item", "metric": "dot", "owner": "team"},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    emb = bank.get("team/new")
    assert (emb.metric, list(emb.table_info.entities), emb.table_info.owner) == (
        "dot",
        ["item"],
        "team",
    )
    np.testing.assert_array_equal(emb.vectors([0, 9]), np.asarray(vectors[[0, 9]], np.float32))


def _bad_uploads():
    entities, keys, vectors = _users()
    nan = np.array(vectors)
    nan[3, 2] = np.nan
    zero = np.array(vectors)
    zero[4] = 0.0
    return {
        "wrong dimension": (_arrow(entities, keys, np.ones((60, 5))), "dimension mismatch"),
        "NaN": (_arrow(entities, keys, nan), "NaN"),
        "zero vector": (_arrow(entities, keys, zero), "zero vector"),
        "duplicate keys": (_arrow(entities, ["u1"] * 60, vectors), "duplicate"),
        "bad key": (_arrow(entities, ["a\tb", *keys[1:]], vectors), "invalid key"),
        "bad entity": (_arrow(["User"] * 60, keys, vectors), "invalid entity"),
        "no rows": (_arrow([], [], np.zeros((0, 8))), "no rows"),
        "not arrow": (b"entity,key,vector\nuser,u1,1\n", "not an Arrow IPC stream"),
        "empty body": (b"", "not an Arrow IPC stream"),
        "no vector column": (_arrow_without_vector(), "lacks column"),
        "no entity": (_arrow(None, keys, vectors), "no entity column"),
        "ragged lists": (_ragged(), "several lengths"),
        "text vectors": (_text_vectors(), "send FixedSizeList"),
    }


def _arrow_without_vector():
    table = pa.table({"entity": ["user"], "key": ["u1"]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _ragged():
    table = pa.table({"entity": ["user", "user"], "key": ["a", "b"], "vector": [[1.0, 2.0], [1.0]]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _text_vectors():
    table = pa.table({"entity": ["user"], "key": ["a"], "vector": ["1,2"]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("case", sorted(_bad_uploads()))
def test_bad_uploads_are_422_and_publish_nothing(client, bank, settings, case):
    data, words = _bad_uploads()[case]
    before = _state(bank)
    response = _upload(client, data)
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"]
    assert _state(bank) == before
    assert list((bank.root / "_staging").glob("*")) == []
    assert list(Path(settings.upload_dir).iterdir()) == []  # the upload is removed


def test_publish_with_opt_in_dedupe_keeps_the_last_row_of_a_repeated_key(client, bank):
    entities, keys, vectors = _users()
    keys = [*keys[:-1], keys[0]]  # the last row repeats the first key
    response = _upload(client, _arrow(entities, keys, vectors), params={"duplicates": "last"})
    assert response.status_code == 201, response.text
    emb = bank.get("demo/users@3")
    assert emb.n_rows == 59
    np.testing.assert_array_equal(emb.vectors([keys[0]])[0], np.float32(vectors[-1]))
    assert response.json()["version"]["lineage"]["duplicates_dropped"]["rows"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"aliases": ["latest"]},
        {"aliases": ["Bad Alias"]},
        {"metric": "euclid"},
        {"duplicates": "keep"},
    ],
)
def test_bad_publish_params_are_422(client, bank, params):
    before = _state(bank)
    response = _upload(client, _arrow(*_users()), params=params)
    assert response.status_code == 422, response.text
    assert _state(bank) == before


def test_a_wrong_table_name_is_refused_before_the_upload(client, bank):
    response = client.post("/tables/Demo/users/versions", content=b"x", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_name_error"


def test_an_upload_over_the_limit_is_413_and_publishes_nothing(bank, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBANK_TOKEN", TOKEN)
    uploads = tmp_path / "small-uploads"
    uploads.mkdir()
    settings = ServeSettings(max_upload_bytes=10_000, upload_dir=str(uploads))
    data = _arrow(*_users(n=200))
    assert len(data) > 10_000
    before = _state(bank)
    with TestClient(create_app(settings, bank=bank)) as client:
        response = _upload(client, data)  # Content-Length says so
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "payload_too_large_error"

        def chunks():  # no Content-Length: counted while streaming
            for lo in range(0, len(data), 4096):
                yield data[lo : lo + 4096]

        response = client.post(PUBLISH, content=chunks(), headers=AUTH)
        assert response.status_code == 413
        small = _arrow(*_users(n=20))
        assert len(small) < 10_000
        assert _upload(client, small).status_code == 201
    after_tables, _ = _state(bank)
    assert after_tables["demo/users"][0] == before[0]["demo/users"][0] + 1
    assert list(uploads.iterdir()) == []


def test_json_bodies_stay_capped_but_uploads_may_be_larger(client, bank):
    entities, keys, vectors = _users(n=40_000, dim=8)
    data = _arrow(entities, keys, vectors)
    assert len(data) > 1 << 20
    response = _upload(client, data)
    assert response.status_code == 201, response.text
    assert bank.get("demo/users").n_rows == 40_000


# -- aliases ------------------------------------------------------------------------------


def test_move_an_alias(client, bank):
    url = "/tables/demo/users/aliases/production"
    response = client.put(url, json={"version": 2}, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "table": "demo/users",
        "alias": "production",
        "version": 2,
        "previous": 1,
    }
    assert bank.show("demo/users@production").version.number == 2
    looked_up = client.post(
        "/tables/demo/users/lookup", json={"keys": ["u1"], "version": "production"}
    )
    assert looked_up.headers["X-Embank-Version"] == "demo/users@2"
    response = client.put("/tables/demo/users/aliases/staging", json={"version": 1}, headers=AUTH)
    assert response.json()["previous"] is None
    assert bank.tables()[1].aliases == {"latest": 2, "production": 2, "staging": 1}
    moves = [e for e in bank.audit_log("demo/users") if e["action"] == "move_alias"]
    assert [(e["details"]["alias"], e["version_number"], e["actor"]) for e in moves] == [
        ("production", 2, "http"),
        ("staging", 1, "http"),
    ]


@pytest.mark.parametrize(
    ("url", "body", "status"),
    [
        ("/tables/demo/users/aliases/latest", {"version": 1}, 422),
        ("/tables/demo/users/aliases/Prod", {"version": 1}, 422),
        ("/tables/demo/users/aliases/production", {"version": 9}, 404),
        ("/tables/demo/users/aliases/production", {"version": 0}, 422),
        ("/tables/demo/users/aliases/production", {"version": "2"}, 422),
        ("/tables/demo/users/aliases/production", {}, 422),
        ("/tables/demo/none/aliases/production", {"version": 1}, 404),
    ],
)
def test_bad_alias_moves_change_nothing(client, bank, url, body, status):
    before = _state(bank)
    response = client.put(url, json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert _state(bank) == before
