"""Artifacts in the bank: recorded per version, newest wins, files kept by gc, checked."""

from __future__ import annotations

import numpy as np
import pytest

import embank
from embank.ann.stored import build_version_index
from embank.errors import NotFoundError, StorageError
from embank.store.artifacts import INLINE
from embank.vector_table import VectorTable


def _table(n: int, dim: int = 8, seed: int = 0) -> VectorTable:
    rng = np.random.default_rng(seed)
    keys = np.array([f"u{i}" for i in range(n)], dtype=object)
    entities = np.array(["user"] * n, dtype=object)
    return VectorTable(entities, keys, rng.standard_normal((n, dim)).astype(np.float32))


@pytest.fixture
def bank(tmp_path):
    bank = embank.open(tmp_path / "bank")
    bank.publish("demo/users", _table(300))
    bank.publish("demo/users", _table(300, seed=1))
    yield bank
    bank.close()


def test_an_inline_artifact_round_trips_and_the_newest_wins(bank):
    assert bank.get_artifact("demo/users", 1, "map2d") is None
    bank.put_artifact("demo/users", 1, "map2d", {"n": 1})
    bank.put_artifact("demo/users", 1, "map2d", {"n": 2})
    assert bank.get_artifact("demo/users", 1, "map2d") == {"n": 2}
    assert bank.get_artifact("demo/users", 2, "map2d") is None  # per version
    row = bank.artifact("demo/users", 1, "map2d")
    assert row is not None and row.path == INLINE and not row.has_files


def test_artifacts_refuse_unknown_tables_versions_and_paths(bank):
    with pytest.raises(NotFoundError):
        bank.put_artifact("demo/nobody", 1, "map2d", {})
    with pytest.raises(NotFoundError):
        bank.put_artifact("demo/users", 9, "map2d", {})
    with pytest.raises(NotFoundError):
        bank.get_artifact("demo/nobody", 1, "map2d")
    with pytest.raises(StorageError):
        bank.put_artifact("demo/users", 1, "index", {}, path="data/demo/users/../../etc")


def test_gc_keeps_index_folders_an_artifact_references_and_check_verifies_them(bank):
    embedding = bank.get("demo/users@1")
    build_version_index(bank, embedding, kind="hnswlib", n_queries=100)
    first = bank.artifact("demo/users", 1, "index")
    assert first is not None and first.has_files
    folder = bank.root / first.path
    assert (folder / "manifest.json").exists() and (folder / "user" / "hnsw.bin").exists()
    assert bank.gc(min_age_s=0) == []  # referenced: never removed, whatever its age
    assert folder.exists()
    assert bank.check().ok

    # a rebuild replaces the row; the old folder is then garbage
    build_version_index(bank, embedding, kind="hnswlib", n_queries=100)
    second = bank.artifact("demo/users", 1, "index")
    assert second is not None and second.path != first.path
    removed = bank.gc(min_age_s=0)
    assert [str(p) for p in removed] == [str(folder)]
    assert not folder.exists() and (bank.root / second.path).exists()

    # a changed index file is a problem for a deep check; a missing folder for any check
    (bank.root / second.path / "user" / "hnsw.bin").write_bytes(b"broken")
    problems = [p.problem for p in bank.check().problems]
    assert any("differ from their manifest" in p for p in problems), problems
    import shutil

    shutil.rmtree(bank.root / second.path)
    problems = [p.problem for p in bank.check(deep=False).problems]
    assert any("is missing from the offline store" in p for p in problems), problems


def test_an_index_in_s3_is_uploaded_then_downloaded_into_the_cache(
    s3_bucket, tmp_path, monkeypatch
):
    monkeypatch.setenv("EMBANK_CACHE", str(tmp_path / "publisher-cache"))
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    offline = f"s3://{s3_bucket}/banks/main"
    publisher = embank.open(registry=registry, offline=offline)
    publisher.publish("demo/users", _table(400))
    build_version_index(publisher, publisher.get("demo/users"), kind="hnswlib", n_queries=50)
    path = publisher.artifact("demo/users", 1, "index").path
    assert path in {item.name for item in publisher.offline.list()}
    expected = [n.key for n in publisher.get("demo/users").neighbors("u1", k=5)]
    publisher.close()

    # a reader elsewhere: an empty cache, the index fetched and checked on first use
    monkeypatch.setenv("EMBANK_CACHE", str(tmp_path / "reader-cache"))
    reader = embank.open(registry, create=False)
    embedding = reader.get("demo/users")
    assert embedding.saved_index().ann("user").kind == "hnswlib"
    assert (tmp_path / "reader-cache" / reader.bank_id / path / "user" / "hnsw.bin").exists()
    assert [n.key for n in embedding.neighbors("u1", k=5)] == expected
    assert reader.gc(min_age_s=0) == [] and reader.check().ok
    reader.close()
