"""The embedded bank: publish, read back, versions and aliases, and what it refuses."""

import json
import os
import sqlite3

import numpy as np
import pandas as pd
import pytest

import embank
from embank.data.graph import Labels
from embank.errors import (
    InvalidNameError,
    NotFoundError,
    StorageError,
    UsageError,
    ValidationError,
)
from embank.store import files
from embank.vector_table import VectorTable


def _table(n=50, dim=8, seed=0, entity="user"):
    rng = np.random.default_rng(seed)
    keys = [f"k{i}" for i in range(n)]
    return VectorTable.single_entity(entity, keys, rng.standard_normal((n, dim)))


def _snapshot(root):
    """Every file under the bank with its bytes' hash, and the registry's rows."""
    found = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.startswith("registry.db"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                found[path] = hash(fh.read())
    conn = sqlite3.connect(root / "registry.db")
    rows = {
        t: conn.execute(f"SELECT * FROM {t}").fetchall()
        for t in (
            "tables",
            "versions",
            "aliases",
            "alias_history",
            "benchmark_results",
            "audit_log",
        )
    }
    conn.close()
    return found, rows


def test_publish_twice_latest_moves_and_v1_is_unchanged(tmp_path):
    bank = embank.open(tmp_path)
    first = _table(seed=1)
    v1 = bank.publish("demo/t", first, description="first")
    before = np.array(bank.get("demo/t@1").to_numpy())
    v2 = bank.publish("demo/t", _table(seed=2))
    assert (v1.version, v2.version) == (1, 2)
    assert bank.get("demo/t").version == 2
    assert bank.show("demo/t@1").version.aliases == []
    assert bank.show("demo/t@2").version.aliases == ["latest"]
    again = bank.get("demo/t@1")
    np.testing.assert_array_equal(np.asarray(again.to_numpy()), before)
    assert again.verify() == []
    # v1 holds the rows sorted by key, bit for bit what was published
    order = np.argsort(first.keys.astype(str), kind="stable")
    np.testing.assert_array_equal(again.vectors(first.keys[order]), first.vectors[order])
    assert v1.space_id != v2.space_id
    assert bank.show("demo/t@2").version.parent == 1


def test_rows_sorted_bytewise_and_lookup_by_int_key(tmp_path):
    bank = embank.open(tmp_path)
    keys = ["b", "a", "é", "Z", "10", "9"]
    table = VectorTable.single_entity(
        "node", keys, np.arange(12, dtype=np.float32).reshape(6, 2) + 1
    )
    emb = bank.publish("demo/sorted", table)
    assert list(emb.keys) == sorted(keys, key=lambda k: k.encode())
    np.testing.assert_array_equal(emb.vectors([10, "9"]), [[9, 10], [11, 12]])


def test_vectors_missing_modes_and_normalize(tmp_path):
    emb = embank.open(tmp_path).publish("demo/t", _table())
    with pytest.raises(NotFoundError, match="not in demo/t@1"):
        emb.vectors(["k1", "nope"])
    filled = emb.vectors(["k1", "nope"], missing="zero")
    assert (filled[1] == 0).all() and filled[0].any()
    assert np.isnan(emb.vectors(["nope"], missing="nan")).all()
    unit = emb.vectors(["k1", "k2"], normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)


def test_neighbors_exact_and_exclude_self(tmp_path):
    table = _table(n=200, dim=6, seed=3)
    emb = embank.open(tmp_path).publish("demo/t", table, metric="dot")
    found = emb.neighbors("k5", k=4)
    assert "k5" not in [n.key for n in found]
    v = emb.vectors(["k5"])[0]
    scores = emb.to_numpy() @ v
    scores[list(emb.keys).index("k5")] = -np.inf
    want = [emb.keys[i] for i in np.argsort(-scores)[:4]]
    assert [n.key for n in found] == want
    assert [n.score for n in found] == sorted((n.score for n in found), reverse=True)
    assert "k7" not in [n.key for n in emb.neighbors("k5", k=4, exclude=["k7"])]


def test_multi_entity_table_needs_entity(tmp_path):
    rng = np.random.default_rng(0)
    table = VectorTable(
        np.array(["user", "user", "item", "item"], dtype=object),
        np.array(["1", "2", "1", "2"], dtype=object),
        rng.standard_normal((4, 3)),
    )
    emb = embank.open(tmp_path).publish("demo/co", table)
    assert emb.table_info.entities == ["item", "user"]
    with pytest.raises(UsageError, match="pass entity"):
        emb.vectors(["1"])
    assert not np.array_equal(emb.vectors(["1"], entity="user"), emb.vectors(["1"], entity="item"))
    items = emb.neighbors("1", k=5, entity="user", target="item")
    assert {n.entity for n in items} == {"item"} and len(items) == 2


def test_to_pandas_arrow_and_batches(tmp_path):
    table = _table(n=30)
    emb = embank.open(tmp_path).publish("demo/t", table)
    frame = emb.to_pandas()
    assert list(frame.columns) == ["entity", "key", "vector"] and len(frame) == 30
    arrow = emb.to_arrow()
    assert arrow.schema.field("vector").type.list_size == 8
    assert sum(b.num_rows for b in emb.iter_batches(7)) == 30
    np.testing.assert_array_equal(np.stack(frame["vector"]), emb.to_numpy())


def test_search_tables_and_show_shape(tmp_path):
    bank = embank.open(tmp_path)
    bank.publish(
        "cortex/follow-graph",
        _table(),
        description="Who follows whom",
        owner="cortex",
        tags=["social"],
    )
    bank.publish("demo/other", _table(), description="100% sure_thing")
    assert [t.name for t in bank.search("FOLLOW")] == ["cortex/follow-graph"]
    assert [t.name for t in bank.search("social")] == ["cortex/follow-graph"]
    assert [t.name for t in bank.search("100%")] == ["demo/other"]
    assert bank.search("%") == [] or [t.name for t in bank.search("%")] == ["demo/other"]
    assert bank.search("_x") == []
    assert bank.search("'; DROP TABLE tables; --") == []
    assert len(bank.tables()) == 2
    shown = json.loads(bank.show("cortex/follow-graph").model_dump_json())
    assert set(shown) == {"table", "version", "benchmarks", "drift"}
    assert {
        "number",
        "status",
        "aliases",
        "space_id",
        "n_rows",
        "created_at",
        "spec",
        "lineage",
    } <= set(shown["version"])
    assert shown["version"]["created_at"].endswith("Z")


def test_labels_stored_with_version(tmp_path):
    labels = Labels("user", pd.DataFrame({"key": ["k1", "k1", "k2"], "label": ["a", "b", "a"]}))
    emb = embank.open(tmp_path).publish("demo/t", _table(), labels=labels)
    back = emb.labels()
    assert back is not None and back.label_sets() == {"k1": ["a", "b"], "k2": ["a"]}
    assert files.ATTRIBUTES in files.read_manifest(emb.folder)["files"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: _table().__class__.single_entity("user", ["a", "a"], np.ones((2, 3))),
            "duplicate key",
        ),
        (lambda: VectorTable.single_entity("user", ["a", "b"], [[1.0, np.nan], [1, 1]]), "NaN"),
        (
            lambda: VectorTable.single_entity("user", ["a", "b"], [[1.0, np.inf], [1, 1]]),
            "NaN or Inf",
        ),
        (
            lambda: VectorTable.single_entity("user", ["a", "b"], [[0.0, 0.0], [1, 1]]),
            "zero vector",
        ),
        (lambda: VectorTable.single_entity("user", ["a", "b\tc"], np.ones((2, 2))), "tab"),
        (lambda: VectorTable.single_entity("User", ["a"], np.ones((1, 2))), "entity type"),
        (lambda: VectorTable.single_entity("user", [], np.ones((0, 2))), "no rows"),
    ],
)
def test_bad_publishes_write_nothing(tmp_path, make, match):
    bank = embank.open(tmp_path)
    bank.publish("demo/t", _table(dim=2))
    before = _snapshot(tmp_path)
    with pytest.raises((ValidationError, InvalidNameError), match=match):
        bank.publish("demo/t", make())
    assert _snapshot(tmp_path) == before


def test_dimension_and_metric_fixed_by_first_version(tmp_path):
    bank = embank.open(tmp_path)
    bank.publish("demo/t", _table(dim=8))
    before = _snapshot(tmp_path)
    with pytest.raises(ValidationError, match="dimension mismatch: table 'demo/t' has dim 8"):
        bank.publish("demo/t", _table(dim=4))
    with pytest.raises(ValidationError, match="metric mismatch"):
        bank.publish("demo/t", _table(dim=8), metric="dot")
    after = _snapshot(tmp_path)
    assert after[1] == before[1]  # registry unchanged
    assert not list((tmp_path / "_staging").iterdir())


def test_bad_names_and_refs(tmp_path):
    bank = embank.open(tmp_path)
    with pytest.raises(InvalidNameError):
        bank.publish("../evil", _table())
    with pytest.raises(InvalidNameError):
        bank.publish("demo/t", _table(), aliases=["latest"])
    bank.publish("demo/t", _table())
    with pytest.raises(NotFoundError, match="no version 9"):
        bank.get("demo/t@9")
    with pytest.raises(NotFoundError, match="no alias 'production'"):
        bank.get("demo/t@production")
    with pytest.raises(NotFoundError, match="no table 'demo/zz'"):
        bank.get("demo/zz")
    assert not (tmp_path.parent / "evil").exists()


def test_read_only_open_never_creates(tmp_path):
    with pytest.raises(NotFoundError, match="no bank at"):
        embank.open(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_aliases_history_and_audit(tmp_path):
    bank = embank.open(tmp_path)
    bank.publish("demo/t", _table(), aliases=["production"])
    bank.publish("demo/t", _table(seed=5))
    assert bank.get("demo/t@production").version == 1
    assert bank.show("demo/t@production").table.aliases == {"latest": 2, "production": 1}
    conn = sqlite3.connect(tmp_path / "registry.db")
    history = conn.execute(
        "SELECT alias, version_number, previous_version FROM alias_history ORDER BY id"
    ).fetchall()
    assert history == [("latest", 1, None), ("production", 1, None), ("latest", 2, 1)]
    assert [e["action"] for e in bank.audit_log("demo/t")] == ["publish", "publish"]


def test_gc_removes_only_old_unreferenced_folders(tmp_path):
    bank = embank.open(tmp_path)
    emb = bank.publish("demo/t", _table())
    orphan = tmp_path / "data" / "demo" / "t" / "deadbeef"
    orphan.mkdir()
    staged = tmp_path / "_staging" / "cafe"
    staged.mkdir(parents=True)
    assert bank.gc() == []  # too young
    removed = bank.gc(min_age_s=0)
    assert set(removed) == {orphan, staged}
    assert emb.folder.exists() and bank.get("demo/t").verify() == []


def test_failed_commit_leaves_no_folder(tmp_path, monkeypatch):
    bank = embank.open(tmp_path)
    bank.publish("demo/t", _table())
    before = _snapshot(tmp_path)

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bank.registry, "insert_version", boom)
    with pytest.raises(StorageError, match=r"No space left on device.*nothing was published"):
        bank.publish("demo/t", _table(seed=9))
    assert _snapshot(tmp_path) == before
    monkeypatch.undo()
    assert bank.publish("demo/t", _table(seed=9)).version == 2


def test_schema_is_migrated_and_matches_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from embank.store.schema import SCHEMA_REVISION, metadata

    bank = embank.open(tmp_path)
    assert bank.registry.schema_revision() == SCHEMA_REVISION
    with bank.registry.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "schema_version"})
        assert compare_metadata(context, metadata) == []


def test_resolve_sees_every_commit_of_another_bank_object_at_once(tmp_path):
    """Bank.resolve remembers answers until the SQLite registry's data_version moves:
    a publish or an alias move through another connection is seen by the next call."""
    reader = embank.open(tmp_path)
    writer = embank.open(tmp_path)
    writer.publish("demo/t", _table(seed=1))
    assert reader.resolve("demo/t").number == 1
    token = reader.registry.change_token()
    assert reader.registry.change_token() == token  # nothing committed: same value
    assert reader.resolve("demo/t").number == 1  # answered from memory
    writer.publish("demo/t", _table(seed=2))
    assert reader.registry.change_token() != token
    assert reader.resolve("demo/t").number == 2
    writer.set_alias("demo/t@1", "production")
    assert reader.resolve("demo/t@production").number == 1
    writer.set_alias("demo/t@2", "production")
    resolved = reader.resolve("demo/t@production")
    assert (resolved.number, resolved.version_id) == (2, writer.get("demo/t@2").version_id)
    with pytest.raises(NotFoundError, match="no alias 'staging'"):
        reader.resolve("demo/t@staging")
    with pytest.raises(NotFoundError, match="no version 9"):
        reader.resolve("demo/t@9")
