"""``embank benchmark NAME@V``: re-run a version's benchmark tasks on what it stores.

A version keeps its vectors, its resolved spec and the inputs its benchmarks read at
publish (labels, hold-out, metadata, graph, interactions; :mod:`embank.store.inputs`), so
its tasks run again without the sources, which may have changed or gone since. The
figures are stored as a new benchmark run of the version (its files never change), and
``show`` reports each figure's latest run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from embank.benchmarks import Benchmark, TaskResult, benchmarks
from embank.errors import DataError, UsageError
from embank.progress import NullProgress, Progress
from embank.store.bank import Bank
from embank.store.models import BenchmarkRunResult

__all__ = ["benchmark_version", "choose_tasks", "spec_tasks", "with_table_metric"]


def with_table_metric(
    task: type[Benchmark], params: Mapping[str, Any], metric: str
) -> dict[str, Any]:
    """``params``, with ``metric`` set to the table's metric when the task takes a ``metric``
    and the params leave it unset (absent or null): tasks score as the table is searched."""
    params = dict(params)
    if "metric" in task.Params.model_fields and params.get("metric") is None:
        params["metric"] = metric
    return params


def spec_tasks(spec: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The ``(task, params)`` items of a stored spec's ``benchmarks``, in order.

    Read from the stored dict rather than re-validated as a :class:`Spec`, so versions made
    by an older spec model still re-run.
    """
    items = (spec or {}).get("benchmarks") or []
    return [(name, dict(params or {})) for item in items for name, params in item.items()]


def choose_tasks(
    in_spec: list[tuple[str, dict[str, Any]]], only: Sequence[str] | None
) -> list[tuple[str, dict[str, Any]]]:
    """The spec's tasks, or only those named in ``only`` (the spec's params when the spec
    runs the task, the task's defaults when it does not), in the order given."""
    if not only:
        return in_spec
    params: dict[str, dict[str, Any]] = {}
    for name, task_params in in_spec:
        params.setdefault(name, task_params)
    return [(name, params.get(name, {})) for name in dict.fromkeys(only)]


def benchmark_version(
    bank: Bank,
    ref: str,
    tasks: Sequence[str] | None = None,
    progress: Progress | None = None,
    actor: str | None = None,
) -> BenchmarkRunResult:
    """Run the benchmark tasks of version ``ref`` on its stored vectors and inputs.

    ``tasks`` names the tasks to run (default: the version's spec's). Stores the figures
    as a new benchmark run and returns them beside the values stored before. Raises
    :class:`NotFoundError` for an unknown ref or task, :class:`UsageError` when there is
    nothing to run, :class:`DataError` when a task lacks an input the version stores, and
    :class:`StorageError` when a stored input no longer matches the manifest.
    """
    progress = progress or NullProgress()
    embedding = bank.get(ref)
    exact = f"{embedding.name}@{embedding.version}"
    chosen = choose_tasks(spec_tasks(embedding.version_info.spec), tasks)
    if not chosen:
        raise UsageError(
            f"{exact} has no benchmarks in its spec; name the tasks with --task "
            f"(known: {', '.join(benchmarks.names())})"
        )
    # Check every task and its params before the (possibly long) runs start.
    runners: list[Benchmark] = []
    for name, params in chosen:
        task = benchmarks.get(name)
        try:
            runners.append(task(with_table_metric(task, params, embedding.metric)))
        except pydantic.ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in exc.errors()
            )
            raise UsageError(f"{exact}: params of {name}: {problem}") from None

    before = {f.figure: f.value for f in bank.show(exact).benchmarks}
    inputs = embedding.benchmark_inputs()
    vectors = embedding.to_vector_table()
    results: list[TaskResult] = []
    for (name, _), runner in zip(chosen, runners, strict=True):
        try:
            results.append(runner.run(vectors, inputs, progress))
        except DataError as exc:
            stored = ", ".join(embedding.stored_inputs()) or "no benchmark inputs"
            raise DataError(f"{name} on {exact}: {exc} (the version stores {stored})") from None
    ran = {r.task: r.params for r in results}
    run = bank.record_benchmarks(
        exact, results, actor=actor, details={"inputs": "stored", "params": ran}
    )
    shown = {(f.figure, f.run): f for f in bank.show(exact).benchmarks}
    figures = [shown[(f.name, run)] for r in results for f in r.figures if (f.name, run) in shown]
    return BenchmarkRunResult(
        table=embedding.name,
        version=embedding.version,
        space_id=embedding.space_id,
        run=run,
        tasks=ran,
        figures=figures,
        previous={f.figure: before[f.figure] for f in figures if f.figure in before},
    )
