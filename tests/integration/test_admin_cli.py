"""Table administration on the command line: edit, alias, deprecate / undeprecate,
online rebuild, check.

Each change is one audited registry write that never touches a version's files; errors
exit with their class's code (2 usage or bad name, 3 not found) and change nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

import embank
from embank.cli import app
from embank.vector_table import VectorTable

runner = CliRunner()
T = "demo/t"


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _table(seed=0, n=40, entities=("user",)) -> VectorTable:
    rng = np.random.default_rng(seed)
    kinds = [entities[i % len(entities)] for i in range(n)]
    return VectorTable(
        np.array(kinds, object), np.array([f"k{i}" for i in range(n)], object), rng.random((n, 4))
    )


def _files(bank_dir):
    """Every version file's bytes (a digest): administration must never change one."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((bank_dir / "data").rglob("*"))
        if p.is_file()
    }


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def bank_dir(tmp_path):
    folder = tmp_path / "bank"
    with embank.open(folder) as bank:
        bank.publish(T, _table(1), description="first", tags=["old"])
        bank.publish(T, _table(2))
    return folder


def test_edit_description_owner_and_tags(bank_dir):
    files = _files(bank_dir)
    done = _invoke(
        "edit", T, "--description", "Who follows whom", "--owner", "cortex",
        "--add-tag", "social", "--add-tag", "graph", "--remove-tag", "old",
        "--bank", bank_dir, "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["changes"] == {
        "description": {"before": "first", "after": "Who follows whom"},
        "owner": {"before": "", "after": "cortex"},
        "tags": {"before": ["old"], "after": ["graph", "social"]},
    }
    assert body["table"]["tags"] == ["graph", "social"] and body["table"]["owner"] == "cortex"
    shown = json.loads(_invoke("show", T, "--bank", bank_dir, "--json").stdout)
    assert shown["table"]["description"] == "Who follows whom"
    again = _invoke("edit", T, "--owner", "cortex", "--bank", bank_dir)
    assert again.exit_code == 0 and "nothing changed" in again.output
    nothing = _invoke("edit", T, "--bank", bank_dir)
    assert nothing.exit_code == 2 and "nothing to edit" in _error_line(nothing)
    bad_tag = _invoke("edit", T, "--add-tag", "a,b", "--bank", bank_dir)
    assert bad_tag.exit_code == 2 and "invalid tag" in _error_line(bad_tag)
    log = embank.open(bank_dir, create=False).audit_log(T)
    edits = [e for e in log if e["action"] == "edit"]
    assert len(edits) == 1 and edits[0]["details"]["changes"]["owner"]["after"] == "cortex"
    assert _files(bank_dir) == files


def test_entities_may_grow_but_not_drop_what_a_version_holds(tmp_path):
    folder = tmp_path / "bank"
    with embank.open(folder) as bank:
        bank.publish(T, _table(1), entities=["user", "shop"])
    grown = _invoke("edit", T, "--entities", "user,shop,item", "--bank", folder, "--json")
    assert grown.exit_code == 0, grown.output
    assert json.loads(grown.stdout)["table"]["entities"] == ["item", "shop", "user"]
    refused = _invoke("edit", T, "--entities", "item", "--bank", folder)
    assert refused.exit_code == 2
    assert "'user' in version(s) 1" in _error_line(refused)
    dropped = _invoke("edit", T, "--entities", "user", "--bank", folder, "--json")
    assert dropped.exit_code == 0, dropped.output  # no version holds shop or item
    assert json.loads(dropped.stdout)["table"]["entities"] == ["user"]
    bad = _invoke("edit", T, "--entities", "User", "--bank", folder)
    assert bad.exit_code == 2 and "invalid entity type" in _error_line(bad)


def test_alias_set_move_delete_with_history(bank_dir):
    files = _files(bank_dir)
    made = _invoke("alias", f"{T}@1", "production", "--bank", bank_dir)
    assert made.exit_code == 0 and "demo/t@production -> 1 (new alias)" in made.output
    moved = _invoke("alias", f"{T}@2", "production", "--bank", bank_dir, "--json")
    assert json.loads(moved.stdout) == {
        "table": T, "alias": "production", "version": 2, "previous": 1, "changed": True,
    }  # fmt: skip
    same = _invoke("alias", f"{T}@production", "staging", "--bank", bank_dir)
    assert same.exit_code == 0 and "demo/t@staging -> 2" in same.output
    gone = _invoke("alias", T, "production", "--delete", "--bank", bank_dir)
    assert gone.exit_code == 0 and "it pointed to 2" in gone.output
    for args, code, message in (
        ((T, "production", "--delete"), 3, "no alias 'production'"),
        ((f"{T}@1", "latest"), 2, "moved only by a publish"),
        ((T, "production"), 2, "say which version"),
        ((f"{T}@9", "production"), 3, "no version 9"),
        ((f"{T}@1", "Prod"), 2, "invalid alias"),
        (("demo/zz@1", "production"), 3, "no table 'demo/zz'"),
    ):
        result = _invoke("alias", *args, "--bank", bank_dir)
        assert result.exit_code == code and message in _error_line(result), (args, result.output)
    bank = embank.open(bank_dir, create=False)
    assert bank.show(T).table.aliases == {"latest": 2, "staging": 2}
    conn = sqlite3.connect(bank_dir / "registry.db")
    history = conn.execute(
        "SELECT alias, version_number, previous_version FROM alias_history ORDER BY id"
    ).fetchall()
    assert history[2:] == [
        ("production", 1, None),
        ("production", 2, 1),
        ("staging", 2, None),
        ("production", None, 2),
    ]
    actions = [(e["action"], e["version_number"]) for e in bank.audit_log(T)]
    assert actions[2:] == [
        ("move_alias", 1),
        ("move_alias", 2),
        ("move_alias", 2),
        ("delete_alias", 2),
    ]
    assert _files(bank_dir) == files


def test_deprecate_keeps_reading_and_aliases_and_latest(bank_dir, caplog):
    files = _files(bank_dir)
    assert _invoke("alias", f"{T}@1", "production", "--bank", bank_dir).exit_code == 0
    done = _invoke("deprecate", f"{T}@1", "--reason", "bad recall [v1]", "--bank", bank_dir)
    assert done.exit_code == 0, done.output
    assert "deprecated demo/t@1: bad recall [v1]" in done.output
    assert "still pointing at it: production" in done.output
    shown = _invoke("show", f"{T}@production", "--bank", bank_dir)
    assert "status deprecated" in shown.output and "bad recall [v1]" in shown.output
    body = json.loads(_invoke("show", f"{T}@1", "--bank", bank_dir, "--json").stdout)
    assert body["version"]["status"] == "deprecated"
    assert body["version"]["status_reason"] == "bad recall [v1]"
    bank = embank.open(bank_dir, create=False)
    with caplog.at_level(logging.WARNING, logger="embank"):
        emb = bank.get(f"{T}@production")
    assert emb.version == 1 and emb.vectors(["k1"]).shape == (1, 4)  # still reads
    assert "demo/t@1 (demo/t@production) is deprecated: bad recall [v1]" in caplog.text
    onto = _invoke("alias", f"{T}@1", "staging", "--bank", bank_dir)
    assert onto.exit_code == 2 and "is deprecated" in _error_line(onto)
    assert bank.show(T).table.aliases == {"latest": 2, "production": 1}
    # latest moves only by publish, so it is always the newest version
    bank.publish(T, _table(3))
    newest = _invoke("deprecate", f"{T}@latest", "--bank", bank_dir, "--json")
    assert json.loads(newest.stdout)["aliases"] == ["latest"]
    assert bank.get(T).version == 3 and bank.show(T).version.status == "deprecated"
    assert "'latest' moves only" in _invoke("deprecate", f"{T}@3", "--bank", bank_dir).output
    assert bank.publish(T, _table(4)).version == 4 and bank.get(T).version == 4
    back = _invoke("undeprecate", f"{T}@1", "--bank", bank_dir, "--json")
    assert json.loads(back.stdout)["status"] == "active"
    again = _invoke("undeprecate", f"{T}@1", "--bank", bank_dir)
    assert again.exit_code == 0 and "was active already" in again.output
    bare = _invoke("deprecate", T, "--bank", bank_dir)
    assert bare.exit_code == 2 and "say which version" in _error_line(bare)
    actions = [e["action"] for e in bank.audit_log(T)]
    assert actions.count("deprecate") == 2 and actions.count("undeprecate") == 1
    assert {k: v for k, v in _files(bank_dir).items() if k in files} == files


def test_online_rebuild_and_check(bank_dir):
    bank = embank.open(bank_dir, create=False)
    emb = bank.get(f"{T}@1")
    healthy = _invoke("check", "--bank", bank_dir, "--json")
    assert healthy.exit_code == 0 and json.loads(healthy.stdout)["ok"] is True
    (emb.folder / "online.vectors.npy").write_bytes(b"garbage")
    orphan = bank_dir / "data" / "demo" / "t" / "deadbeef"
    orphan.mkdir()
    broken = _invoke("check", "--bank", bank_dir)
    assert broken.exit_code == 1
    assert "demo/t@1: file(s) online.vectors.npy differ from the manifest" in broken.output
    assert "1 leftover(s)" in broken.output and "deadbeef" in broken.output
    rebuilt = _invoke("online", "rebuild", f"{T}@1", "--bank", bank_dir)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilt demo/t@1 in embedded: 40 rows; 40 sampled keys equal" in rebuilt.output
    assert _invoke("gc", "--min-age-s", "0", "--bank", bank_dir).exit_code == 0
    clean = json.loads(_invoke("check", "--bank", bank_dir, "--json").stdout)
    assert clean["ok"] and clean["leftovers"] == [] and clean["n_versions"] == 2
    quick = _invoke("check", "--quick", "--bank", bank_dir)
    assert quick.exit_code == 0 and "(quick)" in quick.output


@pytest.mark.parametrize(
    "args",
    [
        ["edit", "demo/zz", "--owner", "x"],
        ["deprecate", "demo/zz@1"],
        ["undeprecate", f"{T}@7"],
        ["online", "rebuild", "demo/zz"],
        ["alias", "demo/zz", "prod", "--delete"],
    ],
)
def test_not_found_exits_3_and_changes_nothing(bank_dir, args):
    before = sqlite3.connect(bank_dir / "registry.db").execute("SELECT * FROM audit_log").fetchall()
    result = _invoke(*args, "--bank", bank_dir)
    assert result.exit_code == 3, result.output
    _error_line(result)
    after = sqlite3.connect(bank_dir / "registry.db").execute("SELECT * FROM audit_log").fetchall()
    assert after == before


def test_admin_commands_never_create_a_bank(tmp_path):
    missing = tmp_path / "nobank"
    for args in (["check"], ["edit", T, "--owner", "x"], ["alias", f"{T}@1", "p"]):
        result = _invoke(*args, "--bank", missing)
        assert result.exit_code == 3 and "no bank at" in result.output
    assert not missing.exists()


def test_cache_commands_refuse_a_bank_that_reads_in_place(bank_dir):
    for args in (("cache", "ls"), ("cache", "prune", "--max-size", "1G")):
        result = _invoke(*args, "--bank", bank_dir)
        assert result.exit_code != 0
        assert "no cache to show or prune" in _error_line(result)
