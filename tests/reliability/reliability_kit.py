"""Helpers of the reliability tests: the banks they break, children forked to break them,
and how a bank is compared before and after (imported by conftest.py and the tests)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import reliability_workers
import sqlalchemy as sa

import embank
from embank.store.bank import Bank
from embank.store.schema import metadata

_CONTEXT: list[Any] = []


def fork_context() -> Any:
    """A ``forkserver`` context that imported embank once: children start in milliseconds
    and share no connection, thread or S3 client with the test process."""
    if not _CONTEXT:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["embank.store.bank", "reliability_workers"])
        _CONTEXT.append(context)
    return _CONTEXT[0]


@dataclass
class Stack:
    """One bank and how to open it, here and in a child process."""

    kind: str  # local or shared
    folder: Path  # bank folder (local) or scratch folder (shared)
    registry: str
    offline: str
    online: str
    env: dict[str, str] = field(default_factory=dict)  # what a child needs (S3, cache)
    opened: list[Bank] = field(default_factory=list)

    def bank_args(self) -> dict[str, Any]:
        if self.kind == "local":
            return {"location": str(self.folder)}
        return {"registry": self.registry, "offline": self.offline, "online": self.online}

    def open(self, create: bool = True) -> Bank:
        bank = embank.open(**self.bank_args(), create=create)
        self.opened.append(bank)
        return bank

    def child_args(self, **more: Any) -> dict[str, Any]:
        env = dict(self.env)
        env.update(more.pop("env", {}))
        return {"bank": self.bank_args(), "env": env, **more}


def make_stack(kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> Stack:
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMBANK_CACHE", str(cache))
    for name in ("EMBANK_FAULT_POINT", "EMBANK_FAULT_ACTION", "EMBANK_FAULT_READY"):
        monkeypatch.delenv(name, raising=False)
    if kind == "local":
        folder = tmp_path / "bank"
        return Stack(kind, folder, f"sqlite:///{folder / 'registry.db'}", str(folder), "embedded")
    registry = request.getfixturevalue("postgres_url")
    bucket = request.getfixturevalue("s3_bucket")
    online = request.getfixturevalue("redis_url")
    env = {
        name: value
        for name, value in os.environ.items()
        if name.startswith("AWS_") or name == "EMBANK_CACHE"
    }
    env["EMBANK_CACHE"] = str(tmp_path / "child-cache")
    return Stack(kind, tmp_path, registry, f"s3://{bucket}/bank", online, env)


def close_stack(stack: Stack) -> None:
    for bank in stack.opened:
        if stack.kind == "shared":  # this bank's keys only, never a flush
            client = bank.online.client
            names = list(client.scan_iter(match=f"embank:{bank.bank_id}:*", count=10_000))
            for lo in range(0, len(names), 10_000):
                client.unlink(*names[lo : lo + 10_000])
        bank.close()


# -- comparing a bank before and after ------------------------------------------------


def snapshot(bank: Bank) -> dict[str, Any]:
    """Everything a bank holds, for equality: every registry row, every stored file's
    bytes (a digest) and every online key's value. Like test_cli.py's ``_bank_state``,
    for any backends (S3 objects and Redis keys instead of one folder)."""
    state: dict[str, Any] = {"registry": {}}
    with bank.registry.engine.connect() as conn:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(sa.select(table).order_by(*order)).all()
            state["registry"][table.name] = [tuple(map(_plain, row)) for row in rows]
    offline = bank.offline
    if hasattr(offline, "fs"):  # S3
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(offline.base, recursive=True, allow_not_found=True)
        objects = {}
        for info in offline.fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                with offline.fs.open_input_stream(info.path) as stream:
                    objects[info.path] = hashlib.sha256(stream.read()).hexdigest()
        state["offline"] = objects
    else:
        root = Path(offline.url)
        state["offline"] = {
            str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*"))
            if path.is_file() and not path.name.startswith("registry.db")
        }
    client = getattr(bank.online, "client", None)
    if client is not None:  # Redis: this bank's keys only
        online = {}
        for name in client.scan_iter(match=f"embank:{bank.bank_id}:*", count=10_000):
            kind = client.type(name)
            if kind == b"set":
                online[name] = sorted(client.smembers(name))
            elif name.endswith(b"#meta"):
                online[name] = "meta"  # its created_at is the only moving part
            else:
                online[name] = hashlib.sha256(client.get(name)).hexdigest()
        state["online"] = online
    return state


def _plain(value: Any) -> Any:
    if isinstance(value, dict | list):
        return repr(value)
    return value


def assert_reads_back(bank: Bank, version: int, seed: int) -> None:
    """Version ``version`` holds seed ``seed``'s table, bit for bit: files, whole-table
    reads and online lookups."""
    want = reliability_workers.make_table(seed).sorted()
    emb = bank.get(f"{reliability_workers.TABLE}@{version}")
    assert emb.verify() == []
    assert list(emb.entities) == list(want.entities)
    assert list(emb.keys) == list(want.keys)
    assert np.asarray(emb.to_numpy()).tobytes() == want.vectors.tobytes()
    for entity in ("item", "user"):
        mine = want.entities == entity
        got = emb.vectors(want.keys[mine], entity=entity)
        assert got.tobytes() == want.vectors[mine].tobytes()
