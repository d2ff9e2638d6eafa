"""``embank run``: select, fit, benchmark, gate and publish one version of a spec's table."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from embank._version import __version__
from embank.algorithms import Algorithm, algorithms
from embank.benchmarks import BenchmarkInputs, TaskResult, benchmarks
from embank.benchmarks.gates import GateOutcome, evaluate_gates
from embank.data.graph import Dataset
from embank.data.select import select
from embank.errors import GateFailedError, NotFoundError
from embank.pipeline.benchmark import with_table_metric
from embank.progress import NullProgress, Progress
from embank.spec.load import LoadedSpec
from embank.spec.models import PublishSpec, Spec
from embank.store.bank import Bank
from embank.store.embedding import Embedding
from embank.vector_table import VectorTable

__all__ = [
    "RunResult",
    "base_lineage",
    "benchmark_inputs",
    "build_artifacts",
    "run_benchmarks",
    "run_spec",
]

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    table: str
    embedding: Embedding | None  # None when gates stopped the publish or on a dry run
    vectors: VectorTable
    dataset: Dataset
    results: list[TaskResult]
    gates: list[GateOutcome]
    timings_s: dict[str, float] = field(default_factory=dict)


def run_spec(
    loaded: LoadedSpec,
    bank: Bank | None,
    progress: Progress | None = None,
    force: bool = False,
) -> RunResult:
    """Run the whole pipeline; ``bank=None`` stops before publish (a dry run).

    Raises :class:`GateFailedError` naming each failing figure unless ``force``.
    """
    spec = loaded.spec
    progress = progress or NullProgress()
    timings: dict[str, float] = {}

    start = time.perf_counter()
    dataset = select(spec.data, spec.select, loaded.base_dir, progress, holdout=spec.holdout)
    timings["select"] = time.perf_counter() - start

    algorithm_cls = algorithms.get(spec.algorithm.name)
    algorithm = algorithm_cls(spec.algorithm.params)
    start = time.perf_counter()
    vectors = algorithm.fit(dataset, progress).embeddings
    timings["fit"] = time.perf_counter() - start
    # Rows in the order the version stores them, so `embank benchmark NAME@V` judges the
    # very table these benchmarks judge, row for row.
    vectors = vectors.sorted()

    start = time.perf_counter()
    inputs = benchmark_inputs(dataset)
    results = run_benchmarks(spec, vectors, inputs, progress)
    timings["benchmark"] = time.perf_counter() - start

    previous = (
        _previous_figures(bank, spec.table, spec.publish.aliases) if bank is not None else None
    )
    outcomes = evaluate_gates(spec.gates, results, previous)
    failed = [o for o in outcomes if not o.passed]
    if failed and not force:
        raise GateFailedError(
            "gate failed, nothing published: " + "; ".join(o.message for o in failed)
        )
    result = RunResult(spec.table, None, vectors, dataset, results, outcomes, timings)
    if bank is None:
        return result

    lineage = base_lineage(loaded, dataset, algorithm, outcomes, timings)
    spec_json = spec.model_dump(mode="json")
    start = time.perf_counter()
    embedding = publish_spec_version(
        bank,
        spec,
        vectors,
        progress,
        inputs=inputs,
        results=results,
        spec_json=spec_json,
        lineage=lineage,
        input_fingerprint=input_fingerprint(dataset, spec_json),
        audit=_forced(failed),
    )
    result.embedding = embedding
    timings["publish"] = time.perf_counter() - start
    timings.update(build_artifacts(bank, embedding, spec.publish, progress))
    return result


def publish_spec_version(
    bank: Bank,
    spec: Spec,
    vectors: VectorTable,
    progress: Progress,
    *,
    inputs: BenchmarkInputs,
    results: list[TaskResult],
    spec_json: dict[str, Any],
    lineage: dict[str, Any],
    input_fingerprint: str,
    audit: dict[str, Any],
    space_id: str | None = None,
) -> Embedding:
    """Publish ``vectors`` as the next version of the spec's table, with the spec's table
    settings (metric, description, owner, tags, entities, aliases): what ``run`` and
    ``refresh`` both commit."""
    with progress.task(f"publishing {spec.table}"):
        return bank.publish(
            spec.table,
            vectors,
            metric=spec.publish.metric,
            description=spec.description,
            owner=spec.owner,
            tags=spec.tags,
            entities=spec.entities,
            inputs=inputs,
            results=results,
            spec=spec_json,
            lineage=lineage,
            aliases=spec.publish.aliases,
            input_fingerprint=input_fingerprint,
            audit=audit,
            space_id=space_id,
        )


def benchmark_inputs(dataset: Dataset) -> BenchmarkInputs:
    """What the benchmarks read beside the vectors, from the selected dataset."""
    return BenchmarkInputs(
        labels=dataset.labels,
        holdout=dataset.holdout,
        interactions=dataset.interactions,
        graph=dataset.graph,
        metadata=dataset.metadata,
    )


def run_benchmarks(
    spec: Spec, vectors: VectorTable, inputs: BenchmarkInputs, progress: Progress
) -> list[TaskResult]:
    """Run every benchmark task of ``spec`` on ``vectors``, in the spec's order."""
    results = []
    for name, params in spec.benchmark_tasks():
        task = benchmarks.get(name)
        results.append(
            task(with_table_metric(task, params, spec.publish.metric)).run(
                vectors, inputs, progress
            )
        )
    return results


def base_lineage(
    loaded: LoadedSpec,
    dataset: Dataset,
    algorithm: Algorithm,
    outcomes: list[GateOutcome],
    timings: dict[str, float],
) -> dict[str, Any]:
    """The lineage every fitted version records: data, selection, algorithm, gates."""
    spec = loaded.spec
    return {
        "data": dataset.lineage,
        "select": spec.select.model_dump(mode="json"),
        "algorithm": {
            "name": spec.algorithm.name,
            "params": algorithm.params.model_dump(mode="json"),
            "deterministic": type(algorithm).deterministic,
            # what an algorithm says about its own fit (e.g. how much signal compression kept)
            "report": getattr(algorithm, "report_", None),
            "relation_operators": getattr(algorithm, "relation_operators_", None),
        },
        "gates": [
            {"gate": o.gate.text, "passed": o.passed, "value": o.value, "bound": o.bound}
            for o in outcomes
        ],
        "forced": any(not o.passed for o in outcomes),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "spec_path": str(loaded.path) if loaded.path else None,
    }


def build_artifacts(
    bank: Bank, embedding: Embedding, publish: PublishSpec, progress: Progress
) -> dict[str, float]:
    """Build what follows a committed publish (DESIGN.md: artifacts after the commit):
    the 2-D map unless ``publish.map`` is off, then the index ``publish.index`` names.
    Each failure is logged, never raised: the version is published whatever happens
    here. Returns the seconds each step took."""
    timings: dict[str, float] = {}
    if publish.map:
        start = time.perf_counter()
        _draw_map(bank, embedding, progress)
        timings["map"] = time.perf_counter() - start
    if publish.index != "none":
        start = time.perf_counter()
        _build_index(bank, embedding, publish, progress)
        timings["index"] = time.perf_counter() - start
    return timings


def _build_index(
    bank: Bank, embedding: Embedding, publish: PublishSpec, progress: Progress
) -> None:
    """Store the version's nearest-neighbour index; until one exists, search is exact."""
    try:
        from embank.ann.stored import build_version_index

        build_version_index(
            bank,
            embedding,
            kind=publish.index,
            recall_target=publish.recall_target,
            progress=progress,
        )
    except Exception as exc:  # never fail a publish that has committed
        log.warning(
            "%s@%s is published, but its index was not built (%s: %s); it is searched "
            "exactly until `embank index %s@%s` builds one",
            embedding.name,
            embedding.version,
            type(exc).__name__,
            exc,
            embedding.name,
            embedding.version,
        )


def _draw_map(bank: Bank, embedding: Embedding, progress: Progress) -> None:
    """Store the web UI's 2-D map of the version just published (DESIGN.md: artifacts are
    built after the commit). The version is published whatever happens here: a map that
    fails is logged, and drawn on its first view instead."""
    try:
        from embank.serve.maps import store_map

        with progress.task(f"drawing the map of {embedding.name}@{embedding.version}"):
            store_map(bank, embedding)
    except Exception as exc:  # never fail a publish that has committed
        log.warning(
            "%s@%s is published, but its 2-D map was not drawn (%s: %s); "
            "the web UI draws it on first view",
            embedding.name,
            embedding.version,
            type(exc).__name__,
            exc,
        )


def _forced(failed: list[GateOutcome]) -> dict[str, Any]:
    """What the audit log records of the gates: whether the publish was forced past any."""
    if not failed:
        return {"forced": False}
    return {
        "forced": True,
        "failed_gates": [
            {"gate": o.gate.text, "value": o.value, "bound": o.bound, "message": o.message}
            for o in failed
        ],
    }


def input_fingerprint(dataset: Dataset, spec: dict[str, Any]) -> str:
    """sha256 of the input data's fingerprints, the resolved spec and the code version."""
    payload = {"data": dataset.lineage, "spec": spec, "code": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _previous_figures(bank: Bank, table: str, aliases: list[str]) -> dict[str, float] | None:
    """Figures of the version a publish replaces: at its first alias, else at ``latest``.

    A publish to ``production`` is judged against the production version, not against
    whatever was published last (DESIGN.md: "the version at the alias this publish moves").
    """
    ref = f"{table}@{aliases[0]}" if aliases else table
    try:
        shown = bank.show(ref)
    except NotFoundError:
        return None
    return {f.figure: f.value for f in shown.benchmarks}
