"""What a refresh records beside its vectors, and the steps that produce it: the warm
start report, the seed floor (measured once per spec, carried after), the drift figures
as the version's ``drift`` task, the rotation and floor artifacts, and the ``refresh``
audit entries of refreshes that published nothing. Where each lands: docs/refresh.md,
"Where a refresh stores its facts".
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import logging
import time
from typing import Any

import numpy as np

from embank.benchmarks.base import Figure, TaskResult
from embank.benchmarks.gates import GateOutcome
from embank.progress import Progress
from embank.refresh.align import Alignment
from embank.refresh.drift import DriftReport
from embank.refresh.seed_floor import fit_fn, seed_floor
from embank.spec.models import Spec
from embank.store.bank import Bank
from embank.store.embedding import Embedding
from embank.store.registry import utcnow

__all__ = [
    "DRIFT_TASK",
    "alignment_record",
    "audit_refresh",
    "drift_result",
    "floor_key",
    "gate_record",
    "jsonable",
    "load_rotation",
    "seed_floor_for",
    "store_artifacts",
    "warm_start",
]

log = logging.getLogger(__name__)

#: the benchmark task name under which a version's drift figures are stored
DRIFT_TASK = "drift"


def warm_start(
    algorithm: Any, previous: Embedding | None, previous_table: Any, wanted: bool
) -> dict[str, Any]:
    """Start ``algorithm`` from the previous version when asked and possible; says what
    happened, for the lineage."""
    if not wanted:
        return {"requested": False, "used": False}
    if previous is None:
        return {"requested": True, "used": False, "reason": "no previous version"}
    if not type(algorithm).supports_warm_start:
        return {
            "requested": True,
            "used": False,
            "reason": f"{type(algorithm).name} cannot warm start; fitted cold",
        }
    if previous.dim != algorithm.params.dim:
        return {"requested": True, "used": False, "reason": "the previous version's dim differs"}
    operators = (previous.version_info.lineage.get("algorithm") or {}).get("relation_operators")
    algorithm.init_from(previous_table, operators)
    return {"requested": True, "used": True, "from_version": previous.version}


def seed_floor_for(
    spec: Spec,
    previous: Embedding,
    dataset: Any,
    algorithm_cls: Any,
    progress: Progress,
    timings: dict[str, float],
) -> dict[str, Any] | None:
    """The spec's seed floor: carried from the previous version's lineage when it was
    measured for the same spec, else measured now (two cold fits), when wanted."""
    named = any("seed_floor" in gate for gate in spec.refresh.gates)
    if not named and not (spec.refresh.seed_floor and not algorithm_cls.deterministic):
        return None
    key = floor_key(spec)
    carried = ((previous.version_info.lineage.get("refresh") or {}).get("seed_floor")) or {}
    if carried.get("spec_hash") == key and carried.get("figures"):
        return {**carried, "measured_now": False}
    seed = int(spec.algorithm.params.get("seed", 0))
    start = time.perf_counter()
    with progress.task("seed floor: two cold fits with different seeds"):
        report = seed_floor(
            fit_fn(algorithm_cls, spec.algorithm.params),
            dataset,
            seeds=(seed, seed + 1),
            metric=previous.metric,
            min_support=spec.refresh.min_support,
        )
    timings["seed_floor"] = time.perf_counter() - start
    return {
        "spec_hash": key,
        "figures": report.figures,
        "settings": report.settings,
        "measured_at": utcnow().isoformat(),
        "measured_now": True,
    }


def floor_key(spec: Spec) -> str:
    """sha256 of what the seed floor depends on: data, selection, hold-out, algorithm and
    params (all but the seed). Another spec (a new param, a new source) measures again."""
    params = {k: v for k, v in spec.algorithm.params.items() if k != "seed"}
    payload = {
        "data": spec.data.model_dump(mode="json"),
        "select": spec.select.model_dump(mode="json"),
        "holdout": spec.holdout.model_dump(mode="json") if spec.holdout else None,
        "algorithm": spec.algorithm.name,
        "params": params,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def drift_result(report: DriftReport, run_time_s: float) -> TaskResult:
    """The drift figures as the version's ``drift`` task, so ``show``, ``compare``, the
    charts and gates read them like any benchmark figure (None figures are left out)."""
    figures = [
        Figure(name, float(value), sample_size=report.figures.get("drift.overlap_at_10.n_queries"))
        for name, value in report.figures.items()
        if value is not None
    ]
    return TaskResult(DRIFT_TASK, figures, run_time_s, dict(report.settings))


def alignment_record(alignment: Alignment | None) -> dict[str, Any] | None:
    if alignment is None:
        return None
    return {
        "method": "procrustes",
        **alignment.to_dict(),
        "rotation_sha256": hashlib.sha256(alignment.rotation.tobytes()).hexdigest(),
        "rotation_artifact": "alignment",
    }


def store_artifacts(
    bank: Bank, embedding: Embedding, alignment: Alignment | None, floor: dict[str, Any] | None
) -> None:
    """The rotation (``alignment`` artifact: the .npy bytes, base64) and a newly measured
    seed floor (``seed_floor`` artifact). The version is published whatever happens here."""
    try:
        if alignment is not None:
            buffer = io.BytesIO()
            np.save(buffer, alignment.rotation, allow_pickle=False)
            meta = {
                **(alignment_record(alignment) or {}),
                "rotation_npy_base64": base64.b64encode(buffer.getvalue()).decode(),
            }
            bank.put_artifact(embedding.name, embedding.version, "alignment", meta)
        if floor is not None and floor.get("measured_now"):
            bank.put_artifact(embedding.name, embedding.version, "seed_floor", floor)
    except Exception as exc:  # never fail a publish that has committed
        log.warning(
            "%s@%s is published, but its refresh artifacts were not stored (%s: %s); "
            "its lineage holds the alignment's residuals and the seed floor's figures",
            embedding.name,
            embedding.version,
            type(exc).__name__,
            exc,
        )


def load_rotation(meta: dict[str, Any]) -> np.ndarray:
    """The rotation stored in an ``alignment`` artifact's meta."""
    raw = base64.b64decode(meta["rotation_npy_base64"])
    return np.load(io.BytesIO(raw), allow_pickle=False)


def audit_refresh(
    bank: Bank,
    name: str,
    version: int | None,
    *,
    outcome: str,
    message: str,
    as_of: dt.date | dt.datetime | None,
) -> None:
    """A ``refresh`` audit entry for a refresh that published nothing (a publish records
    its own): what `embank refresh --due` and staleness read as the last refresh."""
    from embank.store.bank import _whoami

    try:
        with bank.registry.write() as conn:
            table_row = bank.registry.table_row(conn, name)
            if table_row is None:
                return
            bank.registry.audit(
                conn,
                "refresh",
                _whoami(),
                utcnow(),
                name,
                version,
                outcome=outcome,
                message=message,
                as_of=as_of.isoformat() if as_of is not None else None,
            )
    except Exception as exc:  # the refresh's own outcome is what to report
        log.warning("could not record the refresh of %s in the audit log: %s", name, exc)


def gate_record(outcome: GateOutcome) -> dict[str, Any]:
    return {
        "gate": outcome.gate.text,
        "passed": outcome.passed,
        "value": outcome.value,
        "bound": outcome.bound,
        "message": outcome.message,
    }


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python ones, for the lineage."""
    return json.loads(json.dumps(value, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
