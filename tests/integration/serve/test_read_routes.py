"""Discovery routes: health, metrics, tables, detail, versions; 404/422 bodies; and that
each ``--json`` of the CLI is the body of the matching route."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embank.cli import app as cli

runner = CliRunner()


def _cli_json(*args):
    done = runner.invoke(cli, [str(a) for a in args])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def _is_error(response, status, kind=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "status"}
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    if kind is not None:
        assert body["error"]["type"] == kind


def test_healthz_and_metrics(client):
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["writable"] is True
    client.post("/tables/demo/users/lookup", json={"keys": ["u1"]})
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
    assert 'handler="/tables/{ns}/{name}/lookup"' in metrics.text


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/tables",
        "/tables/{ns}/{name}",
        "/tables/{ns}/{name}/versions/{ref}",
        "/tables/{ns}/{name}/lookup",
        "/tables/{ns}/{name}/neighbors",
        "/tables/{ns}/{name}/versions",
        "/tables/{ns}/{name}/aliases/{alias}",
        "/healthz",
        "/metrics",
    ):
        assert path in paths


def test_list_search_and_filters(client):
    names = [t["name"] for t in client.get("/tables").json()]
    assert names == ["demo/recs", "demo/users"]
    assert [t["name"] for t in client.get("/tables", params={"q": "FOLLOW"}).json()] == [
        "demo/users"
    ]
    assert [t["name"] for t in client.get("/tables", params={"entity": "item"}).json()] == [
        "demo/recs"
    ]
    assert [t["name"] for t in client.get("/tables", params={"owner": "cortex"}).json()] == [
        "demo/users"
    ]
    assert [t["name"] for t in client.get("/tables", params={"tag": "graph"}).json()] == [
        "demo/users"
    ]
    # search text is data, never SQL or a wildcard
    for text in ("%", "_", "' OR 1=1 --", "\\"):
        assert client.get("/tables", params={"q": text}).json() == []


def test_table_detail(client):
    body = client.get("/tables/demo/users").json()
    assert body["table"]["name"] == "demo/users"
    assert body["table"]["aliases"] == {"latest": 2, "production": 1}
    assert [v["number"] for v in body["versions"]] == [1, 2]
    assert body["versions"][0]["aliases"] == ["production"]
    assert body["versions"][1]["aliases"] == ["latest"]
    assert "lineage" in body["versions"][0]
    assert body["benchmarks"] == []


@pytest.mark.parametrize(("ref", "number"), [("1", 1), ("2", 2), ("latest", 2), ("production", 1)])
def test_version_by_number_or_alias(client, ref, number):
    body = client.get(f"/tables/demo/users/versions/{ref}").json()
    assert body["version"]["number"] == number
    assert body["table"]["name"] == "demo/users"


def test_show_json_is_the_route_body(client, bank_path):
    for ref, route in (
        ("demo/users", "/tables/demo/users/versions/latest"),
        ("demo/users@1", "/tables/demo/users/versions/1"),
        ("demo/users@production", "/tables/demo/users/versions/production"),
        ("demo/recs", "/tables/demo/recs/versions/latest"),
    ):
        assert _cli_json("show", ref, "--bank", bank_path, "--json") == client.get(route).json()


def test_ls_and_search_json_are_the_route_bodies(client, bank_path):
    assert _cli_json("ls", "--bank", bank_path, "--json") == client.get("/tables").json()
    assert (
        _cli_json("search", "co-embedded", "--bank", bank_path, "--json")
        == client.get("/tables", params={"q": "co-embedded"}).json()
    )


def test_neighbors_json_is_the_route_body(client, bank_path):
    expected = _cli_json("neighbors", "demo/users", "u3", "-k", "5", "--bank", bank_path, "--json")
    got = client.post("/tables/demo/users/neighbors", json={"key": "u3", "k": 5}).json()
    assert got == expected


@pytest.mark.parametrize(
    "path",
    [
        "/tables/demo/nope",
        "/tables/nope/users/versions/1",
        "/tables/demo/users/versions/99",
        "/tables/demo/users/versions/staging",
        "/no/such/route",
    ],
)
def test_unknown_things_are_404_json(client, path):
    _is_error(client.get(path), 404, "not_found_error")


@pytest.mark.parametrize(
    "path",
    [
        "/tables/demo/users/versions/0",
        "/tables/demo/users/versions/-1",
        "/tables/demo/users/versions/x@y",
        "/tables/DEMO/users",
        "/tables/demo/a..b",
        "/tables/demo/users%00",
        "/tables/demo/%2e%2e",
        "/tables/demo/%252e%252e",
        "/tables/demo/a\\b",
        "/tables/demo/\u2024\u2024",
    ],
)
def test_bad_names_are_rejected_without_a_500(client, path):
    response = client.get(path)
    assert response.status_code in (404, 422), response.text
    _is_error(response, response.status_code)


def test_wrong_method_is_json(client):
    _is_error(client.delete("/tables/demo/users"), 405)
