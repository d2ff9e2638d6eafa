"""Checking a bank against its registry, and rebuilding its online store.

:func:`check_bank` (``embank check``) reads every registry row and asks the stores whether
what it promises is there: version numbers 1..n per table, every alias on an existing
version and its last history row, ``latest`` on the newest version, each version's folder
in the offline store with a manifest that matches its registry row and (``deep``) files
that match the manifest's sha256, its online copy complete and equal to
``vectors.parquet`` on a sample of keys, and each artifact folder (an ANN index) in the
offline store with (``deep``) files that match its own manifest. What no row references
(a crashed or running publish) is listed as leftovers for ``embank gc``, not a problem.

:func:`rebuild_online` (``embank online rebuild``) writes versions into the online store
again from their offline files, then compares a sample of keys bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from embank.errors import EmbankError, StorageError
from embank.names import LATEST, TableRef, parse_ref
from embank.progress import NullProgress, Progress
from embank.store import files
from embank.store.artifacts import ARTIFACT_PATH, artifact_rows
from embank.store.backends import redact
from embank.store.models import CheckProblem, CheckResult, RebuildResult

if TYPE_CHECKING:
    from embank.store.bank import Bank
    from embank.store.embedding import Embedding

__all__ = ["check_bank", "online_parity", "rebuild_online"]

STATUSES = ("active", "deprecated")


def check_bank(bank: Bank, *, deep: bool = True, sample: int = 100) -> CheckResult:
    """Every registry row against the stores (see the module docstring). ``deep`` hashes
    every file (downloading remote versions into the cache) and compares ``sample`` keys
    per version between the online store and ``vectors.parquet``."""
    from embank.store.bank import _STORAGE_PATH

    problems: list[CheckProblem] = []
    registry = bank.registry
    rows = []
    with registry.read() as conn:
        tables = registry.list_tables(conn)
        for table in tables:
            versions = registry.versions_of(conn, table.id)
            numbers = [v.number for v in versions]
            say = _reporter(problems, table.name)
            if numbers != list(range(1, len(numbers) + 1)):
                say(f"version numbers are {numbers}, not 1..{len(numbers)}")
            aliases = registry.aliases_of(conn, table.id)
            last_move: dict[str, int | None] = {}
            for move in registry.alias_history_of(conn, table.id):
                last_move[move.alias] = move.version_number
            for alias, number in sorted(aliases.items()):
                if number not in numbers:
                    say(f"alias {alias!r} points to version {number}, which does not exist")
                if last_move.get(alias) != number:
                    moved = last_move.get(alias)
                    say(f"alias {alias!r} points to {number}, its history last says {moved}")
            for alias, number in last_move.items():
                if number is not None and alias not in aliases:
                    say(f"alias {alias!r} was last moved to {number} but is gone")
            if numbers and aliases.get(LATEST) != max(numbers):
                latest = aliases.get(LATEST)
                say(f"'latest' points to {latest}, the newest version is {max(numbers)}")
            for version in versions:
                if version.status not in STATUSES:
                    say(f"unknown status {version.status!r}", version.number)
                embedding = None
                if _STORAGE_PATH.match(version.storage_path):
                    embedding = bank._embedding(
                        bank._table_info(conn, table),
                        bank._version_info(conn, table, version),
                        version.storage_path,
                    )
                rows.append((table, version, embedding))
        indexed = artifact_rows(conn)
        names = {table.id: table.name for table in tables}
    referenced = {version.storage_path for _, version, _ in rows}
    referenced |= {row.path for row in indexed}
    stored = {item.name: item for item in bank.offline.list()}
    for row in indexed:
        _check_artifact(bank, row, stored, deep, _reporter(problems, names.get(row.table_id, "?")))
    for table, version, embedding in rows:
        say = _reporter(problems, table.name, version.number)
        path = version.storage_path
        if embedding is None:
            say(f"storage path {path!r} is outside the bank")
            continue
        if path not in stored:
            say(f"its folder {path} is missing from the offline store {redact(bank.offline.url)}")
            continue
        if deep:
            _check_version(embedding, version, sample, say)
    leftovers = [str(p) for p in _staged(bank)]
    leftovers += [
        str(item.location) for name, item in sorted(stored.items()) if name not in referenced
    ]
    referenced_ids = {path.rsplit("/", 1)[-1] for path in referenced}
    try:
        online = bank.online.list()
    except EmbankError as exc:
        problems.append(CheckProblem(problem=f"cannot list the online store: {exc}"))
        online = []
    leftovers += [str(item.location) for item in online if item.name not in referenced_ids]
    return CheckResult(
        ok=not problems,
        deep=deep,
        n_tables=len(tables),
        n_versions=len(rows),
        problems=problems,
        leftovers=leftovers,
    )


def _check_version(
    embedding: Embedding, version: sa.Row, sample: int, say: Callable[[str], None]
) -> None:
    try:
        folder = embedding.folder  # for S3: downloaded, each file checked on the way
        manifest = files.read_manifest(folder)
        for field in ("n_rows", "dim", "content_hash"):
            want = getattr(version, field)
            if manifest.get(field) != want:
                say(
                    f"manifest {field} {manifest.get(field)!r} differs from the registry's {want!r}"
                )
        bad = files.verify_manifest(folder)
        if bad:
            say(f"file(s) {', '.join(bad)} differ from the manifest's sha256")
            return
        online_parity(embedding, sample)
    except (EmbankError, OSError) as exc:
        say(str(exc))


def _check_artifact(
    bank: Bank, row: sa.Row, stored: dict[str, object], deep: bool, say: Callable[..., None]
) -> None:
    """An artifact's folder (an ANN index) is in the offline store and, ``deep``, its files
    match its own manifest."""
    number = row.version_number
    if not ARTIFACT_PATH.match(row.path):
        say(f"{row.kind} artifact path {row.path!r} is outside the bank", number)
        return
    if row.path not in stored:
        say(f"its {row.kind} folder {row.path} is missing from the offline store", number)
        return
    if not deep:
        return
    try:
        bad = files.verify_manifest(bank.offline.local_folder(row.path))
    except (EmbankError, OSError) as exc:
        say(f"its {row.kind} folder {row.path}: {exc}", number)
        return
    if bad:
        say(f"{row.kind} file(s) {', '.join(bad)} differ from their manifest's sha256", number)


def online_parity(embedding: Embedding, sample: int = 1000, seed: int = 0) -> int:
    """Compare up to ``sample`` keys (a seeded random draw) between the online store and
    ``vectors.parquet``, bit for bit; returns how many were compared. Raises
    :class:`StorageError` naming a key that differs or is missing."""
    n_rows = embedding.n_rows
    n = min(sample, n_rows)
    if n <= 0:
        return 0
    picked = np.sort(np.random.default_rng(seed).choice(n_rows, size=n, replace=False))
    parquet = pq.ParquetFile(embedding.folder / files.OFFLINE)
    entities, keys, want = [], [], []
    start = 0
    for group in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        inside = picked[(picked >= start) & (picked < start + size)] - start
        start += size
        if not len(inside):
            continue
        rows = parquet.read_row_group(group).take(pa.array(inside))
        entity = rows.column("entity").combine_chunks()
        if isinstance(entity, pa.DictionaryArray):
            entity = entity.dictionary_decode()
        entities += entity.to_pylist()
        keys += rows.column("key").to_pylist()
        vector = rows.column("vector").combine_chunks()
        want.append(vector.flatten().to_numpy().reshape(len(inside), -1))
    expected = np.concatenate(want).astype("<f4", copy=False)
    entity_of = np.asarray(entities, dtype=object)
    key_of = np.asarray(keys, dtype=object)
    for entity in sorted(set(entities)):
        mine = entity_of == entity
        got, found = embedding.online.lookup(entity, key_of[mine].tolist())
        wrong = ~found | np.any(got.view(np.uint32) != expected[mine].view(np.uint32), axis=1)
        if wrong.any():
            first = int(np.flatnonzero(wrong)[0])
            what = "is missing" if not found[first] else "differs from vectors.parquet"
            raise StorageError(
                f"online copy of {embedding.name}@{embedding.version}: "
                f"{int(wrong.sum())} of {int(mine.sum())} sampled {entity} key(s) wrong, e.g. "
                f"{key_of[mine][first]!r} {what}; run `embank online rebuild "
                f"{embedding.name}@{embedding.version}`"
            )
    return n


def rebuild_online(
    bank: Bank,
    ref: str,
    *,
    all_versions: bool = False,
    progress: Progress | None = None,
    sample: int = 1000,
    actor: str | None = None,
) -> RebuildResult:
    """Write the version ``ref`` names (``all_versions``: every version of its table) into
    the online store again from its offline files, then check ``sample`` keys of each
    against ``vectors.parquet``. Each rebuild is recorded in the audit log."""
    from embank.store.bank import _whoami
    from embank.store.registry import utcnow

    actor = actor or _whoami()
    progress = progress or NullProgress()
    parsed = parse_ref(ref)
    if all_versions:
        numbers = [v.number for v in bank.versions(parsed.table)]
    else:
        numbers = [bank.get(str(parsed)).version]
    n_rows = n_compared = 0
    for number in numbers:
        target = str(TableRef(parsed.table, version=number))
        with progress.task(f"rebuild {target} in {redact(bank.online.url)}", total=3) as task:
            embedding = bank.get(target)
            embedding.folder  # noqa: B018 - fetch the files first (a download for S3)
            task.advance()
            started = time.perf_counter()
            rebuilt = bank.rebuild_online(target)
            task.advance()
            compared = online_parity(rebuilt, sample)
            task.advance()
        n_rows += rebuilt.n_rows
        n_compared += compared
        now = utcnow()
        with bank.registry.write() as conn:
            bank.registry.audit(
                conn,
                "rebuild_online",
                actor,
                now,
                parsed.table,
                number,
                online=redact(bank.online.url),
                n_rows=rebuilt.n_rows,
                n_compared=compared,
                seconds=round(time.perf_counter() - started, 3),
            )
    return RebuildResult(
        table=parsed.table,
        versions=numbers,
        online=redact(bank.online.url),
        n_rows=n_rows,
        n_compared=n_compared,
    )


def _reporter(
    problems: list[CheckProblem], table: str, version: int | None = None
) -> Callable[..., None]:
    def say(problem: str, number: int | None = version) -> None:
        problems.append(CheckProblem(table=table, version=number, problem=problem))

    return say


def _staged(bank: Bank) -> list[Path]:
    staging = bank.offline.staging_root
    if not staging.exists():
        return []
    return sorted(p for p in staging.iterdir() if p.is_dir())
