"""Indexes after `embank run`, `embank index`, `embank neighbors --relation`, `embank
candidates`, and the saved index serving neighbours (CLI in-process, real data)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import embank
from embank.cli import app

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def project(tmp_path, write_small_project):
    return write_small_project(tmp_path, labelled=False)


def test_run_records_the_index_and_map_and_publish_settings_skip_them(project, tmp_path):
    bank_path = tmp_path / "bank"
    spec = project / "spec.yaml"
    result = _invoke("run", spec, "--bank", bank_path, "--set", "publish.index=hnswlib")
    assert result.exit_code == 0, result.output
    with embank.open(bank_path, create=False) as bank:
        index = bank.get_artifact("test/small", 1, "index")
        assert index is not None and index["kind"] == "hnswlib"
        assert index["recall_at_10"] >= 0.95 and index["recall_target"] == 0.95
        assert index["entities"]["user"]["report"]["n_queries"] == 80
        assert bank.get_artifact("test/small", 1, "map2d") is not None
        assert bank.get("test/small").saved_index().ann("user") is not None

    result = _invoke("run", spec, "--bank", bank_path, "--set", "publish.map=false")
    assert result.exit_code == 0, result.output
    with embank.open(bank_path, create=False) as bank:
        assert bank.get_artifact("test/small", 2, "map2d") is None
        index = bank.get_artifact("test/small", 2, "index")  # auto: 80 rows, exact
        assert index is not None and index["kind"] == "exact" and index["recall_at_10"] == 1.0

    result = _invoke(
        "run",
        spec,
        "--bank",
        bank_path,
        "--set",
        "publish.index=none",
        "--set",
        "publish.map=false",
    )
    assert result.exit_code == 0, result.output
    with embank.open(bank_path, create=False) as bank:
        assert bank.get_artifact("test/small", 3, "index") is None


def test_index_neighbors_and_candidates_commands(project, tmp_path):
    bank_path = tmp_path / "bank"
    spec = project / "spec.yaml"
    ran = _invoke("run", spec, "--bank", bank_path, "--set", "publish.index=none")
    assert ran.exit_code == 0, ran.output

    built = _invoke("index", "test/small@1", "--kind", "hnswlib", "--bank", bank_path, "--json")
    assert built.exit_code == 0, built.output
    report = json.loads(built.stdout)
    assert report["version"] == 1 and report["kind"] == "hnswlib"
    assert report["entities"]["user"]["report"]["recall_at_10"] >= 0.95
    shown = _invoke("index", "test/small@1", "--kind", "exact", "--bank", bank_path)
    assert shown.exit_code == 0 and "recall@10 1.0000" in shown.output
    bad = _invoke("index", "test/small@1", "--kind", "annoy", "--bank", bank_path)
    assert bad.exit_code == 2 and "index kind" in bad.output
    missing = _invoke("index", "test/nothing@1", "--bank", bank_path)
    assert missing.exit_code == 3

    near = _invoke("neighbors", "test/small", "u1", "--relation", "follows", "--bank", bank_path)
    assert near.exit_code == 3 and "no relation 'follows'" in near.output

    seen = tmp_path / "seen.csv"
    seen.write_text("source,target\nu1,u2\nu1,u3\n")
    out = tmp_path / "c.parquet"
    done = _invoke(
        "candidates", "test/small", "--from", "user", "--to", "user", "-k", "5",
        "--exclude-seen", seen, "--out", out, "--bank", bank_path, "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["n_rows"] == 80 * 5
    frame = pq.read_table(out).to_pandas()
    assert frame.groupby("source").size().eq(5).all()
    assert not {"u1", "u2", "u3"} & set(frame[frame.source == "u1"].target)

    # 'stored': the graph the version was fitted on; no neighbour proposed twice
    done = _invoke(
        "candidates", "test/small", "--to", "user", "-k", "3", "--exclude-seen", "stored",
        "--out", out, "--bank", bank_path,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    edges = {
        tuple(line.split("\t")[:2]) for line in (project / "edges.tsv").read_text().splitlines()[1:]
    }
    frame = pq.read_table(out).to_pandas()
    pairs = set(zip(frame.source, frame.target, strict=True))
    assert not pairs & (edges | {(b, a) for a, b in edges})


def test_a_saved_index_serves_blogcatalog_at_recall_95_and_http_equals_python(
    blogcatalog_bank, tmp_path
):
    bank_path = tmp_path / "bank"
    shutil.copytree(blogcatalog_bank, bank_path)  # the session bank stays index-free
    built = _invoke(
        "index", "demo/blogcatalog@1", "--kind", "hnswlib", "--bank", bank_path, "--json"
    )
    assert built.exit_code == 0, built.output
    stored = json.loads(built.stdout)["entities"]["user"]["report"]
    assert stored["recall_at_10"] >= 0.95 and stored["n_queries"] == 1000

    from embank.ann.search import search_version

    with embank.open(bank_path, create=False) as bank:
        embedding = bank.get("demo/blogcatalog@1")
        assert embedding.saved_index().ann("user").kind == "hnswlib"
        rng = np.random.default_rng(7)
        rows = rng.choice(embedding.n_rows, 300, replace=False)
        recalls = []
        for row in rows:
            key = embedding.keys[row]
            got = {n.key for n in embedding.neighbors(key, k=10)}
            query = np.asarray(embedding.to_numpy()[row])[None, :]
            exact, _ = search_version(embedding, query, 10, "user", [{int(row)}], exact=True)
            recalls.append(len(got & {embedding.keys[r] for r in exact[0]}) / 10)
        assert np.mean(recalls) >= 0.95

        pytest.importorskip("fastapi")
        from fastapi.testclient import TestClient

        from embank.serve import ServeSettings, create_app

        uploads = tmp_path / "uploads"
        uploads.mkdir()
        with TestClient(create_app(ServeSettings(upload_dir=str(uploads)), bank=bank)) as client:
            for key in embedding.keys[rows[:20]]:
                body = client.post(
                    "/tables/demo/blogcatalog/neighbors",
                    json={"key": key, "k": 10, "exclude": [embedding.keys[rows[0]]]},
                ).json()
                expected = embedding.neighbors(key, k=10, exclude=[embedding.keys[rows[0]]])
                assert body["neighbors"] == [n.model_dump() for n in expected]
