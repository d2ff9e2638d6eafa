"""One contract for every combination of the bank's backends.

Each test runs over ``registry + offline + online``:

- ``sqlite-local-embedded``: a folder bank, as by default;
- ``sqlite-local-redis``: a folder bank serving lookups from Redis;
- ``postgresql-local-embedded``: a PostgreSQL registry, version folders on a local disk;
- ``postgresql-s3-redis``: the shared deployment, S3 being moto in server mode.

Isolation: a fresh PostgreSQL schema, a fresh S3 bucket and a fresh bank id (hence Redis key
prefix) per test. Without PostgreSQL or Redis the combinations that need them are skipped,
or fail under ``CI=true``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import embank
from embank.benchmarks.base import Figure, TaskResult
from embank.errors import NotFoundError, StorageError, UsageError, ValidationError
from embank.store.bank import Bank
from embank.vector_table import VectorTable

COMBOS = [
    "sqlite-local-embedded",
    "sqlite-local-redis",
    "postgresql-local-embedded",
    "postgresql-s3-redis",
]
WORKER = Path(__file__).with_name("publish_worker.py")


@dataclass
class Backends:
    """One combination: how a publisher opens the bank, and how a consumer does."""

    name: str
    folder: Path  # the bank folder of sqlite banks; a scratch folder otherwise
    registry: str
    offline: str
    online: str
    patch: pytest.MonkeyPatch
    opened: list[Bank] = field(default_factory=list)

    @property
    def folder_bank(self) -> bool:
        return self.name.startswith("sqlite")

    def publisher_args(self) -> dict[str, Any]:
        """What a publisher names: the folder (plus Redis) for sqlite banks, else all three."""
        if self.folder_bank:
            args: dict[str, Any] = {"location": str(self.folder)}
            if self.online != "embedded":
                args["online"] = self.online
            return args
        return {"registry": self.registry, "offline": self.offline, "online": self.online}

    def open(self, create: bool = True, **args: Any) -> Bank:
        bank = embank.open(**(args or self.publisher_args()), create=create)
        self.opened.append(bank)
        return bank

    def consumer(self) -> Bank:
        """The bank opened by its registry URL alone, as a reader on another machine would
        (its own, empty cache for remote version files)."""
        self.patch.setenv("EMBANK_CACHE", str(self.folder.parent / f"cache-{len(self.opened)}"))
        return self.open(create=False, location=self.registry)


@pytest.fixture(params=COMBOS)
def backends(request, tmp_path, monkeypatch):
    registry_kind, offline_kind, online_kind = request.param.split("-")
    monkeypatch.setenv("EMBANK_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "bank"
    if registry_kind == "sqlite":
        registry = f"sqlite:///{folder / 'registry.db'}"
    else:
        registry = request.getfixturevalue("postgres_url")
    if offline_kind == "local":
        offline = str(folder if registry_kind == "sqlite" else tmp_path / "files")
    else:
        offline = f"s3://{request.getfixturevalue('s3_bucket')}/banks/main"
    online = request.getfixturevalue("redis_url") if online_kind == "redis" else "embedded"
    combo = Backends(request.param, folder, registry, offline, online, monkeypatch)
    yield combo
    for bank in combo.opened:
        if online_kind == "redis":  # this bank's keys only, never a flush
            client = bank.online.client
            names = list(client.scan_iter(match=f"embank:{bank.bank_id}:*", count=10_000))
            for lo in range(0, len(names), 10_000):
                client.unlink(*names[lo : lo + 10_000])
        bank.close()


def _table(n: int = 60, dim: int = 8, seed: int = 0) -> VectorTable:
    rng = np.random.default_rng(seed)
    half = n // 2
    entities = ["user"] * half + ["item"] * (n - half)
    keys = [f"u{i}" for i in range(half)] + [f"i{i}" for i in range(n - half)]
    keys[0], keys[half] = "é:1 x", "1"  # a key with a colon, a space and non-ASCII
    return VectorTable(
        np.array(entities, object), np.array(keys, object), rng.standard_normal((n, dim))
    )


def _sorted(table: VectorTable) -> VectorTable:
    return table.sorted()


def _result(value: float) -> TaskResult:
    figure = Figure(
        name="topic_prediction.macro_f1_at_50",
        value=value,
        baseline=0.1,
        baseline_name="majority",
        sample_size=60,
        seed=0,
        run_time_s=0.5,
    )
    return TaskResult(task="topic_prediction", figures=[figure], run_time_s=0.5)


def _state(bank: Bank) -> tuple[list[str], list[str], list[tuple[str, int]]]:
    """What the stores hold and which versions the registry has."""
    versions = [(t.name, v.number) for t in bank.tables() for v in bank.versions(t.name)]
    return (
        sorted(i.name for i in bank.offline.list()),
        sorted(i.name for i in bank.online.list()),
        versions,
    )


# -- publish and read ---------------------------------------------------------------------


def test_publish_then_read_back_bit_for_bit(backends):
    table = _table()
    published = backends.open().publish("demo/co", table)
    want = _sorted(table)
    emb = backends.consumer().get("demo/co")  # a fresh client: registry URL only
    assert emb.version == published.version == 1
    assert list(emb.entities) == list(want.entities)
    assert list(emb.keys) == list(want.keys)
    assert np.asarray(emb.to_numpy()).tobytes() == want.vectors.tobytes()
    users = want.entities == "user"
    got = emb.vectors(want.keys[users], entity="user")
    assert got.dtype == np.float32 and got.tobytes() == want.vectors[users].tobytes()
    arrow = emb.to_arrow().column("vector").combine_chunks()
    assert arrow.type == pa.list_(pa.float32(), 8)
    assert arrow.flatten().to_numpy().tobytes() == want.vectors.tobytes()
    assert emb.verify() == []


def test_versions_latest_and_aliases(backends):
    bank = backends.open()
    bank.publish("demo/t", _table(seed=1), aliases=["production"])
    bank.publish("demo/t", _table(seed=2))
    reader = backends.consumer()
    assert [v.number for v in reader.versions("demo/t")] == [1, 2]
    assert reader.get("demo/t").version == 2
    assert reader.get("demo/t@production").version == 1
    assert reader.show("demo/t@2").version.parent == 1
    assert reader.show("demo/t").table.aliases == {"latest": 2, "production": 1}
    first = _sorted(_table(seed=1))
    assert np.asarray(reader.get("demo/t@1").to_numpy()).tobytes() == first.vectors.tobytes()
    users = first.entities == "user"
    got = reader.get("demo/t@production").vectors(first.keys[users], entity="user")
    assert got.tobytes() == first.vectors[users].tobytes()
    with pytest.raises(NotFoundError, match="no version 3"):
        reader.get("demo/t@3")
    assert [e["action"] for e in reader.audit_log("demo/t")] == ["publish", "publish"]


def test_batch_lookup_with_missing_keys(backends):
    n = 12_001  # more than one lookup batch
    rng = np.random.default_rng(7)
    table = VectorTable.single_entity("node", [str(i) for i in range(n)], rng.random((n, 4)) + 0.1)
    emb = backends.open().publish("demo/big", table)
    asked = [5, "nope", 11_999, "12000", -1]
    with pytest.raises(NotFoundError, match="2 key\\(s\\) not in demo/big@1"):
        emb.vectors(asked)
    zero = emb.vectors(asked, missing="zero")
    np.testing.assert_array_equal(zero[[0, 2, 3]], table.vectors[[5, 11_999, 12_000]])
    assert not zero[[1, 4]].any()
    nan = emb.vectors(asked, missing="nan")
    assert np.isnan(nan[[1, 4]]).all() and np.isfinite(nan[[0, 2, 3]]).all()
    unit = emb.vectors([1, 2], normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)
    every = emb.vectors([str(i) for i in range(n)])
    assert every.tobytes() == table.vectors.tobytes()
    assert emb.vectors([]).shape == (0, 4)


def test_lookups_are_served_by_the_online_store_and_rebuilt(backends):
    bank = backends.open()
    table = _table(n=400, dim=6, seed=3)
    emb = bank.publish("demo/t", table)
    want = _sorted(table)
    if backends.online == "embedded":
        (emb.folder / "online.vectors.npy").unlink()  # the online file is lost
        with pytest.raises(FileNotFoundError):
            bank.get("demo/t").vectors(["u1"], entity="user")
    else:
        client = bank.online.client
        prefix = bank.online.prefix(emb.version_id)
        for name in client.scan_iter(match=prefix + "*"):  # as if Redis was flushed
            client.unlink(name)
        with pytest.raises(StorageError, match="no complete copy"):
            bank.get("demo/t").vectors(["u1"], entity="user")
    rebuilt = bank.rebuild_online("demo/t")
    sample = np.random.default_rng(0).choice(want.n_rows, size=100, replace=False)
    for entity in ("item", "user"):
        rows = [r for r in sample if want.entities[r] == entity]
        got = rebuilt.vectors(want.keys[rows], entity=entity)
        assert got.tobytes() == want.vectors[rows].tobytes()
    assert rebuilt.verify() == []


def test_neighbors_are_exact(backends):
    table = VectorTable.single_entity(
        "user",
        [f"k{i:03d}" for i in range(200)],
        np.random.default_rng(4).standard_normal((200, 6)),
    )
    emb = backends.open().publish("demo/nn", table, metric="dot")
    emb = backends.consumer().get("demo/nn")
    found = emb.neighbors("k005", k=4)
    scores = table.vectors @ table.vectors[5]
    scores[5] = -np.inf
    assert [n.key for n in found] == [f"k{i:03d}" for i in np.argsort(-scores)[:4]]
    by_vector = emb.neighbors_by_vector(table.vectors[5], k=3)
    best = np.argsort(-(table.vectors @ table.vectors[5]))[:3]
    assert [n.key for n in by_vector] == [f"k{i:03d}" for i in best]


def test_show_search_and_benchmark_figures(backends):
    bank = backends.open()
    bank.publish(
        "cortex/follow-graph",
        _table(),
        description="Who follows whom",
        owner="cortex",
        tags=["social"],
        results=[_result(0.31)],
        spec={"table": "cortex/follow-graph"},
        lineage={"algorithm": {"name": "spectral"}},
    )
    bank.publish("demo/other", _table(), description="100% sure_thing")
    run = bank.record_benchmarks("cortex/follow-graph@1", [_result(0.33)])
    reader = backends.consumer()
    assert [t.name for t in reader.search("FOLLOW")] == ["cortex/follow-graph"]
    assert [t.name for t in reader.search("social")] == ["cortex/follow-graph"]
    assert [t.name for t in reader.search("100%")] == ["demo/other"]
    assert reader.search("'; DROP TABLE tables; --") == []
    shown = reader.show("cortex/follow-graph")
    assert run == 2
    (figure,) = shown.benchmarks
    assert (figure.figure, figure.value, figure.run, figure.baseline) == (
        "topic_prediction.macro_f1_at_50",
        0.33,
        2,
        0.1,
    )
    body = json.loads(shown.model_dump_json())
    assert body["version"]["spec"] == {"table": "cortex/follow-graph"}
    assert body["version"]["lineage"]["algorithm"] == {"name": "spectral"}
    assert body["version"]["created_at"].endswith("Z")
    assert body["table"]["entities"] == ["item", "user"] and body["table"]["tags"] == ["social"]


# -- failures and housekeeping --------------------------------------------------------------


def test_failed_publish_changes_nothing(backends):
    bank = backends.open()
    bank.publish("demo/t", _table(dim=8))
    before = _state(bank)
    with pytest.raises(ValidationError, match="dimension mismatch"):
        bank.publish("demo/t", _table(dim=4))
    with pytest.raises(ValidationError, match="duplicate key"):
        bank.publish("demo/t", VectorTable.single_entity("user", ["a", "a"], np.ones((2, 8))))

    def broken(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    original = bank.registry.insert_version
    bank.registry.insert_version = broken
    with pytest.raises(StorageError, match="No space"):
        bank.publish("demo/t", _table(seed=9))
    bank.registry.insert_version = original
    assert _state(bank) == before
    assert bank.publish("demo/t", _table(seed=9)).version == 2


def test_gc_removes_what_a_crashed_publish_left(backends):
    bank = backends.open()
    kept = bank.publish("demo/t", _table())

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt  # killed between the uploads and the commit

    bank.registry.insert_version = crash
    bank._discard = lambda *_args: None  # no clean-up: the process died
    with pytest.raises(KeyboardInterrupt):
        bank.publish("demo/t", _table(seed=5))
    del bank.registry.insert_version, bank._discard
    offline, online, versions = _state(bank)
    assert len(offline) == 2 and versions == [("demo/t", 1)]
    assert len(online) == (0 if backends.online == "embedded" else 2)
    assert bank.gc() == []  # younger than an hour: maybe a publish in progress
    assert bank.gc(min_age_s=0, dry_run=True) and _state(bank)[0] == offline
    removed = bank.gc(min_age_s=0)
    assert len(removed) == (1 if backends.online == "embedded" else 2)
    offline, online, _ = _state(bank)
    assert offline == [f"data/demo/t/{kept.version_id}"]
    assert online == ([] if backends.online == "embedded" else [kept.version_id])
    reader = backends.consumer().get("demo/t")
    assert reader.verify() == [] and reader.vectors(["u1"], entity="user").shape == (1, 8)


def test_fresh_registry_is_migrated_and_matches_the_models(backends):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from embank.store.registry import Registry
    from embank.store.schema import SCHEMA_REVISION, metadata

    if backends.folder_bank:
        backends.folder.mkdir()
    registry = Registry(backends.registry)
    try:
        assert registry.schema_revision() is None and not registry.exists()
        assert registry.migrate() == SCHEMA_REVISION
        assert registry.migrate() == SCHEMA_REVISION  # again: nothing to do
        assert registry.schema_revision() == SCHEMA_REVISION
        with registry.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": "schema_version"})
            assert compare_metadata(context, metadata) == []
    finally:
        registry.close()


def test_read_only_open_creates_nothing(backends):
    with pytest.raises(NotFoundError, match="no bank at"):
        backends.open(create=False)
    with pytest.raises(NotFoundError, match="no bank at"):
        backends.consumer()
    from embank.store.registry import Registry

    if backends.folder_bank:
        assert not backends.folder.exists()
    else:
        registry = Registry(backends.registry)
        assert registry.schema_revision() is None
        registry.close()


def test_refuses_a_client_that_names_other_backends(backends, tmp_path):
    backends.open().publish("demo/t", _table())
    other_offline = str(tmp_path / "elsewhere")
    with pytest.raises(UsageError) as refused:
        backends.open(location=backends.registry, offline=other_offline)
    message = str(refused.value)
    assert "offline store" in message and other_offline in message
    shown = backends.offline if not backends.folder_bank else str(backends.folder)
    assert shown in message
    other_online = "embedded" if backends.online != "embedded" else "redis://127.0.0.1:6379/9"
    with pytest.raises(UsageError, match="online store") as refused:
        backends.open(location=backends.registry, online=other_online)
    assert other_online in str(refused.value)
    # naming the recorded ones is fine
    same = backends.open(
        location=backends.registry, offline=backends.offline, online=backends.online
    )
    assert same.get("demo/t").version == 1


@pytest.mark.parametrize(
    "backends", ["sqlite-local-embedded", "postgresql-s3-redis"], indirect=True
)  # one combination per registry is enough for the race
def test_concurrent_publishers_get_versions_one_to_n(backends, tmp_path):
    first = VectorTable.single_entity("user", ["k0"], np.ones((1, 4)))
    backends.open().publish("race/table", first)  # the bank and the table exist
    n_publishers = 4
    go = tmp_path / "go"
    processes = []
    for seed in range(n_publishers):
        ready = tmp_path / f"ready-{seed}"
        args = {
            "bank": {"location": backends.registry},
            "seed": seed,
            "ready": str(ready),
            "go": str(go),
        }
        command = [sys.executable, str(WORKER), json.dumps(args)]
        processes.append(
            (ready, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        )
    try:
        for ready, process in processes:
            while not ready.exists():
                assert process.poll() is None, process.communicate()[1].decode()[-2000:]
                time.sleep(0.01)
        go.touch()
        outputs = []
        for _, process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()[-2000:]
            outputs.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
    numbers = sorted(o["version"] for o in outputs)
    assert numbers == list(range(2, n_publishers + 2))
    reader = backends.consumer()
    assert [v.number for v in reader.versions("race/table")] == list(range(1, n_publishers + 2))
    for output in outputs:
        rng = np.random.default_rng(output["seed"])
        want = rng.standard_normal((20, 4)).astype(np.float32)
        emb = reader.get(f"race/table@{output['version']}")
        got = emb.vectors([f"k{i}" for i in range(20)])
        assert got.tobytes() == want.tobytes() and emb.verify() == []
    assert reader.get("race/table").version == n_publishers + 1


def test_cli_finds_the_bank_by_its_registry_url(backends):
    from typer.testing import CliRunner

    from embank.cli import app

    backends.open().publish("demo/t", _table())
    runner = CliRunner()
    listed = runner.invoke(app, ["ls", "--bank", backends.registry, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [t["name"] for t in json.loads(listed.stdout)] == ["demo/t"]
    near = runner.invoke(
        app, ["neighbors", "demo/t", "u1", "--entity", "user", "--bank", backends.registry]
    )
    assert near.exit_code == 0, near.output
    backends.patch.setenv("EMBANK_REGISTRY", backends.registry)
    shown = runner.invoke(app, ["show", "demo/t", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["version"]["number"] == 1
    swept = runner.invoke(app, ["gc", "--bank", backends.registry, "--min-age-s", "0"])
    assert swept.exit_code == 0 and "removed 0 leftover(s)" in swept.output
    migrated = runner.invoke(app, ["migrate", "--bank", backends.registry])
    assert migrated.exit_code == 0 and "0002" in migrated.output


# -- S3 only ------------------------------------------------------------------------------


def test_s3_copies_are_checked_and_the_endpoint_can_be_in_the_url(
    s3_endpoint, s3_bucket, tmp_path, monkeypatch
):
    from pyarrow import fs as pafs

    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")  # only the URL names the endpoint
    monkeypatch.setenv("EMBANK_CACHE", str(tmp_path / "publisher-cache"))
    offline = f"s3://{s3_bucket}/p?endpoint_override={s3_endpoint}"
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    with embank.open(registry=registry, offline=offline) as bank:
        emb = bank.publish("demo/t", _table())
        assert bank.info["offline"] == offline
    monkeypatch.setenv("EMBANK_CACHE", str(tmp_path / "reader-cache"))
    with embank.open(registry, create=False) as bank:
        assert bank.get("demo/t").verify() == []  # downloaded, checked, cached
    s3 = pafs.S3FileSystem(
        endpoint_override=s3_endpoint.split("://")[1], scheme="http", region="us-east-1"
    )
    key = f"{s3_bucket}/p/data/demo/t/{emb.version_id}/vectors.parquet"
    with s3.open_output_stream(key) as out:
        out.write(b"not what the manifest says")
    monkeypatch.setenv("EMBANK_CACHE", str(tmp_path / "third-cache"))
    with embank.open(registry, create=False) as bank:
        with pytest.raises(StorageError, match=r"vectors\.parquet differ from the manifest"):
            bank.get("demo/t").to_arrow()
        assert not (tmp_path / "third-cache" / bank.bank_id / "data").exists() or not any(
            (tmp_path / "third-cache" / bank.bank_id / "data").rglob("*.parquet")
        )


def test_s3_cache_keeps_to_its_bound_least_recently_used_first(
    s3_endpoint, s3_bucket, tmp_path, monkeypatch
):
    from embank.store.backends.cache import cached_versions

    offline = f"s3://{s3_bucket}/lru"
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("EMBANK_CACHE", str(tmp_path / "publisher-cache"))
    with embank.open(registry=registry, offline=offline) as bank:
        for seed in range(3):
            bank.publish("demo/t", _table(seed=seed))
    reader_cache = tmp_path / "reader-cache"
    monkeypatch.setenv("EMBANK_CACHE", str(reader_cache))
    with embank.open(registry, create=False) as bank:
        first = bank.get("demo/t@1")
        assert first.verify() == []
        one_version = cached_versions(reader_cache / bank.bank_id)[0].n_bytes
        # room for two copies: reading a third evicts the least recently used one
        monkeypatch.setenv("EMBANK_CACHE_MAX_BYTES", str(2 * one_version + one_version // 2))
        bank.get("demo/t@2").verify()
        bank.get("demo/t@1").verify()  # a cache hit: version 1 is now the most recently used
        vectors_3 = bank.get("demo/t@3").to_numpy().copy()
        held = sorted(v.path.name for v in cached_versions(reader_cache / bank.bank_id))
        versions = {bank.get(f"demo/t@{n}").version_id: n for n in (1, 3)}
        assert held == sorted(versions)  # version 2 went
        np.testing.assert_array_equal(vectors_3, _sorted(_table(seed=2)).vectors)
        assert bank.get("demo/t@2").verify() == []  # downloaded again on demand
    from typer.testing import CliRunner

    from embank.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["cache", "ls", "--bank", registry, "--json"])
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)["versions"]) == 2
    pruned = runner.invoke(app, ["cache", "prune", "--max-size", "1", "--bank", registry])
    assert pruned.exit_code == 0 and "removed 2 cached version(s)" in pruned.output
    with embank.open(registry, create=False) as bank:
        assert cached_versions(reader_cache / bank.bank_id) == []


def test_cache_sizes_are_read_as_people_write_them():
    from embank.errors import UsageError
    from embank.store.backends.cache import parse_size

    assert parse_size("20G") == 20 << 30
    assert parse_size("512MiB") == 512 << 20
    assert parse_size("1.5k") == 1536
    assert parse_size("1000") == 1000
    with pytest.raises(UsageError, match="write e\\.g\\. 20G"):
        parse_size("lots")
