"""The CLI in-process: the pipeline on a small graph, JSON output, and bad input.

Bad input must give one clear line, a non-zero exit, and leave the bank exactly as it was.
"""

import json
import os
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from embank.cli import app

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def project(tmp_path, write_small_project):
    """Two planted communities of 40 users each, labelled, and a spec over them."""
    extra = """\
description: Two planted communities
owner: tests
tags: [synthetic]
gates: ["topic_prediction.macro_f1@50 >= 0.8"]
"""
    return write_small_project(tmp_path, extra=extra)


def _bank_state(bank):
    """Every file's bytes, and the registry's rows (its file bytes move on WAL checkpoints)."""
    if not bank.exists():
        return None
    state = {}
    for dirpath, _, names in os.walk(bank):
        for name in names:
            if name.startswith("registry.db"):
                continue
            with open(os.path.join(dirpath, name), "rb") as fh:
                state[os.path.join(dirpath, name)] = fh.read()
    conn = sqlite3.connect(bank / "registry.db")
    state["registry"] = list(conn.iterdump())
    conn.close()
    return state


def test_run_then_read_everything_back(project, tmp_path):
    bank = tmp_path / "bank"
    result = _invoke("run", project / "spec.yaml", "--bank", bank)
    assert result.exit_code == 0, result.output
    assert "published test/small@1" in result.output
    assert "topic_prediction.macro_f1_at_50" in result.output

    shown = json.loads(_invoke("show", "test/small", "--bank", bank, "--json").stdout)
    assert shown["version"]["number"] == 1 and shown["version"]["aliases"] == ["latest"]
    assert shown["table"]["entities"] == ["user"] and shown["table"]["dim"] == 4
    figures = {f["figure"]: f for f in shown["benchmarks"]}
    assert figures["topic_prediction.macro_f1_at_50"]["value"] >= 0.8
    assert shown["version"]["lineage"]["algorithm"]["name"] == "spectral"
    assert shown["version"]["spec"]["table"] == "test/small"

    listed = json.loads(_invoke("ls", "--bank", bank, "--json").stdout)
    assert [t["name"] for t in listed] == ["test/small"]
    found = json.loads(_invoke("search", "planted", "--bank", bank, "--json").stdout)
    assert [t["name"] for t in found] == ["test/small"]

    near = json.loads(
        _invoke("neighbors", "test/small", "u1", "-k", "5", "--bank", bank, "--json").stdout
    )
    assert near["version"] == 1 and near["space_id"] == shown["version"]["space_id"]
    keys = [n["key"] for n in near["neighbors"]]
    assert len(keys) == 5 and "u1" not in keys
    assert sum(int(k[1:]) < 40 for k in keys) >= 4  # mostly its own community

    out = tmp_path / "npy"
    assert (
        _invoke("export", "test/small", "--format", "npy", "--out", out, "--bank", bank).exit_code
        == 0
    )
    vectors = np.load(out / "vectors.npy", allow_pickle=False)
    assert vectors.shape == (80, 4)
    w2v = tmp_path / "v.txt"
    assert (
        _invoke("export", "test/small@1", "--format", "w2v", "--out", w2v, "--bank", bank).exit_code
        == 0
    )
    assert w2v.read_text().splitlines()[0] == "80 4"
    assert w2v.read_text().splitlines()[1].startswith("user:u0 ")

    again = _invoke(
        "run", project / "spec.yaml", "--bank", bank, "--set", "algorithm.params.seed=1"
    )
    assert again.exit_code == 0, again.output
    shown2 = json.loads(_invoke("show", "test/small", "--bank", bank, "--json").stdout)
    assert shown2["version"]["number"] == 2 and shown2["version"]["parent"] == 1


def test_gate_failure_publishes_nothing(project, tmp_path):
    bank = tmp_path / "bank"
    result = _invoke(
        "run",
        project / "spec.yaml",
        "--bank",
        bank,
        "--set",
        "gates=['topic_prediction.macro_f1@50 >= 1.01']",
    )
    assert result.exit_code == 4
    assert "gate failed, nothing published" in result.output
    assert "topic_prediction.macro_f1_at_50" in result.output
    assert _invoke("show", "test/small", "--bank", bank).exit_code == 3
    forced = _invoke(
        "run",
        project / "spec.yaml",
        "--bank",
        bank,
        "--force",
        "--set",
        "gates=['topic_prediction.macro_f1@50 >= 1.01']",
    )
    assert forced.exit_code == 0, forced.output


def test_forced_publish_is_recorded_in_the_audit_log(project, tmp_path):
    import embank

    bank = tmp_path / "bank"
    assert _invoke("run", project / "spec.yaml", "--bank", bank).exit_code == 0
    gates = "gates=['topic_prediction.macro_f1@50 >= 1.01', 'topic_prediction.micro_f1@50 >= 0']"
    forced = _invoke("run", project / "spec.yaml", "--bank", bank, "--force", "--set", gates)
    assert forced.exit_code == 0, forced.output
    log = embank.open(bank, create=False).audit_log("test/small")
    assert [(e["action"], e["version_number"]) for e in log] == [("publish", 1), ("publish", 2)]
    assert log[0]["details"]["forced"] is False and "failed_gates" not in log[0]["details"]
    details = log[1]["details"]
    assert details["forced"] is True
    (failed,) = details["failed_gates"]  # only the gate that failed, not the one that passed
    assert failed["gate"] == "topic_prediction.macro_f1@50 >= 1.01"
    assert failed["bound"] == 1.01 and failed["value"] < 1.01
    assert "FAILED" in failed["message"]
    shown = json.loads(_invoke("show", "test/small@2", "--bank", bank, "--json").stdout)
    assert shown["version"]["lineage"]["forced"] is True


@pytest.mark.parametrize(
    ("edit", "code", "message"),
    [
        (lambda s: s.replace("path: edges.tsv", "path: missing.tsv"), 2, "no file matches"),
        (lambda s: s.replace("dst: dst", "dst: followee"), 2, "column 'followee'"),
        (
            lambda s: (
                s.replace("entity: user\n    path: edges.tsv", "entity: user\n    path: edges.tsv")
                + "select: {min_degree: 1000}\n"
            ),
            2,
            "selection left no",
        ),
        (
            lambda s: s.replace("name: spectral", "name: word3vec"),
            2,
            "known algorithms: .*spectral",
        ),
        (lambda s: s.replace("owner: tests", "ownr: tests"), 2, "ownr: unknown field"),
        (lambda s: s.replace("test/small", "Test Small"), 2, "namespace/name"),
    ],
)
def test_bad_input_one_line_and_bank_unchanged(project, tmp_path, edit, code, message):
    import re

    bank = tmp_path / "bank"
    assert _invoke("run", project / "spec.yaml", "--bank", bank).exit_code == 0
    before = _bank_state(bank)
    spec = project / "spec.yaml"
    spec.write_text(edit(spec.read_text()))
    result = _invoke("run", spec, "--bank", bank)
    assert result.exit_code == code, result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and re.search(message, error_lines[0]), result.output
    assert _bank_state(bank) == before


def test_read_commands_never_create_a_bank(tmp_path):
    bank = tmp_path / "nobank"
    for args in (["ls"], ["show", "a/b"], ["search", "x"], ["neighbors", "a/b", "1"]):
        result = _invoke(*args, "--bank", bank)
        assert result.exit_code == 3, result.output
        assert "no bank at" in result.output
    assert not bank.exists()


def test_not_found_and_usage_exit_codes(project, tmp_path):
    bank = tmp_path / "bank"
    assert _invoke("run", project / "spec.yaml", "--bank", bank).exit_code == 0
    assert _invoke("show", "test/nope", "--bank", bank).exit_code == 3
    assert _invoke("show", "test/small@7", "--bank", bank).exit_code == 3
    assert _invoke("show", "Bad Name", "--bank", bank).exit_code == 2
    assert _invoke("neighbors", "test/small", "zzz", "--bank", bank).exit_code == 3
    assert (
        _invoke(
            "export", "test/small", "--format", "xls", "--out", tmp_path / "x", "--bank", bank
        ).exit_code
        == 2
    )


def test_bank_from_env_and_toml(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "embank.toml").write_text('[bank]\nurl = "from-toml"\n')
    assert _invoke("run", project / "spec.yaml").exit_code == 0
    assert (tmp_path / "from-toml" / "registry.db").exists()
    monkeypatch.setenv("EMBANK_BANK", str(tmp_path / "from-env"))
    assert _invoke("ls").exit_code == 3  # env wins over the toml; no bank there yet
    assert _invoke("run", project / "spec.yaml").exit_code == 0
    assert (tmp_path / "from-env" / "registry.db").exists()


def test_every_command_has_help():
    import typer

    command = typer.main.get_command(app)
    for name, sub in command.commands.items():
        assert sub.help, f"embank {name} has no help text"
        for param in sub.params:
            assert getattr(param, "help", None), f"embank {name} {param.name} has no help"


def test_relative_gate_compares_with_the_version_at_the_alias_it_moves(project, tmp_path):
    """v1 is production; v2 (worse, forced) only moves latest; v3 aims at production."""
    import embank

    bank = tmp_path / "bank"
    spec = project / "spec.yaml"
    first = _invoke("run", spec, "--bank", bank, "--set", "publish.aliases=[production]")
    assert first.exit_code == 0, first.output
    worse = ["--force", "--set", "algorithm.name=hashing", "--set", "gates=[]"]  # key hashes
    assert _invoke("run", spec, "--bank", bank, *worse).exit_code == 0
    figure = "topic_prediction.macro_f1_at_50"
    opened = embank.open(bank)
    v1 = {f.figure: f.value for f in opened.show("test/small@1").benchmarks}[figure]
    v2 = {f.figure: f.value for f in opened.show("test/small@2").benchmarks}[figure]
    assert v2 < v1 / 1.01, (v1, v2)  # so the gate below passes against v2, fails against v1

    gate = "gates=['topic_prediction.macro_f1@50 >= 1.01 * previous']"
    to_production = _invoke(
        "run", spec, "--bank", bank, "--set", gate, "--set", "publish.aliases=[production]"
    )
    assert to_production.exit_code == 4, to_production.output
    assert f"{1.01 * v1:.4f}" in to_production.output  # the bound is production's figure
    to_latest = _invoke("run", spec, "--bank", bank, "--set", gate)
    assert to_latest.exit_code == 0, to_latest.output
    assert [v.number for v in opened.versions("test/small")] == [1, 2, 3]
