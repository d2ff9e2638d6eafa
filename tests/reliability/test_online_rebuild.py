"""RELIABILITY.md, "online store lost (Redis flushed, file deleted)": rebuilt from offline
data; parity online == offline bit for bit.

The online copy of a version is deleted or corrupted (embedded: its files; Redis: its
keys). ``check()`` finds it; ``embank online rebuild`` writes it again from
``vectors.parquet``; then 1,000 sampled keys looked up online equal the Parquet rows
read directly with pyarrow, bit for bit, and ``check()`` passes.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from reliability_workers import TABLE, make_table
from typer.testing import CliRunner

from embank.cli import app
from embank.store import files


def _damage(bank, emb, how: str) -> None:
    if bank.online.url == "embedded":
        vectors = emb.folder / files.ONLINE_VECTORS
        if how == "lost":
            vectors.unlink()
            (emb.folder / files.ONLINE_KEYS).unlink()
        else:
            data = bytearray(vectors.read_bytes())
            data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
            vectors.write_bytes(bytes(data))
        return
    client = bank.online.client
    names = sorted(client.scan_iter(match=bank.online.prefix(emb.version_id) + "*"))
    if how == "lost":  # as after a flush: nothing of the version
        client.unlink(*names)
    else:  # some rows wrong, some gone; the completion marker still there
        rows = [n for n in names if b"#" not in n]
        for name in rows[:50]:
            client.set(name, b"\x00" * (4 * emb.dim))
        client.unlink(*rows[50:60])


def _parquet_sample(emb, n: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = pq.read_table(emb.folder / files.OFFLINE)
    picked = np.random.default_rng(1).choice(rows.num_rows, size=n, replace=False)
    rows = rows.take(picked)
    entities = np.asarray(rows.column("entity").to_pylist(), dtype=object)
    keys = np.asarray(rows.column("key").to_pylist(), dtype=object)
    vectors = rows.column("vector").combine_chunks().flatten().to_numpy().reshape(n, -1)
    return entities, keys, vectors


@pytest.mark.parametrize("how", ["lost", "corrupted"])
def test_online_store_lost_is_rebuilt_with_parity(stack, how):
    bank = stack.open()
    bank.publish(TABLE, make_table(1, n=400))
    emb = bank.publish(TABLE, make_table(2, n=3000))
    _damage(bank, emb, how)
    found = bank.check()
    assert not found.ok and [p.version for p in found.problems] == [2], found
    where = str(stack.folder) if stack.kind == "local" else stack.registry
    done = CliRunner().invoke(app, ["online", "rebuild", TABLE, "--bank", where, "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["versions"] == [2] and result["n_rows"] == 3000
    assert result["n_compared"] == 1000
    reader = stack.open(create=False)
    fresh = reader.get(TABLE)
    entities, keys, want = _parquet_sample(fresh)
    for entity in ("item", "user"):
        mine = entities == entity
        got = fresh.vectors(keys[mine], entity=entity)
        assert got.tobytes() == np.ascontiguousarray(want[mine], dtype="<f4").tobytes()
    assert reader.check().ok
    assert reader.audit_log(TABLE)[-1]["action"] == "rebuild_online"


def test_rebuild_every_version_after_a_flush(stack):
    """After Redis loses everything (or every online file goes), ``--all`` brings back
    every version of a table, not only ``latest``."""
    bank = stack.open()
    first = bank.publish(TABLE, make_table(1, n=200), aliases=["production"])
    second = bank.publish(TABLE, make_table(2, n=300))
    for emb in (first, second):
        _damage(bank, emb, "lost")
    where = str(stack.folder) if stack.kind == "local" else stack.registry
    done = CliRunner().invoke(app, ["online", "rebuild", TABLE, "--all", "--bank", where])
    assert done.exit_code == 0, done.output
    assert "rebuilt demo/t@1, 2" in done.output
    reader = stack.open(create=False)
    assert reader.check().ok
    want = make_table(1, n=200).sorted()
    users = want.entities == "user"
    got = reader.get(f"{TABLE}@production").vectors(want.keys[users], entity="user")
    assert got.tobytes() == want.vectors[users].tobytes()
