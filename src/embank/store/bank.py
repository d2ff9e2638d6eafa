"""The bank: registry + offline store + online store, in one local folder by default.

Publish writes a version's files into ``_staging/<uuid>/``, moves the folder to
``data/<namespace>/<name>/<uuid>/``, then commits its registry row (allocating the version
number inside that transaction) and moves ``latest``. Nothing of a version is visible
before that commit; a crash before it leaves only a folder that ``gc`` removes.
"""

from __future__ import annotations

import getpass
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from embank._version import __version__
from embank.benchmarks.base import BenchmarkInputs, TaskResult
from embank.data.graph import Labels
from embank.errors import InvalidNameError, NotFoundError, StorageError, ValidationError
from embank.names import LATEST, check_alias, check_entity, check_key, check_table_name, parse_ref
from embank.store import files
from embank.store.embedding import Embedding
from embank.store.location import BankLocation, resolve_location
from embank.store.models import FigureInfo, ShowResult, TableInfo, VersionInfo
from embank.store.registry import Registry, utcnow
from embank.vector_table import VectorTable

__all__ = ["Bank", "open_bank"]

REGISTRY_FILE = "registry.db"
STAGING = "_staging"
DATA = "data"
GC_MIN_AGE_S = 3600.0


def open_bank(location: str | os.PathLike[str] | None = None, create: bool = True) -> Bank:
    """Open the bank at ``location`` (a folder), found as every command finds it.

    ``create=False`` raises :class:`NotFoundError` when no bank is there, so read-only
    callers never create one.
    """
    return Bank(resolve_location(location), create=create)


class Bank:
    """A feature store for embeddings. Open with :func:`embank.open`."""

    def __init__(self, location: BankLocation, create: bool = True) -> None:
        self.root = location.root
        self.location = location
        registry_file = self.root / REGISTRY_FILE
        exists = registry_file.exists()
        if not exists and not create:
            raise NotFoundError(
                f"no bank at {self.root} (chosen by {location.source}); "
                "publish into it first, or pass --bank PATH"
            )
        if not exists:
            self.root.mkdir(parents=True, exist_ok=True)
        self.registry = Registry(location.registry_url or f"sqlite:///{registry_file}")
        if not exists:
            self.registry.migrate()
            with self.registry.write() as conn:
                self.registry.set_info(
                    conn,
                    {
                        "bank_id": str(uuid.uuid4()),
                        "created_at": utcnow().isoformat(),
                        "offline": str(self.root),
                        "online": "embedded",
                    },
                )
        self.registry.check_schema()

    def __repr__(self) -> str:
        return f"<Bank {self.root}>"

    # -- reading ----------------------------------------------------------------------

    def get(self, ref: str) -> Embedding:
        """A published version: ``"ns/name"`` (latest), ``"ns/name@3"``, ``"…@production"``."""
        parsed = parse_ref(ref)
        with self.registry.read() as conn:
            table_row, version_row = self.registry.resolve(conn, parsed)
            table = self._table_info(conn, table_row)
            version = self._version_info(conn, table_row, version_row)
        return Embedding(table, version, self._folder(version_row.storage_path))

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
    ) -> Embedding:
        """Publish ``table`` as the next version of ``name`` and move ``latest`` to it.

        ``inputs`` are what the version's benchmarks read (labels, hold-out, metadata,
        graph, interactions); they are stored in the version, with their sha256 in the
        lineage under ``benchmark_inputs``, so ``embank benchmark NAME@V`` is reproducible.
        ``labels`` / ``holdout``, when given, take the place of those in ``inputs``.
        ``audit`` adds details to the audit log row of this publish (e.g. that it was
        forced past failed gates).

        Checks everything before writing: names, keys, duplicates, finite values, zero
        vectors under cosine, the table's dimension and metric. Raises
        :class:`ValidationError` with nothing written when a check fails.
        """
        check_table_name(name)
        for alias in aliases:
            if check_alias(alias) == LATEST:
                raise InvalidNameError("'latest' is moved by every publish; do not pass it")
        if metric not in ("cosine", "dot"):
            raise ValidationError(f"unknown metric {metric!r}: use 'cosine' or 'dot'")
        table = _validated(table, metric).sorted()
        _check_unique(table)
        declared = sorted(set(entities or table.entity_names()))
        undeclared = sorted(set(table.entity_names()) - set(declared))
        if undeclared:
            raise ValidationError(f"rows have entity types {undeclared} the table does not declare")
        actor = actor or _whoami()
        results = list(results)
        if inputs is not None:
            labels = labels if labels is not None else inputs.labels
            holdout = holdout if holdout is not None else inputs.holdout
        space_id = str(uuid.uuid4())
        digest = files.content_hash(table)
        folder_id = uuid.uuid4().hex
        staging = self.root / STAGING / folder_id
        relative = Path(DATA, *name.split("/"), folder_id)
        final = self.root / relative
        try:
            staging.mkdir(parents=True)
            manifest = files.write_version_files(
                staging,
                table,
                labels,
                holdout,
                {"table": name, "space_id": space_id, "content_hash": digest},
                inputs=inputs,
            )
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, final)
            files.fsync_dir(final.parent)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
            raise StorageError(f"could not write the version's files: {exc}") from None
        lineage = dict(lineage or {})
        stored = files.stored_input_files(manifest)
        if stored:
            lineage["benchmark_inputs"] = stored
        try:
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
                digest=digest,
                storage_path=relative.as_posix(),
                audit=dict(audit or {}),
            )
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)  # never referenced; gc would remove it too
            raise
        return self.get(f"{name}@{number}")

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
                kind="full",
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

    # -- housekeeping -----------------------------------------------------------------

    def gc(self, min_age_s: float = GC_MIN_AGE_S, dry_run: bool = False) -> list[Path]:
        """Delete version folders no registry row references, older than ``min_age_s``."""
        with self.registry.read() as conn:
            referenced = {self._folder(p) for p in self.registry.storage_paths(conn)}
        now = time.time()
        candidates: list[Path] = []
        staging = self.root / STAGING
        if staging.exists():
            candidates += [p for p in staging.iterdir() if p.is_dir()]
        data = self.root / DATA
        if data.exists():
            candidates += [p for p in data.glob("*/*/*") if p.is_dir()]
        removed = []
        for folder in candidates:
            if folder in referenced or now - folder.stat().st_mtime < min_age_s:
                continue
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        return removed

    # -- helpers ----------------------------------------------------------------------

    def _folder(self, storage_path: str) -> Path:
        folder = (self.root / storage_path).resolve()
        if self.root.resolve() not in folder.parents:
            raise StorageError(f"registry points outside the bank: {storage_path!r}")
        return folder

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
        return VersionInfo(
            number=row.number,
            status=row.status,
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


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _validated(table: VectorTable, metric: str) -> VectorTable:
    """Refuse what no version may hold: bad keys or entity names, non-finite or zero rows."""
    if table.n_rows == 0:
        raise ValidationError("nothing to publish: the table has no rows")
    if table.dim < 1:
        raise ValidationError("vectors need at least one dimension")
    for entity in set(table.entities.tolist()):
        check_entity(entity)
    for key in table.keys:
        if not isinstance(key, str):
            raise ValidationError(f"key {key!r} is not a string; convert ids to text first")
        check_key(key)
    finite = np.isfinite(table.vectors).all(axis=1)
    if not finite.all():
        bad = [f"{table.entities[i]}:{table.keys[i]}" for i in np.flatnonzero(~finite)[:5]]
        raise ValidationError(f"{int((~finite).sum())} vector(s) hold NaN or Inf, e.g. {bad}")
    if metric == "cosine":
        zero = ~table.vectors.any(axis=1)
        if zero.any():
            bad = [f"{table.entities[i]}:{table.keys[i]}" for i in np.flatnonzero(zero)[:5]]
            raise ValidationError(
                f"{int(zero.sum())} zero vector(s) have no cosine similarity, e.g. {bad}"
            )
    return table


def _check_unique(table: VectorTable) -> None:
    """On sorted rows, repeats are neighbours."""
    same = (table.entities[1:] == table.entities[:-1]) & (table.keys[1:] == table.keys[:-1])
    if same.any():
        dupes = sorted({f"{table.entities[i]}:{table.keys[i]}" for i in np.flatnonzero(same)})
        raise ValidationError(
            f"{len(dupes)} duplicate key(s) in the publish: {', '.join(dupes[:10])}"
            + (" ..." if len(dupes) > 10 else "")
        )
