"""What the reliability tests run in other processes, and the tables they publish.

Children are forked from a ``forkserver`` that imported embank once (``fork_context`` in
conftest.py), so each costs milliseconds, not the two seconds of a fresh interpreter; a
child sets its environment (fault point, S3 endpoint, cache) from its arguments, since a
forkserver's environment is the one it started with.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embank.data.graph import Labels
from embank.vector_table import VectorTable

TABLE = "demo/t"


def make_table(seed: int, n: int = 120, dim: int = 8) -> VectorTable:
    """Users and items (keys with a colon, a space and non-ASCII among them), in no order."""
    rng = np.random.default_rng(seed)
    half = n // 2
    entities = ["user"] * half + ["item"] * (n - half)
    keys = [f"u{i}" for i in range(half)] + [f"i{i}" for i in range(n - half)]
    keys[0] = "é:1 x"
    order = rng.permutation(n)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return VectorTable(
        np.array(entities, object)[order], np.array(keys, object)[order], vectors[order]
    )


def make_labels(table: VectorTable) -> Labels:
    users = [k for e, k in zip(table.entities, table.keys, strict=True) if e == "user"]
    return Labels("user", pd.DataFrame({"key": users, "label": ["a", "b"] * (len(users) // 2)}))


def make_holdout(table: VectorTable) -> pd.DataFrame:
    users = [k for e, k in zip(table.entities, table.keys, strict=True) if e == "user"][:4]
    return pd.DataFrame(
        {"src_entity": "user", "src": users, "dst_entity": "item", "dst": ["i0", "i1", "i2", "i3"]}
    )


def publish(bank: Any, seed: int, **kwargs: Any) -> Any:
    """Publish version ``seed``'s table (with labels and a hold-out: more files, more steps)."""
    table = make_table(seed)
    return bank.publish(
        TABLE, table, labels=make_labels(table), holdout=make_holdout(table), **kwargs
    )


def _open(args: dict[str, Any]) -> Any:
    os.environ.update(args.get("env", {}))
    import embank

    return embank.open(**args["bank"], create=False)


def publish_once(args: dict[str, Any]) -> None:
    """Child: publish version ``seed`` (a fault point in ``env`` may end it), then write
    the version number to ``out``."""
    bank = _open(args)
    published = publish(bank, args["seed"])
    Path(args["out"]).write_text(json.dumps({"version": published.version}))


def publish_many(args: dict[str, Any]) -> None:
    """Child: wait for the ``go`` file, then publish versions ``seeds`` one after another,
    moving ``production`` to each after its publish (a second, separate commit)."""
    bank = _open(args)
    go = Path(args["go"])
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    for seed in args["seeds"]:
        published = publish(bank, seed)
        bank.set_alias(f"{TABLE}@{published.version}", "production")
        time.sleep(args.get("pause_s", 0.0))
    Path(args["out"]).write_text("done")


def publish_past_file_size_limit(args: dict[str, Any]) -> None:
    """Child: publish a table bigger than the files this process may write (RLIMIT_FSIZE,
    so the kernel fails a write half way with EFBIG, as a full disk fails it with ENOSPC);
    write the error's type and message to ``out``."""
    import resource
    import signal

    bank = _open(args)
    table = make_table(args["seed"], n=40_000)  # 1.3 MB of vectors
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (args["limit_bytes"], resource.RLIM_INFINITY))
    try:
        bank.publish(TABLE, table)
        outcome = {"error": None}
    except Exception as exc:
        outcome = {"error": type(exc).__name__, "message": str(exc)}
    Path(args["out"]).write_text(json.dumps(outcome))
