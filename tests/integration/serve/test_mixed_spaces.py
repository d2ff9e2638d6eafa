"""Vectors of two spaces never meet: a caller that names its vector's space_id is refused
(409, the one error shape) when the answering version is in another space."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def spaces(bank):
    """demo/users@1 (production) and @2 are two fits: two spaces."""
    v1, v2 = bank.get("demo/users@1"), bank.get("demo/users@2")
    assert v1.space_id != v2.space_id
    return v1, v2


def test_a_vector_from_another_space_is_refused_with_409(client, spaces):
    v1, _v2 = spaces
    vector = v1.vectors(["u3"])[0].tolist()
    refused = client.post(
        "/tables/demo/users/neighbors", json={"vector": vector, "k": 3, "space_id": v1.space_id}
    )
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "mixed_spaces_error" and error["status"] == 409
    assert v1.space_id in error["message"] and "demo/users@2" in error["message"]
    # the same vector in its own version is answered, and says which space it searched
    ok = client.post(
        "/tables/demo/users/neighbors",
        json={"vector": vector, "k": 3, "space_id": v1.space_id, "version": "production"},
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["version"], body["space_id"]) == (1, v1.space_id)
    assert ok.headers["X-Embank-Space"] == v1.space_id
    assert body["neighbors"][0]["key"] == "u3"


def test_space_id_in_the_query_string_counts_too(client, spaces):
    v1, v2 = spaces
    url = "/tables/demo/users/neighbors"
    refused = client.post(f"{url}?space_id={v1.space_id}", json={"key": "u3", "k": 2})
    assert refused.status_code == 409
    assert client.post(f"{url}?space_id={v2.space_id}", json={"key": "u3", "k": 2}).is_success


def test_lookups_refuse_another_space_and_serve_their_own(client, spaces):
    v1, v2 = spaces
    refused = client.post(
        "/tables/demo/users/lookup", json={"keys": ["u1"], "space_id": v1.space_id}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "mixed_spaces_error"
    ok = client.post("/tables/demo/users/lookup", json={"keys": ["u1"], "space_id": v2.space_id})
    assert ok.status_code == 200
    assert (ok.json()["version"], ok.json()["space_id"]) == (2, v2.space_id)
    np.testing.assert_allclose(ok.json()["vectors"][0], v2.vectors(["u1"])[0], rtol=1e-6)
    raw = client.post(
        f"/tables/demo/users/lookup?space_id={v1.space_id}",
        json={"keys": ["u1"]},
        headers={"Accept": "application/octet-stream"},
    )
    assert raw.status_code == 409  # refused before any format is chosen
