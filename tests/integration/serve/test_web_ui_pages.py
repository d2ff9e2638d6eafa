"""The web UI's pages and the API routes behind them (key suggestions, the stored 2-D map),
in-process on the small seeded bank; the browser tests are in tests/e2e/test_web_ui.py."""

from __future__ import annotations

import html
import logging
import re
import textwrap

import numpy as np
import pandas as pd
import pytest

import embank
from embank.data.graph import Labels
from embank.errors import UsageError
from embank.pipeline import run_spec
from embank.report.compare import compare_versions, format_delta, format_value
from embank.serve.maps import MAP_KIND, build_map, stored_map
from embank.serve.overlap import neighbour_overlap
from embank.spec.load import load_spec
from embank.vector_table import VectorTable


def _artifact_count(bank) -> int:
    with bank.registry.read() as conn:
        return conn.exec_driver_sql("SELECT COUNT(*) FROM artifacts").scalar()


# -- key suggestions ------------------------------------------------------------------


def test_keys_by_prefix_are_a_range_of_the_sorted_keys(client, bank):
    answer = client.get("/tables/demo/users/keys", params={"prefix": "u1", "limit": 5})
    assert answer.status_code == 200 and answer.headers["X-Embank-Version"] == "demo/users@2"
    every = sorted(f"u{i}" for i in range(120))
    assert [k["key"] for k in answer.json()["keys"]] == [k for k in every if k.startswith("u1")][:5]
    assert client.get("/tables/demo/users/keys", params={"prefix": "x"}).json()["keys"] == []
    pinned = client.get("/tables/demo/users/keys", params={"prefix": "u", "version": "production"})
    assert pinned.json()["version"] == 1 and len(pinned.json()["keys"]) == 20


def test_keys_by_prefix_of_a_co_embedded_table(client):
    def keys(**params):
        answer = client.get("/tables/demo/recs/keys", params={"limit": 100, **params})
        assert answer.status_code == 200, answer.text
        return [(k["entity"], k["key"]) for k in answer.json()["keys"]]

    items = sorted(str(i) for i in range(20))
    users = sorted(str(i) for i in range(30))
    assert keys(prefix="1") == [("item", k) for k in items if k.startswith("1")] + [
        ("user", k) for k in users if k.startswith("1")
    ]
    assert keys(prefix="2", entity="user") == [("user", k) for k in users if k.startswith("2")]
    assert keys(prefix="", entity="item", limit=3) == [("item", k) for k in items[:3]]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"prefix": "u" * 600}, 422),
        ({"entity": "movie"}, 404),
        ({"limit": 0}, 422),
        ({"limit": 101}, 422),
        ({"version": "9"}, 404),
        ({"version": "no such alias!"}, 422),
    ],
)
def test_keys_by_prefix_refuses_bad_requests(client, params, status):
    answer = client.get("/tables/demo/users/keys", params=params)
    assert answer.status_code == status and answer.json()["error"]["status"] == status


# -- the 2-D map ----------------------------------------------------------------------


def test_a_map_is_drawn_on_first_ask_then_served_as_stored(client, bank):
    assert bank.get_artifact("demo/users", 2, MAP_KIND) is None
    first = client.get("/tables/demo/users/versions/latest/map")
    assert first.status_code == 200 and first.headers["X-Embank-Version"] == "demo/users@2"
    body = first.json()
    assert body["method"] == "pca" and body["n_points"] == body["n_rows"] == 120
    assert sorted(body["keys"]) == sorted(f"u{i}" for i in range(120))
    assert all(0 <= v <= 1 for v in body["x"] + body["y"])
    assert body["color_by"] is None and body["entity_names"] == ["user"]
    again = client.get("/tables/demo/users/versions/2/map").json()
    assert again == body and _artifact_count(bank) == 1
    assert client.get("/tables/demo/users/versions/7/map").status_code == 404


def test_a_map_samples_big_tables_with_its_seed_and_colours_by_label(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    keys = [f"k{i:03d}" for i in range(n)]
    labels = pd.DataFrame({"key": keys, "label": [f"t{i % 12}" for i in range(n)]})
    with embank.open(tmp_path / "bank") as bank:
        emb = bank.publish(
            "demo/labelled",
            VectorTable.single_entity("user", keys, rng.standard_normal((n, 8))),
            labels=Labels(entity="user", pairs=labels),
        )
        drawn = build_map(emb, max_points=100, seed=3)
        assert drawn["n_points"] == 100 and drawn["n_rows"] == n
        assert build_map(emb, max_points=100, seed=3) | {"build_s": 0} == drawn | {"build_s": 0}
        assert drawn["keys"] == sorted(drawn["keys"])  # rows in stored order
        assert drawn["color_by"] == "label" and drawn["label_entity"] == "user"
        assert drawn["label_names"][-1] == "other" and len(drawn["label_names"]) == 10
        for key, label in zip(drawn["keys"], drawn["label"], strict=True):
            name = drawn["label_names"][label]
            assert name == "other" or name == f"t{int(key[1:]) % 12}"


def test_run_spec_stores_the_map_and_never_fails_the_publish_for_it(
    tmp_path, write_communities, monkeypatch, caplog
):
    write_communities(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent("""\
        table: test/small
        entities: [user]
        data:
          edges: {entity: user, path: edges.tsv, columns: {src: src, dst: dst, weight: weight}}
          labels: {entity: user, path: labels.tsv, columns: {key: node, label: topic}}
        algorithm: {name: spectral, params: {dim: 4, seed: 0}}
        """)
    )
    with embank.open(tmp_path / "bank") as bank:
        result = run_spec(load_spec(spec), bank)
        drawn = stored_map(bank, result.embedding)
        assert drawn is not None and drawn["n_points"] == 80 and drawn["color_by"] == "label"
        assert sorted(drawn["label_names"]) == ["a", "b"] and "map" in result.timings_s

        def broken(*_args, **_kwargs):
            raise OSError("disk full")

        monkeypatch.setattr("embank.serve.maps.store_map", broken)
        with caplog.at_level(logging.WARNING, logger="embank.pipeline.run"):
            again = run_spec(load_spec(spec, ["algorithm.params.seed=1"]), bank)
        assert again.embedding.version == 2 and bank.show("test/small").version.number == 2
        assert stored_map(bank, again.embedding) is None
        assert "test/small@2 is published, but its 2-D map was not drawn" in caplog.text


# -- neighbour overlap ----------------------------------------------------------------


def test_neighbour_overlap_of_versions(bank):
    one, two = bank.get("demo/users@1"), bank.get("demo/users@2")
    same = neighbour_overlap(one, one, k=5)
    assert same.mean == 5 and same.histogram == [0] * 5 + [120] and same.n_keys == 120
    other = neighbour_overlap(one, two, k=10, n_keys=50, seed=1)
    assert other.n_keys == 50 and sum(other.histogram) == 50 and other.mean < 5
    with pytest.raises(UsageError):
        neighbour_overlap(one, bank.get("demo/recs"))


# -- pages ----------------------------------------------------------------------------


def _cards(html: str) -> list[str]:
    return re.findall(r'data-table="([^"]+)"', html)


def test_catalog_search_and_filters(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert _cards(page.text) == ["demo/recs", "demo/users"]
    assert _cards(client.get("/", params={"q": "FOLLOWS"}).text) == ["demo/users"]
    assert _cards(client.get("/", params={"entity": "item"}).text) == ["demo/recs"]
    assert _cards(client.get("/", params={"owner": "cortex", "tag": "graph"}).text) == [
        "demo/users"
    ]
    assert _cards(client.get("/", params={"q": "<script>"}).text) == []
    assert "<script>" not in client.get("/", params={"q": "<script>"}).text.replace(
        '<script src="/ui/static/app.js', ""
    )


def test_table_page_shows_versions_aliases_and_the_stored_map(client, bank):
    page = client.get("/t/demo/users")
    assert page.status_code == 200
    assert re.findall(r'<tr data-version="(\d+)"', page.text) == ["2", "1"]
    assert "production" in page.text and 'id="map-data"' not in page.text
    client.get("/tables/demo/users/versions/2/map")
    page = html.unescape(client.get("/t/demo/users").text)
    assert 'id="map-data"' in page
    assert (
        'bank.get("demo/users")' in page and "curl -s http://testserver/tables/demo/users" in page
    )
    pinned = client.get("/t/demo/users", params={"v": "production"}).text
    assert "Map of v1" in pinned and "/tables/demo/users/versions/1/map" in pinned


def test_table_page_figures_equal_the_registry(client, bank, tmp_path):
    from embank.benchmarks.base import Figure, TaskResult

    def result(value):
        figure = Figure("demo_task.score_at_10", value, baseline=0.1, baseline_name="random")
        return TaskResult(task="demo_task", figures=[figure], run_time_s=0.1)

    rng = np.random.default_rng(5)
    for value in (0.5, 0.625):
        table = VectorTable.single_entity("user", ["a", "b", "c"], rng.standard_normal((3, 4)))
        bank.publish("demo/scored", table, results=[result(value)])
    page = client.get("/t/demo/scored").text
    assert re.search(r'data-version="1">0\.5000', page)
    assert re.search(r'data-version="2">0\.6250<span class="delta better">\+0\.1250', page)
    assert page.count('<svg class="chart"') == 1
    compared = client.get("/compare", params={"a": "demo/scored@1", "b": "demo/scored@2"})
    figure = compare_versions(bank, ["demo/scored@1", "demo/scored@2"]).figures[0]
    assert format_value(figure.values[1]) in compared.text
    assert format_delta(figure.deltas[1], figure.delta_pcts[1]) in compared.text
    assert "Neighbours kept" in compared.text


def test_explorer_page_renders_the_api_answer(client):
    page = client.get("/t/demo/recs/explore", params={"key": "3", "entity": "user", "k": 5})
    answer = client.post(
        "/tables/demo/recs/neighbors", json={"key": "3", "entity": "user", "k": 5}
    ).json()
    assert re.findall(r'data-key="([^"]+)"\s+data-entity', page.text) == [
        n["key"] for n in answer["neighbors"]
    ]
    missing = client.get("/t/demo/recs/explore", params={"key": "nope", "entity": "user"})
    assert missing.status_code == 200 and "is not in demo/recs@1" in missing.text


def test_compare_page_defaults_and_errors(client):
    page = client.get("/compare").text
    assert 'value="demo/users@1" selected' in page and 'value="demo/users@2" selected' in page
    assert "Neighbours kept" in page
    bad = client.get("/compare", params={"a": "demo/nope@1", "b": "demo/users@1"})
    assert bad.status_code == 404 and "no table &#39;demo/nope&#39;" in bad.text


@pytest.mark.parametrize(
    ("url", "status"),
    [("/t/demo/nope", 404), ("/t/demo/users?v=9", 404), ("/t/Demo/users", 422)],
)
def test_pages_answer_errors_as_html(client, url, status):
    page = client.get(url)
    assert page.status_code == status and page.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in page.text


def test_assets_are_served_with_a_content_tag(client):
    page = client.get("/").text
    css = re.search(r'href="(/ui/static/app\.css\?v=\w+)"', page).group(1)
    script = re.search(r'src="(/ui/static/app\.js\?v=\w+)"', page).group(1)
    for url in (css, script):
        first = client.get(url)
        assert first.status_code == 200 and first.headers["ETag"]
        cached = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert cached.status_code == 304
    assert client.get("/ui/static/nope.js").status_code == 404


def test_ui_routes_stay_out_of_the_api_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/compare" not in paths and "/t/{ns}/{name}" not in paths
    assert "/tables/{ns}/{name}/keys" in paths
    assert "/tables/{ns}/{name}/versions/{ref}/map" in paths
