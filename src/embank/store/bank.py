"""The bank: registry + offline store + online store; one local folder by default.

Publish writes a version's files into the offline store's local ``_staging/<uuid>/``, puts
the folder under its final unique name ``data/<namespace>/<name>/<uuid>/`` (a rename on a
local disk, an upload to S3), writes its rows into the online store (nothing to do for the
embedded store, a version-scoped key space in Redis), then commits its registry row
(allocating the version number inside that transaction) and moves ``latest``. Nothing of
a version is visible before that commit; a crash before it leaves only data nothing
references, which ``gc`` removes. Backends are chosen by URL (:mod:`embank.store.location`,
:mod:`embank.store.backends`); the registry records the bank's offline and online URLs and
refuses a client that names other ones.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import sqlalchemy as sa

from embank._version import __version__
from embank.benchmarks.base import BenchmarkInputs, TaskResult
from embank.data.graph import Labels
from embank.errors import (
    InvalidNameError,
    NotFoundError,
    StorageError,
    UsageError,
    ValidationError,
)
from embank.names import (
    LATEST,
    check_alias,
    check_entity,
    check_key,
    check_table_name,
    invalid_keys,
    parse_ref,
)
from embank.store import admin, artifacts, faults, files, integrity
from embank.store.backends import open_offline, open_online, redact, same_url, scheme_of
from embank.store.embedding import Embedding
from embank.store.local_version import LocalVersion
from embank.store.location import BankLocation, resolve_location
from embank.store.models import (
    AliasResult,
    CheckResult,
    EditResult,
    FigureInfo,
    ResolvedVersion,
    ShowResult,
    StatusResult,
    TableInfo,
    VersionInfo,
)
from embank.store.registry import Registry, utcnow
from embank.vector_table import SortedRows, VectorTable

__all__ = ["Bank", "open_bank"]

log = logging.getLogger(__name__)

DATA = "data"
GC_MIN_AGE_S = 3600.0
_CHECK_ROWS = 1 << 16
#: references :meth:`Bank.resolve` remembers until the registry changes
_RESOLVED_ENTRIES = 1024
#: bank_info key that says the offline/online URLs are recorded as clients must use them
_BACKENDS_RECORDED = "backends"
#: the recorded offline store of a folder bank that keeps its versions in itself
_IN_FOLDER = "."
_STORAGE_PATH = re.compile(r"^data/[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*/[A-Za-z0-9_-]{1,64}$")


def open_bank(
    location: str | os.PathLike[str] | None = None,
    create: bool = True,
    *,
    registry: str | None = None,
    offline: str | os.PathLike[str] | None = None,
    online: str | None = None,
) -> Bank:
    """Open a bank, found as every command finds it.

    ``location`` is a folder (a local bank) or a registry URL (``sqlite:///…``,
    ``postgresql://…``); ``registry``, ``offline`` (a path or ``s3://bucket/prefix``) and
    ``online`` (``embedded`` or ``redis://host:port/db``) name backends. With none given,
    ``EMBANK_BANK`` / ``EMBANK_REGISTRY`` / ``EMBANK_OFFLINE`` / ``EMBANK_ONLINE``, then
    ``./embank.toml``, then ``./bank``. An existing bank's registry names its stores; naming
    other ones raises :class:`UsageError`. ``create=False`` raises :class:`NotFoundError`
    when no bank is there, so read-only callers never create one.
    """
    where = resolve_location(location, registry=registry, offline=offline, online=online)
    return Bank(where, create=create)


class Bank:
    """A feature store for embeddings. Open with :func:`embank.open`."""

    def __init__(self, location: BankLocation, create: bool = True) -> None:
        self.location = location
        self.root = location.root  # None for a bank opened by its registry URL
        self.registry = Registry(location.registry_url)
        self._resolved: dict[str, tuple[int, ResolvedVersion]] = {}
        try:
            if not self.registry.exists():
                if not create:
                    raise NotFoundError(
                        f"no bank at {location.label} (chosen by {location.source}); "
                        "publish into it first, or pass --bank PATH|URL"
                    )
                info = self._create()
            else:
                self.registry.check_schema()
                info = self.registry.info()
            self.info = info
            self.bank_id = info.get("bank_id") or _fallback_id(location)
            offline_url, online_url = self._backend_urls(info)
            self.offline = open_offline(offline_url, self.bank_id)
            self.online = open_online(online_url, self.bank_id)
        except BaseException:
            self.registry.close()
            raise

    def __repr__(self) -> str:
        return f"<Bank {self.location.label}>"

    def __enter__(self) -> Bank:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the registry's connections and the online store's client."""
        self.registry.close()
        close = getattr(self.online, "close", None)
        if close is not None:
            close()

    def _create(self) -> dict[str, str]:
        """Make the registry and record the bank's backends; returns what is recorded
        (another process's record, when it created the bank first)."""
        where = self.location
        offline = where.offline_url
        if offline is None and where.root is not None:
            offline = str(where.root)
        if offline is None and scheme_of(self.registry.url) == "sqlite":
            offline = str(self._registry_folder())
        if offline is None:
            raise UsageError(
                f"a new bank at {where.label} needs an offline store for its version files: "
                "name one with offline= (EMBANK_OFFLINE, [bank] offline), a folder or s3://…"
            )
        home = self._registry_folder() if scheme_of(self.registry.url) == "sqlite" else None
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
            if same_url(offline, str(home)):
                offline = _IN_FOLDER  # the folder can move with its registry
        if where.root is not None:
            where.root.mkdir(parents=True, exist_ok=True)
        return self.registry.initialize(
            {
                "bank_id": str(uuid.uuid4()),
                "created_at": utcnow().isoformat(),
                "offline": redact(offline),
                "online": redact(where.online_url or "embedded"),
                _BACKENDS_RECORDED: "1",
            }
        )

    def _backend_urls(self, info: dict[str, str]) -> tuple[str, str]:
        """The offline and online URLs to use: the recorded ones; a client that names
        others is refused."""
        where = self.location
        recorded_online = info.get("online") or "embedded"
        recorded = info.get("offline")
        if recorded is None or recorded == _IN_FOLDER or _BACKENDS_RECORDED not in info:
            # in the registry's folder (banks made before backends were recorded always were)
            recorded = str(self._registry_folder())
        for kind, named, stored in (
            ("offline", where.offline_url, recorded),
            ("online", where.online_url, recorded_online),
        ):
            if named is not None and not same_url(named, stored):
                raise UsageError(
                    f"the bank at {where.label} records its {kind} store as {redact(stored)}, "
                    f"but {where.source} names {redact(named)}: open it without naming "
                    f"an {kind} store, or name {redact(stored)}"
                )
        return where.offline_url or recorded, where.online_url or recorded_online

    def _registry_folder(self) -> Path:
        if self.root is not None and self.location.own_registry:
            return self.root
        url = self.registry.url
        if scheme_of(url) != "sqlite":
            raise StorageError(f"the registry {redact(url)} records no offline store")
        return Path(sa.make_url(url).database or ".").absolute().parent

    # -- reading ----------------------------------------------------------------------

    def get(self, ref: str) -> Embedding:
        """A published version: ``"ns/name"`` (latest), ``"ns/name@3"``, ``"…@production"``."""
        parsed = parse_ref(ref)
        with self.registry.read() as conn:
            table_row, version_row = self.registry.resolve(conn, parsed)
            table = self._table_info(conn, table_row)
            version = self._version_info(conn, table_row, version_row)
        if version.status == admin.DEPRECATED:
            named = f"{table.name}@{version.number}"
            log.warning(
                "%s%s is deprecated%s; it still reads",
                named,
                f" ({parsed})" if str(parsed) != named else "",
                f": {version.status_reason}" if version.status_reason else "",
            )
        return self._embedding(table, version, version_row.storage_path)

    def resolve(self, ref: str) -> ResolvedVersion:
        """The version ``ref`` (``NAME``, ``NAME@3``, ``NAME@production``) names now.

        One prebuilt registry query (~0.15 ms; :meth:`get` builds full table and version
        records, ~1 ms), skipped while a SQLite registry has had no commit (its
        ``data_version``: ~13 µs a resolve), so a server can resolve every request afresh
        and serve a new version at once. Raises :class:`NotFoundError` for an unknown
        table, version or alias.
        """
        # Read before the query: a commit in between only makes the next call query again.
        token = self.registry.change_token()
        if token is not None:
            cached = self._resolved.get(ref)
            if cached is not None and cached[0] == token:
                return cached[1]
        parsed = parse_ref(ref)
        with self.registry.read() as conn:
            found = self.registry.locate(conn, parsed)
            if found is None:
                self.registry.resolve(conn, parsed)  # raises, saying what is missing
                raise NotFoundError(f"{ref!r} names no version")  # a race: it just appeared
        name, number, storage_path = found
        resolved = ResolvedVersion(
            table=name, number=number, version_id=storage_path.rsplit("/", 1)[-1]
        )
        if token is not None:
            if len(self._resolved) >= _RESOLVED_ENTRIES:
                self._resolved.clear()
            self._resolved[ref] = (token, resolved)
        return resolved

    def ping(self) -> None:
        """Raise unless the registry answers a read (a health check)."""
        with self.registry.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    def tables(self) -> list[TableInfo]:
        """Every table, by name."""
        with self.registry.read() as conn:
            return [self._table_info(conn, row) for row in self.registry.list_tables(conn)]

    def search(self, text: str) -> list[TableInfo]:
        """Tables whose name, description, owner or tags contain ``text`` (any case)."""
        with self.registry.read() as conn:
            return [self._table_info(conn, row) for row in self.registry.list_tables(conn, text)]

    def show(self, ref: str) -> ShowResult:
        """Table, version, benchmark figures: the body of ``embank show --json``."""
        parsed = parse_ref(ref)
        with self.registry.read() as conn:
            table_row, version_row = self.registry.resolve(conn, parsed)
            # Each figure's latest run, in the order figures first appeared.
            latest: dict[str, sa.Row] = {}
            for row in self.registry.benchmarks_of(conn, table_row.id, version_row.number):
                known = latest.get(row.figure)
                if known is None or row.run >= known.run:
                    latest[row.figure] = row
            figures = [_figure_info(r) for r in latest.values()]
            return ShowResult(
                table=self._table_info(conn, table_row),
                version=self._version_info(conn, table_row, version_row),
                benchmarks=figures,
                drift=_drift_of(version_row.lineage),
            )

    def versions(self, name: str) -> list[VersionInfo]:
        check_table_name(name)
        with self.registry.read() as conn:
            table_row = self.registry.require_table(conn, name)
            return [
                self._version_info(conn, table_row, v)
                for v in self.registry.versions_of(conn, table_row.id)
            ]

    def audit_log(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.registry.read() as conn:
            return [dict(row._mapping) for row in self.registry.audit_entries(conn, name)]

    def join(
        self,
        df: pd.DataFrame,
        *,
        key: str,
        at: str,
        table: str,
        entity: str | None = None,
        alias: str = LATEST,
        prefix: str = "vector",
        expand: bool = False,
        allow_mixed_spaces: bool = False,
    ) -> pd.DataFrame:
        """Point-in-time join: each row gets the vector ``df[key]`` had at ``df[at]``.

        The version is the one ``alias`` pointed to at the row's time; adds the vector,
        ``version`` and ``space_id`` columns and a summary in ``attrs["embank_join"]``.
        Versions of several spaces need ``allow_mixed_spaces=True``. See
        :func:`embank.store.join.join`.
        """
        from embank.store.join import join

        return join(
            self,
            df,
            key=key,
            at=at,
            table=table,
            entity=entity,
            alias=alias,
            prefix=prefix,
            expand=expand,
            allow_mixed_spaces=allow_mixed_spaces,
        )

    # -- publishing -------------------------------------------------------------------

    def publish(
        self,
        name: str,
        table: VectorTable,
        *,
        metric: str = "cosine",
        description: str | None = None,
        owner: str | None = None,
        tags: Sequence[str] | None = None,
        entities: Sequence[str] | None = None,
        labels: Labels | None = None,
        holdout: pd.DataFrame | None = None,
        results: Iterable[TaskResult] = (),
        spec: dict[str, Any] | None = None,
        lineage: dict[str, Any] | None = None,
        aliases: Sequence[str] = (),
        input_fingerprint: str | None = None,
        actor: str | None = None,
        inputs: BenchmarkInputs | None = None,
        audit: Mapping[str, Any] | None = None,
        duplicates: str = "error",
        space_id: str | None = None,
        kind: str = "full",
        row_attributes: pd.DataFrame | None = None,
    ) -> Embedding:
        """Publish ``table`` as the next version of ``name`` and move ``latest`` to it.

        ``inputs`` are what the version's benchmarks read (labels, hold-out, metadata,
        graph, interactions); they are stored in the version, with their sha256 in the
        lineage under ``benchmark_inputs``, so ``embank benchmark NAME@V`` is reproducible.
        ``labels`` / ``holdout``, when given, take the place of those in ``inputs``.
        ``audit`` adds details to the audit log row of this publish (e.g. that it was
        forced past failed gates). Repeated (entity, key) rows are refused, naming them,
        unless ``duplicates`` is ``"first"`` or ``"last"``: then each key keeps that row and
        the lineage records ``duplicates_dropped``. ``space_id`` None gives the version a
        new space; else it joins that one (a refresh that kept the space, a fold-in patch).
        ``kind`` is ``full`` or ``patch`` (a fold-in). ``row_attributes`` (entity, key and
        one column per attribute, e.g. ``folded``, ``support``) is stored beside the rows
        (:func:`embank.store.files.read_row_attributes`).

        Checks everything before writing: names, keys, duplicates, finite values, zero
        vectors under cosine, the table's dimension and metric. Raises
        :class:`ValidationError` with nothing written when a check fails, and
        :class:`StorageError` when a write fails (a full disk, an I/O error), after removing
        what it wrote. The lineage gains ``entity_rows`` (rows per entity type).
        """
        check_table_name(name)
        for alias in aliases:
            if check_alias(alias) == LATEST:
                raise InvalidNameError("'latest' is moved by every publish; do not pass it")
        if metric not in ("cosine", "dot"):
            raise ValidationError(f"unknown metric {metric!r}: use 'cosine' or 'dot'")
        if duplicates not in ("error", "first", "last"):
            raise ValidationError(
                f"duplicates={duplicates!r}: use 'error' (refuse repeats), 'first' or 'last'"
            )
        table = _validated(table, metric)
        dropped = 0
        if duplicates != "error":
            table, dropped = table.deduplicated(keep=duplicates)
        rows = SortedRows.of(table)  # stored order, without a sorted copy of the vectors
        _check_unique(rows)
        declared = sorted(set(entities or table.entity_names()))
        undeclared = sorted(set(table.entity_names()) - set(declared))
        if undeclared:
            raise ValidationError(f"rows have entity types {undeclared} the table does not declare")
        actor = actor or _whoami()
        results = list(results)
        if inputs is not None:
            labels = labels if labels is not None else inputs.labels
            holdout = holdout if holdout is not None else inputs.holdout
        self._precheck(name, table, metric)
        if kind not in ("full", "patch"):
            raise ValidationError(f"kind={kind!r}: use 'full' or 'patch'")
        if space_id is None:
            space_id = str(uuid.uuid4())
        elif not 1 <= len(space_id) <= 36:
            raise ValidationError(f"space_id {space_id!r}: give a version's space_id (a uuid)")
        folder_id = uuid.uuid4().hex
        staging = self.offline.staging_root / folder_id
        storage_path = f"{DATA}/{name}/{folder_id}"
        try:
            staging.mkdir(parents=True)
            faults.point("publish:staging")
            manifest = files.write_version_files(
                staging,
                rows,
                labels,
                holdout,
                {"table": name, "space_id": space_id},
                inputs=inputs,
                row_attributes=row_attributes,
            )
            faults.point("publish:put")
            self.offline.put(staging, storage_path)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            self._discard(storage_path, None)
            if isinstance(exc, OSError):
                raise StorageError(
                    f"could not write the files of a new version of {name} ({exc}); "
                    "nothing was published"
                ) from None
            raise
        digest = manifest["content_hash"]
        lineage = dict(lineage or {})
        counts = pc.value_counts(rows.entities)
        lineage["entity_rows"] = {
            str(entity): int(n)
            for entity, n in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            )
        }
        if dropped:
            lineage["duplicates_dropped"] = {"keep": duplicates, "rows": dropped}
        stored = files.stored_input_files(manifest)
        if stored:
            lineage["benchmark_inputs"] = stored
        try:
            faults.point("publish:online")
            self.online.write(folder_id, table)
            number = self._commit(
                name,
                table,
                metric=metric,
                description=description,
                owner=owner,
                tags=tags,
                entities=declared,
                results=results,
                spec=spec,
                lineage=lineage,
                aliases=aliases,
                input_fingerprint=input_fingerprint,
                actor=actor,
                space_id=space_id,
                kind=kind,
                digest=digest,
                storage_path=storage_path,
                audit=dict(audit or {}),
            )
        except BaseException as exc:
            self._discard(storage_path, folder_id)  # never referenced; gc would remove it too
            if isinstance(exc, OSError):
                raise StorageError(
                    f"could not publish a new version of {name} ({exc}); nothing was published"
                ) from None
            raise
        faults.point("publish:after_commit")
        return self.get(f"{name}@{number}")

    def _precheck(self, name: str, table: VectorTable, metric: str) -> None:
        """Refuse a wrong dimension or metric before any file is written (the commit checks
        again, under the lock)."""
        with self.registry.read() as conn:
            row = self.registry.table_row(conn, name)
        if row is not None:
            self.registry.check_fits(row, dim=table.dim, metric=metric)

    def _discard(self, storage_path: str, version_id: str | None) -> None:
        """Remove what a failed publish stored; what is left, gc removes. Nothing is removed
        when the registry references it after all (a commit whose reply was lost) or cannot
        be asked."""
        try:
            with self.registry.read() as conn:
                if self.registry.references(conn, storage_path):
                    return
            self.offline.delete(storage_path)
            if version_id is not None:
                self.online.delete(version_id)
        except Exception as exc:  # the publish's own error is the one to report
            log.warning("could not remove the leftovers of a failed publish: %s", exc)

    def _commit(
        self,
        name: str,
        table: VectorTable,
        *,
        metric: str,
        description: str | None,
        owner: str | None,
        tags: Sequence[str] | None,
        entities: list[str],
        results: list[TaskResult],
        spec: dict[str, Any] | None,
        lineage: dict[str, Any],
        aliases: Sequence[str],
        input_fingerprint: str | None,
        actor: str,
        space_id: str,
        kind: str,
        digest: str,
        storage_path: str,
        audit: dict[str, Any],
    ) -> int:
        reg = self.registry
        now = utcnow()
        with reg.write() as conn:
            table_row = reg.ensure_table(
                conn,
                name,
                dim=table.dim,
                metric=metric,
                entities=entities,
                description=description,
                owner=owner,
                tags=list(tags) if tags is not None else None,
                now=now,
            )
            number = reg.next_number(conn, table_row.id)
            parent = reg.aliases_of(conn, table_row.id).get(LATEST)
            reg.insert_version(
                conn,
                table_id=table_row.id,
                number=number,
                kind=kind,
                parent=parent,
                status="active",
                space_id=space_id,
                n_rows=table.n_rows,
                dim=table.dim,
                content_hash=digest,
                input_fingerprint=input_fingerprint,
                code_version=f"embank {__version__}",
                spec=spec,
                lineage=lineage,
                storage_path=storage_path,
                created_at=now,
                created_by=actor,
            )
            reg.insert_figures(conn, _figure_rows(table_row.id, number, 1, results, now))
            for alias in (LATEST, *aliases):
                reg.move_alias(conn, table_row.id, alias, number, actor, now)
            details = {
                **audit,
                "n_rows": table.n_rows,
                "content_hash": digest,
                "aliases": [LATEST, *aliases],
            }
            reg.audit(conn, "publish", actor, now, name, number, **details)
            faults.point("publish:commit")
        return number

    def record_benchmarks(
        self,
        ref: str,
        results: Iterable[TaskResult],
        *,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Store ``results`` as a new benchmark run of the version ``ref`` names.

        The version's files never change; its figures gain a run (2 for the first re-run,
        numbers allocated inside the write transaction) that ``show`` then reports. The
        audit log records the run with ``details``. Returns the run number.
        """
        parsed = parse_ref(ref)
        actor = actor or _whoami()
        results = list(results)
        now = utcnow()
        with self.registry.write() as conn:
            table_row, version_row = self.registry.resolve(conn, parsed)
            run = self.registry.next_benchmark_run(conn, table_row.id, version_row.number)
            self.registry.insert_figures(
                conn, _figure_rows(table_row.id, version_row.number, run, results, now)
            )
            recorded = {
                **dict(details or {}),
                "run": run,
                "tasks": [r.task for r in results],
                "n_figures": sum(len(r.figures) for r in results),
                "code_version": f"embank {__version__}",
            }
            self.registry.audit(
                conn, "benchmark", actor, now, table_row.name, version_row.number, **recorded
            )
        return run

    # -- administration ---------------------------------------------------------------

    def edit(
        self,
        name: str,
        *,
        description: str | None = None,
        owner: str | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        entities: Sequence[str] | None = None,
        actor: str | None = None,
    ) -> EditResult:
        """Change table ``name``'s description, owner, tags or declared entity types (which
        must still cover what its versions hold); one audited write. See
        :func:`embank.store.admin.edit_table`."""
        return admin.edit_table(
            self,
            name,
            description=description,
            owner=owner,
            add_tags=add_tags,
            remove_tags=remove_tags,
            entities=entities,
            actor=actor or _whoami(),
        )

    def set_alias(self, ref: str, alias: str, *, actor: str | None = None) -> AliasResult:
        """Point ``alias`` at the version ``ref`` names (``NAME@3``, ``NAME@staging``); not
        ``latest``, not a deprecated version. Recorded in the alias history and audit log."""
        return admin.set_alias(self, ref, alias, actor=actor or _whoami())

    def delete_alias(self, name: str, alias: str, *, actor: str | None = None) -> AliasResult:
        """Remove ``alias`` of table ``name`` (its history stays); not ``latest``."""
        return admin.delete_alias(self, name, alias, actor=actor or _whoami())

    def deprecate(
        self, ref: str, *, reason: str | None = None, actor: str | None = None
    ) -> StatusResult:
        """Mark the version ``ref`` names deprecated: it still reads (with a warning), its
        aliases stay, ``latest`` does not move. See :mod:`embank.store.admin`."""
        return admin.set_status(
            self, ref, admin.DEPRECATED, reason=reason, actor=actor or _whoami()
        )

    def undeprecate(self, ref: str, *, actor: str | None = None) -> StatusResult:
        """Mark the version ``ref`` names active again."""
        return admin.set_status(self, ref, admin.ACTIVE, actor=actor or _whoami())

    def check(self, *, deep: bool = True, sample: int = 100) -> CheckResult:
        """Check the registry against the offline and online stores: see
        :func:`embank.store.integrity.check_bank`. Leftovers of failed publishes are
        listed, not counted as problems."""
        return integrity.check_bank(self, deep=deep, sample=sample)

    # -- housekeeping -----------------------------------------------------------------

    def gc(self, min_age_s: float = GC_MIN_AGE_S, dry_run: bool = False) -> list[Path | str]:
        """Delete what no registry row references and is older than ``min_age_s``: staged
        and version folders (local paths or S3 prefixes) and online key spaces (Redis).
        Returns where each was."""
        with self.registry.read() as conn:
            versions = self.registry.storage_paths(conn)
            # an index's folder lives outside its version's: its artifact row keeps it
            referenced = versions | artifacts.artifact_paths(conn)
        referenced_ids = {path.rsplit("/", 1)[-1] for path in versions}
        now = time.time()
        removed: list[Path | str] = []
        staging = self.offline.staging_root
        if staging.exists():
            for folder in staging.iterdir():
                if folder.is_dir() and now - folder.stat().st_mtime >= min_age_s:
                    if not dry_run:
                        shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
        for item in self.offline.list():
            if item.name not in referenced and now - item.mtime >= min_age_s:
                if not dry_run:
                    self.offline.delete(item.name)
                removed.append(item.location)
        for item in self.online.list():
            if item.name not in referenced_ids and now - item.mtime >= min_age_s:
                if not dry_run:
                    self.online.delete(item.name)
                removed.append(item.location)
        return removed

    # -- artifacts (indexes, maps; built after the commit) ---------------------------

    def put_artifact(
        self,
        name: str,
        number: int,
        kind: str,
        meta: dict[str, Any],
        path: str = artifacts.INLINE,
        *,
        replace: bool = False,
    ) -> None:
        """Record artifact ``kind`` of version ``number`` of ``name``: see
        :func:`embank.store.artifacts.put_artifact`."""
        artifacts.put_artifact(self, name, number, kind, meta, path, replace=replace)

    def get_artifact(self, name: str, number: int, kind: str) -> dict[str, Any] | None:
        """The ``meta`` of the newest artifact ``kind`` of version ``number``, or None."""
        return artifacts.get_artifact(self, name, number, kind)

    def artifact(self, name: str, number: int, kind: str) -> artifacts.Artifact | None:
        """The newest artifact row ``kind`` of version ``number`` (path and meta), or None."""
        return artifacts.get_artifact_row(self, name, number, kind)

    def rebuild_online(self, ref: str) -> Embedding:
        """Write the version ``ref`` names into the online store again, from its offline
        files (after Redis lost it, or an online file was deleted)."""
        embedding = self.get(ref)
        self.online.rebuild(embedding.version_id, embedding.local)
        return self.get(ref)

    # -- helpers ----------------------------------------------------------------------

    def _embedding(self, table: TableInfo, version: VersionInfo, storage_path: str) -> Embedding:
        if not _STORAGE_PATH.match(storage_path):
            raise StorageError(f"registry points outside the bank: {storage_path!r}")
        local = LocalVersion(lambda: self.offline.local_folder(storage_path))
        version_id = storage_path.rsplit("/", 1)[-1]
        embedding = Embedding(
            table, version, local, self.online.reader(version_id, local), version_id
        )
        embedding.saved_index_loader = lambda: _saved_index(self, embedding)
        return embedding

    def _table_info(self, conn: sa.Connection, row: sa.Row) -> TableInfo:
        aliases = self.registry.aliases_of(conn, row.id)
        n_versions = self.registry.next_number(conn, row.id) - 1
        return TableInfo(
            name=row.name,
            description=row.description,
            owner=row.owner,
            tags=list(row.tags),
            entities=list(row.entities),
            dim=row.dim,
            metric=row.metric,
            created_at=Registry.utc(row.created_at),
            updated_at=Registry.utc(row.updated_at),
            latest_version=aliases.get(LATEST),
            aliases=aliases,
            n_versions=n_versions,
        )

    def _version_info(self, conn: sa.Connection, table_row: sa.Row, row: sa.Row) -> VersionInfo:
        aliases = self.registry.aliases_of(conn, table_row.id)
        reason = None
        if row.status == admin.DEPRECATED:
            reason = admin.status_reason(self.registry, conn, table_row.name, row.number)
        return VersionInfo(
            number=row.number,
            status=row.status,
            status_reason=reason,
            kind=row.kind,
            parent=row.parent,
            aliases=sorted(a for a, n in aliases.items() if n == row.number),
            space_id=row.space_id,
            n_rows=row.n_rows,
            dim=row.dim,
            content_hash=row.content_hash,
            created_at=Registry.utc(row.created_at),
            created_by=row.created_by,
            code_version=row.code_version,
            spec=row.spec,
            lineage=row.lineage or {},
        )


def _figure_rows(
    table_id: int, number: int, run: int, results: Iterable[TaskResult], now: Any
) -> list[dict[str, Any]]:
    return [
        {
            "table_id": table_id,
            "version_number": number,
            "run": run,
            "task": result.task,
            "figure": fig.name,
            "value": float(fig.value),
            "baseline": fig.baseline,
            "baseline_name": fig.baseline_name,
            "sample_size": fig.sample_size,
            "seed": fig.seed,
            "run_time_s": fig.run_time_s,
            "details": fig.details,
            "created_at": now,
        }
        for result in results
        for fig in result.figures
    ]


def _figure_info(row: sa.Row) -> FigureInfo:
    return FigureInfo(
        task=row.task,
        figure=row.figure,
        value=row.value,
        baseline=row.baseline,
        baseline_name=row.baseline_name,
        sample_size=row.sample_size,
        seed=row.seed,
        run_time_s=row.run_time_s,
        details=row.details or {},
        run=row.run,
        created_at=Registry.utc(row.created_at),
    )


def _saved_index(bank: Bank, embedding: Embedding) -> Any:
    """The version's saved ANN index, or None while it has none (exact search serves)."""
    from embank.ann.stored import load_version_index

    return load_version_index(bank, embedding)


def _drift_of(lineage: dict[str, Any] | None) -> dict[str, Any] | None:
    """``show``'s ``drift``: what a refresh stored in ``lineage["refresh"]`` (None for a
    version no refresh made). The figures are also the version's ``drift`` task figures."""
    refresh = (lineage or {}).get("refresh")
    if not refresh:
        return None
    report = refresh.get("drift") or {}
    floor = refresh.get("seed_floor") or {}
    return {
        "previous_version": refresh.get("previous_version"),
        "space": refresh.get("space"),
        "figures": report.get("figures", {}),
        "settings": report.get("settings", {}),
        "seed_floor": floor.get("figures"),
        "alignment": refresh.get("alignment"),
        "gates": refresh.get("gates", []),
    }


def _fallback_id(location: BankLocation) -> str:
    """A stable id for a bank made before ids were recorded (cache and key prefixes)."""
    return hashlib.sha256(location.label.encode()).hexdigest()[:32]


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _validated(table: VectorTable, metric: str) -> VectorTable:
    """Refuse what no version may hold: bad keys or entity names, non-finite or zero rows.

    The checks run over whole columns (Arrow kernels, numpy in blocks of rows); the first
    offending row is then checked alone, for the same message a row-by-row check gives.
    """
    if table.n_rows == 0:
        raise ValidationError("nothing to publish: the table has no rows")
    if table.dim < 1:
        raise ValidationError("vectors need at least one dimension")
    columns = table.arrow_columns()
    if columns is None:  # something is not a str: find and name it
        for entity in set(table.entities.tolist()):
            check_entity(entity)
        for key in table.keys:
            if not isinstance(key, str):
                raise ValidationError(f"key {key!r} is not a string; convert ids to text first")
            check_key(key)
    else:
        entities, keys = columns
        for entity in pc.unique(entities).to_pylist():
            check_entity(entity)
        bad = invalid_keys(keys)
        if pc.any(bad).as_py():
            check_key(keys[pc.index(bad, True).as_py()].as_py())
    nonfinite, zero = _bad_rows(table.vectors, zeros=metric == "cosine")
    if nonfinite.any():
        bad_rows = [f"{table.entities[i]}:{table.keys[i]}" for i in np.flatnonzero(nonfinite)[:5]]
        raise ValidationError(f"{int(nonfinite.sum())} vector(s) hold NaN or Inf, e.g. {bad_rows}")
    if zero is not None and zero.any():
        bad_rows = [f"{table.entities[i]}:{table.keys[i]}" for i in np.flatnonzero(zero)[:5]]
        raise ValidationError(
            f"{int(zero.sum())} zero vector(s) have no cosine similarity, e.g. {bad_rows}"
        )
    return table


def _bad_rows(vectors: np.ndarray, zeros: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows holding NaN or Inf, and (``zeros``) rows of zeros; in blocks of rows, so the
    temporaries stay small however big the table."""
    n_rows = vectors.shape[0]
    nonfinite = np.zeros(n_rows, dtype=bool)
    zero = np.zeros(n_rows, dtype=bool) if zeros else None
    for lo in range(0, n_rows, _CHECK_ROWS):
        block = vectors[lo : lo + _CHECK_ROWS]
        nonfinite[lo : lo + len(block)] = ~np.isfinite(block).all(axis=1)
        if zero is not None:
            zero[lo : lo + len(block)] = ~block.any(axis=1)
    return nonfinite, zero


def _check_unique(rows: SortedRows) -> None:
    """In stored order, repeats are neighbours."""
    if rows.n_rows < 2:
        return
    n = rows.n_rows - 1
    same = pc.and_(
        pc.equal(rows.entities.slice(1), rows.entities.slice(0, n)),
        pc.equal(rows.keys.slice(1), rows.keys.slice(0, n)),
    ).to_numpy(zero_copy_only=False)
    if same.any():
        dupes = sorted({rows.label(int(i)) for i in np.flatnonzero(same)})
        raise ValidationError(
            f"{len(dupes)} duplicate key(s) in the publish: {', '.join(dupes[:10])}"
            + (" ..." if len(dupes) > 10 else "")
            + "; remove them, or publish with duplicates='first' or 'last' to keep one row each"
        )
