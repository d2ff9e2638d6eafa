"""RELIABILITY.md, "readers during publish and alias moves": a reader sees one whole
version, old or new.

A child process publishes versions 2..6 one after another and moves ``production`` to
each right after its publish, while this process reads ``latest`` and ``production`` in a
loop: every read resolves to one version whose rows (files, whole-table reads and online
lookups) are exactly that version's, checked against the content hash in its registry
row; versions never go backwards; both kinds of stack (local, PostgreSQL + S3 + Redis).
"""

from __future__ import annotations

import time

import numpy as np
from reliability_kit import fork_context
from reliability_workers import TABLE, make_table, publish, publish_many

from embank.store import files
from embank.vector_table import VectorTable

SEEDS = [2, 3, 4, 5, 6]


def _read_whole(bank, ref: str) -> int:
    """Read ``ref`` completely; check it is one whole version; return its number."""
    emb = bank.get(ref)
    rows = VectorTable(emb.entities, emb.keys, np.asarray(emb.to_numpy()))
    assert files.content_hash(rows) == emb.version_info.content_hash, f"{ref}: a torn read"
    want = make_table(emb.version).sorted()  # version n holds seed n's table
    assert rows.vectors.tobytes() == want.vectors.tobytes()
    users = want.entities == "user"
    assert emb.vectors(want.keys[users], entity="user").tobytes() == want.vectors[users].tobytes()
    return emb.version


def test_readers_during_publish_and_alias_moves_see_whole_versions(stack, tmp_path):
    bank = stack.open()
    publish(bank, 1, aliases=["production"])
    go, out = tmp_path / "go", tmp_path / "done"
    args = stack.child_args(seeds=SEEDS, go=str(go), out=str(out), pause_s=0.05)
    child = fork_context().Process(target=publish_many, args=(args,))
    child.start()
    reader = stack.open(create=False)  # a client of its own
    seen = {"latest": [], "production": []}
    try:
        go.touch()
        deadline = time.monotonic() + 90
        while child.is_alive() and time.monotonic() < deadline:
            seen["latest"].append(_read_whole(reader, TABLE))
            seen["production"].append(_read_whole(reader, f"{TABLE}@production"))
        child.join(30)
    finally:
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0 and out.read_text() == "done"
    for alias, versions in seen.items():
        assert versions == sorted(versions), f"{alias} went backwards: {versions}"
    assert len(set(seen["latest"])) >= 2, seen  # the reads overlapped the publishes
    assert _read_whole(reader, TABLE) == 6 and _read_whole(reader, f"{TABLE}@production") == 6
    assert reader.check().ok
