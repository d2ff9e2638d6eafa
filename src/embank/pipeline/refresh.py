"""``embank refresh NAME``: the next version of a table on the current data, in its space.

The steps of ``embank run`` (select, fit, benchmark, gate, publish), plus what keeps the
table's consumers working (docs/refresh.md):

1. the spec is the one stored with the latest version (``--spec`` overrides it);
2. nothing is published when the latest version was made from the same inputs (data
   fingerprints, resolved spec, code version, ``--as-of``) by a deterministic algorithm;
3. the fit warm starts from the previous version (``refresh.warm_start``) when the
   algorithm can;
4. the vectors are rotated onto the previous version (``refresh.align: procrustes``),
   before the benchmarks, so the figures are those of what is published;
5. drift against the previous version is measured, and for stochastic algorithms (or a
   gate that names it) against the seed floor, measured once per spec;
6. the drift gates (``refresh.gates``) decide the space: passing keeps the previous
   ``space_id``; failing needs ``--new-space`` (recorded in the audit log), else nothing
   is published (:class:`GateFailedError`).

One refresh of a table runs at a time (:mod:`embank.refresh.lock`). Every outcome,
published or not, is recorded in the audit log as a ``refresh`` entry.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embank.algorithms import algorithms
from embank.benchmarks.gates import GateOutcome, evaluate_gates
from embank.data.select import select
from embank.errors import (
    ConflictError,
    EmbankError,
    GateFailedError,
    NotFoundError,
    UsageError,
)
from embank.names import check_table_name
from embank.pipeline.refresh_facts import (
    DRIFT_TASK,
    alignment_record,
    audit_refresh,
    drift_result,
    gate_record,
    jsonable,
    load_rotation,
    seed_floor_for,
    store_artifacts,
    warm_start,
)
from embank.pipeline.run import (
    _forced,
    _previous_figures,
    base_lineage,
    benchmark_inputs,
    build_artifacts,
    input_fingerprint,
    publish_spec_version,
    run_benchmarks,
)
from embank.progress import NullProgress, Progress
from embank.refresh.align import Alignment, align
from embank.refresh.drift import DriftReport, drift
from embank.refresh.keys import support_from_dataset
from embank.refresh.lock import refresh_lock
from embank.refresh.operators import rotate_operators
from embank.spec.load import LoadedSpec, validate_spec
from embank.store.bank import Bank
from embank.store.embedding import Embedding
from embank.store.schema import versions as versions_table

__all__ = ["DRIFT_TASK", "RefreshResult", "load_rotation", "refresh_table", "stored_spec"]

log = logging.getLogger(__name__)


@dataclass
class RefreshResult:
    table: str
    outcome: str  # "published" or "unchanged"
    message: str
    embedding: Embedding | None = None
    previous_version: int | None = None
    space: str | None = None  # "kept" or "new"
    drift: DriftReport | None = None
    alignment: Alignment | None = None
    seed_floor: dict[str, Any] | None = None
    gates: list[GateOutcome] = field(default_factory=list)
    drift_gates: list[GateOutcome] = field(default_factory=list)
    warm_start: dict[str, Any] | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def published(self) -> bool:
        return self.embedding is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``embank refresh --json``)."""
        return {
            "table": self.table,
            "outcome": self.outcome,
            "published": self.published,
            "version": self.embedding.version if self.embedding else None,
            "space_id": self.embedding.space_id if self.embedding else None,
            "previous_version": self.previous_version,
            "space": self.space,
            "message": self.message,
            "warm_start": self.warm_start,
            "alignment": self.alignment.to_dict() if self.alignment else None,
            "drift": self.drift.figures if self.drift else None,
            "seed_floor": (self.seed_floor or {}).get("figures"),
            "gates": [gate_record(o) for o in self.gates],
            "drift_gates": [gate_record(o) for o in self.drift_gates],
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
        }


def stored_spec(bank: Bank, name: str) -> LoadedSpec:
    """The spec stored with ``name``'s latest version, validated again; relative paths
    resolve against the folder of the spec file it was run from.

    Raises :class:`NotFoundError` for an unknown table and :class:`UsageError` when the
    version stores no spec (published through the Python API)."""
    shown = bank.show(name)
    version = shown.version
    if not version.spec:
        raise UsageError(
            f"{name}@{version.number} stores no spec (published without one): pass --spec FILE"
        )
    spec = validate_spec(dict(version.spec), where=f"{name}@{version.number} (stored spec)")
    spec_path = version.lineage.get("spec_path")
    path = Path(spec_path) if spec_path else None
    return LoadedSpec(spec=spec, path=path, base_dir=path.parent if path else Path.cwd())


def refresh_table(
    bank: Bank,
    name: str,
    *,
    spec: LoadedSpec | None = None,
    as_of: dt.date | dt.datetime | None = None,
    new_space: bool = False,
    force: bool = False,
    cold: bool = False,
    progress: Progress | None = None,
) -> RefreshResult:
    """Refresh table ``name`` (see the module docstring); holds its refresh lock.

    ``spec`` overrides the stored spec; ``as_of`` binds ``$as_of`` in the spec's SQL;
    ``force`` refits when nothing changed and publishes past failed benchmark gates (as
    ``run --force``); ``cold`` fits without warm start; ``new_space`` publishes a refresh
    that fails its drift gates, in a new space. Raises :class:`GateFailedError` (nothing
    published) for failed benchmark gates without ``force`` or failed drift gates without
    ``new_space``, :class:`~embank.errors.ConflictError` while another refresh of the
    table runs.
    """
    check_table_name(name)
    progress = progress or NullProgress()
    with refresh_lock(bank, name):
        try:
            result = _refresh(bank, name, spec, as_of, new_space, force, cold, progress)
        except EmbankError as exc:
            # the audit log tells an operator how the last refresh ended (`embank ls`)
            outcome = "gate_failed" if isinstance(exc, GateFailedError) else "failed"
            audit_refresh(bank, name, None, outcome=outcome, message=str(exc), as_of=as_of)
            raise
        if not result.published:
            audit_refresh(
                bank,
                name,
                result.previous_version,
                outcome=result.outcome,
                message=result.message,
                as_of=as_of,
            )
        return result


def _refresh(
    bank: Bank,
    name: str,
    loaded: LoadedSpec | None,
    as_of: dt.date | dt.datetime | None,
    new_space: bool,
    force: bool,
    cold: bool,
    progress: Progress,
) -> RefreshResult:
    timings: dict[str, float] = {}
    previous = _latest(bank, name)
    if loaded is None:
        if previous is None:
            raise NotFoundError(
                f"no table {name!r} to refresh: publish its first version with "
                "`embank run SPEC`, or pass --spec FILE"
            )
        loaded = stored_spec(bank, name)
    spec = loaded.spec
    if spec.table != name:
        raise UsageError(f"the spec makes table {spec.table!r}, not {name!r}")
    settings = spec.refresh
    spec_json = spec.model_dump(mode="json")
    as_of_text = as_of.isoformat() if as_of is not None else None

    start = time.perf_counter()
    params = {"as_of": as_of} if as_of is not None else None
    dataset = select(
        spec.data, spec.select, loaded.base_dir, progress, params=params, holdout=spec.holdout
    )
    timings["select"] = time.perf_counter() - start
    # The as-of date is part of what the version was made from: a re-run for another
    # date is another refresh even if the files are the same.
    fingerprint = input_fingerprint(
        dataset, spec_json if as_of_text is None else {**spec_json, "$as_of": as_of_text}
    )
    algorithm_cls = algorithms.get(spec.algorithm.name)
    unchanged = (
        previous is not None
        and not force
        and algorithm_cls.deterministic
        and _stored_fingerprint(bank, name, previous.version) == fingerprint
    )
    if unchanged:
        assert previous is not None
        return RefreshResult(
            name,
            "unchanged",
            f"{name}@{previous.version} was made from the same inputs"
            + (f" for {as_of_text}" if as_of_text else "")
            + f" by a deterministic algorithm ({spec.algorithm.name}): nothing published "
            "(--force refits anyway)",
            previous_version=previous.version,
            timings_s=timings,
        )

    previous_table = previous.to_vector_table() if previous is not None else None
    algorithm = algorithm_cls(spec.algorithm.params)
    warm = warm_start(algorithm, previous, previous_table, settings.warm_start and not cold)
    start = time.perf_counter()
    vectors = algorithm.fit(dataset, progress).embeddings.sorted()
    timings["fit"] = time.perf_counter() - start
    if warm.get("used"):
        warm["report"] = jsonable(getattr(algorithm, "warm_start_", None))

    support = support_from_dataset(dataset, vectors)
    alignment = None
    operators = getattr(algorithm, "relation_operators_", None)
    if previous_table is not None and settings.align == "procrustes":
        start = time.perf_counter()
        with progress.task(f"aligning onto {name}@{previous.version}"):  # type: ignore[union-attr]
            vectors, alignment = align(vectors, previous_table, support, settings.min_support)
            if operators:
                # the operators turn with the vectors, so every score stays the same
                algorithm.relation_operators_ = rotate_operators(operators, alignment.rotation)
        timings["align"] = time.perf_counter() - start

    # An aligned version's benchmarks run after alignment (DESIGN.md: versions and spaces).
    start = time.perf_counter()
    inputs = benchmark_inputs(dataset)
    results = run_benchmarks(spec, vectors, inputs, progress)
    timings["benchmark"] = time.perf_counter() - start
    outcomes = evaluate_gates(
        spec.gates, results, _previous_figures(bank, name, spec.publish.aliases)
    )
    failed = [o for o in outcomes if not o.passed]
    if failed and not force:
        raise GateFailedError(
            "gate failed, nothing published: " + "; ".join(o.message for o in failed)
        )

    report, floor, drift_outcomes = None, None, []
    if previous_table is not None:
        start = time.perf_counter()
        with progress.task(f"drift against {name}@{previous.version}"):  # type: ignore[union-attr]
            report = drift(
                previous_table,
                vectors,
                support,
                metric=previous.metric,  # type: ignore[union-attr]
                min_support=settings.min_support,
            )
        timings["drift"] = time.perf_counter() - start
        floor = seed_floor_for(spec, previous, dataset, algorithm_cls, progress, timings)
        drift_outcomes = evaluate_gates(
            settings.gates,
            [drift_result(report, timings["drift"])],
            None,
            seed_floor=(floor or {}).get("figures"),
        )
    space = _space(previous, settings.gates, drift_outcomes, alignment)
    failed_drift = [o for o in drift_outcomes if not o.passed]
    if failed_drift and not new_space:
        raise GateFailedError(
            "drift gate failed, nothing published: "
            + "; ".join(o.message for o in failed_drift)
            + f"; pass --new-space to publish it in a new space (consumers of {name} "
            "must then refit on it)"
        )

    refresh_record = {
        "as_of": as_of_text,
        "previous_version": previous.version if previous else None,
        "previous_space_id": previous.space_id if previous else None,
        "warm_start": warm,
        "alignment": alignment_record(alignment),
        "drift": report.to_dict() if report else None,
        "seed_floor": floor,
        "gates": [gate_record(o) for o in drift_outcomes],
        "space": space,
        "new_space_allowed": new_space,
    }
    lineage = base_lineage(loaded, dataset, algorithm, outcomes, timings)
    lineage["refresh"] = refresh_record
    audit = {
        **_forced(failed),
        "refresh": {
            "as_of": as_of_text,
            "previous_version": refresh_record["previous_version"],
            "space": space,
            "warm_start": bool(warm.get("used")),
        },
        "new_space": space == "new" and previous is not None,
    }
    if failed_drift:
        audit["failed_drift_gates"] = [gate_record(o) for o in failed_drift]
    drift_results = [drift_result(report, timings["drift"])] if report else []
    _check_still_latest(bank, name, previous)
    start = time.perf_counter()
    embedding = publish_spec_version(
        bank,
        spec,
        vectors,
        progress,
        inputs=inputs,
        results=[*results, *drift_results],
        spec_json=spec_json,
        lineage=lineage,
        input_fingerprint=fingerprint,
        audit=audit,
        space_id=previous.space_id if previous is not None and space == "kept" else None,
    )
    timings["publish"] = time.perf_counter() - start
    store_artifacts(bank, embedding, alignment, floor)
    # the map and the ANN index, as after every publish
    timings.update(build_artifacts(bank, embedding, spec.publish, progress))
    where = "in the same space" if space == "kept" else "in a NEW space"
    return RefreshResult(
        name,
        "published",
        f"published {name}@{embedding.version} {where}"
        + (f" (after {name}@{previous.version})" if previous else ""),
        embedding=embedding,
        previous_version=previous.version if previous else None,
        space=space,
        drift=report,
        alignment=alignment,
        seed_floor=floor,
        gates=outcomes,
        drift_gates=drift_outcomes,
        warm_start=warm,
        timings_s=timings,
    )


# -- steps ----------------------------------------------------------------------------


def _latest(bank: Bank, name: str) -> Embedding | None:
    try:
        return bank.get(name)
    except NotFoundError:
        return None


def _check_still_latest(bank: Bank, name: str, previous: Embedding | None) -> None:
    """The lock keeps other refreshes and fold-ins out, not ``run``: a version published
    meanwhile would be followed by one aligned onto, and measured against, its parent."""
    if previous is None:
        return
    now = _latest(bank, name)
    if now is not None and now.version != previous.version:
        raise ConflictError(
            f"{name} got version {now.version} while refreshing from @{previous.version}; "
            "nothing was published: run the refresh again"
        )


def _stored_fingerprint(bank: Bank, name: str, number: int) -> str | None:
    with bank.registry.read() as conn:
        table_row = bank.registry.require_table(conn, name)
        return conn.execute(
            versions_table.select()
            .with_only_columns(versions_table.c.input_fingerprint)
            .where(versions_table.c.table_id == table_row.id, versions_table.c.number == number)
        ).scalar()


def _space(
    previous: Embedding | None,
    gates: list[str],
    outcomes: list[GateOutcome],
    alignment: Alignment | None,
) -> str:
    """``kept`` or ``new``: drift gates decide; without any, an aligned refresh keeps the
    space and an unaligned one (``align: none``) gets a new one."""
    if previous is None:
        return "new"
    if gates:
        return "kept" if all(o.passed for o in outcomes) else "new"
    return "kept" if alignment is not None else "new"
