"""``embank benchmark NAME@V``: a version's tasks re-run on what the version stores.

The source files may change or go after publish; the figures must not.
"""

import hashlib
import json
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

import embank
from embank.benchmarks.recommendation import Recommendation
from embank.benchmarks.topic_prediction import TopicPrediction
from embank.cli import app
from embank.pipeline.benchmark import choose_tasks, spec_tasks, with_table_metric
from embank.vector_table import VectorTable

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _error_lines(output):
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.fixture
def project(tmp_path, write_communities):
    """Two noisy planted communities of 40 users each, labelled, and a spec over them."""
    write_communities(tmp_path, p_same=0.12, p_other=0.04)
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent("""\
        table: test/small
        entities: [user]
        data:
          edges: {entity: user, path: edges.tsv, columns: {src: src, dst: dst, weight: weight}}
          labels: {entity: user, path: labels.tsv, columns: {key: node, label: topic}}
        algorithm: {name: spectral, params: {dim: 4, seed: 0}}
        benchmarks:
          - topic_prediction: {train_ratios: [0.5], splits: 2, n_jobs: 1}
    """)
    )
    return tmp_path


@pytest.fixture
def published(project):
    bank = project / "bank"
    result = _invoke("run", project / "spec.yaml", "--bank", bank)
    assert result.exit_code == 0, result.output
    return bank


def _figures(bank, ref):
    shown = json.loads(_invoke("show", ref, "--bank", bank, "--json").stdout)
    return {f["figure"]: f for f in shown["benchmarks"]}


def _folder_bytes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_rerun_from_stored_inputs_gives_the_published_figures(project, published):
    bank = published
    before = _figures(bank, "test/small@1")
    folder = embank.open(bank, create=False).get("test/small@1").folder
    files_before = _folder_bytes(folder)
    # the sources change and go: the re-run must not read them
    (project / "labels.tsv").write_text(
        "node\ttopic\n" + "".join(f"u{i}\t{'ab'[i % 2]}\n" for i in range(80))
    )
    (project / "edges.tsv").unlink()

    result = _invoke("benchmark", "test/small@1", "--bank", bank, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["table"], body["version"], body["run"]) == ("test/small", 1, 2)
    assert list(body["tasks"]) == ["topic_prediction"]
    rerun = {f["figure"]: f for f in body["figures"]}
    assert set(rerun) == set(before)
    for name, figure in before.items():
        assert rerun[name]["value"] == figure["value"], name
        assert rerun[name]["baseline"] == figure["baseline"], name
        assert rerun[name]["run"] == 2
        assert body["previous"][name] == figure["value"]

    after = _figures(bank, "test/small@1")
    assert {n: f["run"] for n, f in after.items()} == dict.fromkeys(before, 2)
    assert _folder_bytes(folder) == files_before  # the version's files never change
    audit = embank.open(bank, create=False).audit_log("test/small")
    assert [e["action"] for e in audit] == ["publish", "benchmark"]
    assert audit[-1]["version_number"] == 1 and audit[-1]["details"]["run"] == 2
    assert audit[-1]["details"]["inputs"] == "stored"

    again = _invoke("benchmark", "test/small", "--bank", bank)  # NAME means latest
    assert again.exit_code == 0, again.output
    assert "run 3" in again.output and "+0.0000 (+0.0%)" in again.output


def test_task_not_in_spec_runs_with_defaults(published):
    bank = published
    result = _invoke("benchmark", "test/small@1", "--task", "follow_jaccard", "--bank", bank)
    assert result.exit_code == 0, result.output
    assert "follow_jaccard.spearman" in result.output and "new" in result.output
    assert "topic_prediction" not in result.output
    figures = _figures(bank, "test/small@1")
    assert figures["follow_jaccard.spearman"]["run"] == 2
    assert (
        figures["follow_jaccard.spearman"]["value"] > figures["follow_jaccard.spearman"]["baseline"]
    )
    assert figures["topic_prediction.macro_f1_at_50"]["run"] == 1  # untouched, still shown

    both = _invoke(
        "benchmark",
        "test/small@1",
        "--task",
        "topic_prediction",
        "--task",
        "follow_jaccard",
        "--bank",
        bank,
        "--json",
    )
    assert both.exit_code == 0, both.output
    body = json.loads(both.stdout)
    assert list(body["tasks"]) == ["topic_prediction", "follow_jaccard"]
    assert body["tasks"]["topic_prediction"]["train_ratios"] == [0.5]  # the spec's params
    assert body["run"] == 3


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["test/nope"], 3, "no table 'test/nope'"),
        (["test/small@9"], 3, "no version 9"),
        (["test/small@production"], 3, "no alias 'production'"),
        (["test/small", "--task", "word_count"], 3, "known benchmarks: .*topic_prediction"),
        (["Bad Name"], 2, "invalid table name"),
    ],
)
def test_bad_refs_and_tasks_one_line(published, args, code, message):
    import re

    result = _invoke("benchmark", *args, "--bank", published)
    assert result.exit_code == code, result.output
    lines = _error_lines(result.output)
    assert len(lines) == 1 and re.search(message, lines[0]), result.output


def test_no_bank_is_not_created(tmp_path):
    result = _invoke("benchmark", "test/small", "--bank", tmp_path / "nobank")
    assert result.exit_code == 3 and "no bank at" in result.output
    assert not (tmp_path / "nobank").exists()


def test_version_without_spec_or_inputs(tmp_path):
    bank = embank.open(tmp_path / "bank")
    rng = np.random.default_rng(0)
    table = VectorTable.single_entity("user", [f"k{i}" for i in range(20)], rng.random((20, 3)))
    bank.publish("demo/bare", table)
    result = _invoke("benchmark", "demo/bare", "--bank", tmp_path / "bank")
    assert result.exit_code == 2
    assert "has no benchmarks in its spec; name the tasks with --task" in result.output
    result = _invoke(
        "benchmark", "demo/bare", "--task", "topic_prediction", "--bank", tmp_path / "bank"
    )
    assert result.exit_code == 2
    (line,) = _error_lines(result.output)
    assert "topic_prediction on demo/bare@1" in line and "no benchmark inputs" in line


def test_damaged_stored_input_is_refused(published):
    folder = embank.open(published, create=False).get("test/small@1").folder
    path = folder / "attributes.parquet"
    path.write_bytes(path.read_bytes()[:-8])
    result = _invoke("benchmark", "test/small@1", "--bank", published)
    assert result.exit_code == 1
    (line,) = _error_lines(result.output)
    assert "attributes.parquet" in line and "manifest" in line


def test_task_metric_defaults_to_the_table_metric():
    assert with_table_metric(Recommendation, {}, "cosine")["metric"] == "cosine"
    assert with_table_metric(Recommendation, {"metric": None}, "cosine")["metric"] == "cosine"
    assert with_table_metric(Recommendation, {"metric": "dot"}, "cosine")["metric"] == "dot"
    assert "metric" not in with_table_metric(TopicPrediction, {"splits": 2}, "dot")


def test_task_choice_from_the_stored_spec():
    spec = {"benchmarks": [{"topic_prediction": {"splits": 2}}, {"follow_jaccard": None}]}
    tasks = spec_tasks(spec)
    assert tasks == [("topic_prediction", {"splits": 2}), ("follow_jaccard", {})]
    assert choose_tasks(tasks, None) == tasks
    assert choose_tasks(tasks, ["recommendation", "topic_prediction", "recommendation"]) == [
        ("recommendation", {}),
        ("topic_prediction", {"splits": 2}),
    ]
    assert spec_tasks(None) == []


def test_bank_made_before_benchmark_runs_migrates(tmp_path):
    """A registry at schema 0001 needs `embank migrate`; its figures become run 1."""
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from embank.store import registry as registry_module
    from embank.store.schema import tables, versions

    root = tmp_path / "bank"
    root.mkdir()
    old = registry_module.Registry(f"sqlite:///{root / 'registry.db'}")
    config = Config()
    config.set_main_option("script_location", str(registry_module._MIGRATIONS))
    with old.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    now = dt.datetime.now(dt.UTC)
    with old.engine.begin() as conn:
        conn.execute(
            sa.insert(tables).values(
                id=1,
                name="demo/old",
                description="",
                owner="",
                tags=[],
                entities=["user"],
                dim=2,
                metric="cosine",
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            sa.insert(versions).values(
                table_id=1,
                number=1,
                kind="full",
                status="active",
                space_id="s",
                n_rows=1,
                dim=2,
                content_hash="0" * 64,
                code_version="embank 0.0",
                lineage={},
                storage_path="data/demo/old/x",
                created_at=now,
                created_by="me",
            )
        )
        conn.exec_driver_sql(
            "INSERT INTO benchmark_results (table_id, version_number, task, figure, value, "
            "details, created_at) VALUES (1, 1, 't', 't.score', 0.5, '{}', ?)",
            (now.isoformat(),),
        )
        conn.exec_driver_sql("INSERT INTO aliases VALUES (1, 'latest', 1, ?)", (now.isoformat(),))

    stale = _invoke("show", "demo/old", "--bank", root)
    assert stale.exit_code == 1 and "embank migrate" in stale.output
    migrated = _invoke("migrate", "--bank", root)
    assert migrated.exit_code == 0 and "0002" in migrated.output
    shown = json.loads(_invoke("show", "demo/old", "--bank", root, "--json").stdout)
    assert [(f["figure"], f["value"], f["run"]) for f in shown["benchmarks"]] == [
        ("t.score", 0.5, 1)
    ]
