"""``embank foldin``: vectors for keys that appeared since the latest version, no refit.

Between two refreshes new users, items or nodes arrive; a refit would move every vector
(and, unaligned, the space). A fold-in keeps every vector of the latest version as it is
and solves only the new keys against them (:mod:`embank.refresh.fold`), then publishes a
*patch*: a new immutable version of ``kind`` patch, in the same ``space_id``, holding
every previous row unchanged plus the folded ones, each row marked ``folded`` with its
``support`` (``Embedding.row_attributes()``). Only ``latest`` moves; the parent version
stays as it was.

The data are selected as the table's spec says (the spec stored with the latest version,
unless one is given), including its hold-out, so the patch's benchmark figures are
measured on the patch itself with the same hold-out a refit would have: the spec's
benchmarks run again on the patch (they are not copied from the parent, whose vectors
and hold-out differ), and its gates are checked as a publish checks them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from embank._version import __version__
from embank.algorithms import algorithms
from embank.benchmarks import BenchmarkInputs, TaskResult, benchmarks
from embank.benchmarks.gates import evaluate_gates
from embank.data.graph import Dataset
from embank.data.select import select
from embank.errors import ConflictError, GateFailedError, UsageError
from embank.names import check_table_name
from embank.progress import NullProgress, Progress
from embank.refresh.fold import Folded, fold_graph, fold_interactions
from embank.refresh.keys import support_from_dataset
from embank.refresh.lock import refresh_lock
from embank.spec.load import LoadedSpec, load_spec, validate_spec
from embank.vector_table import VectorTable

if TYPE_CHECKING:
    from embank.store.bank import Bank
    from embank.store.embedding import Embedding

__all__ = ["DEFAULT_MIN_SUPPORT", "FoldInResult", "foldin"]

log = logging.getLogger(__name__)

#: a vector folded from a single link is noisy, but it is better than none for ranking
DEFAULT_MIN_SUPPORT = 1
#: skipped keys listed by name in the result (all are counted)
_LISTED = 100


@dataclass
class FoldInResult:
    """What a fold-in did: the patch published (None when there was nothing to fold)."""

    table: str
    parent: int
    space_id: str
    since: str
    min_support: int
    folded: Folded
    embedding: Embedding | None
    results: list[TaskResult] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def published(self) -> bool:
        return self.embedding is not None

    def to_dict(self) -> dict[str, Any]:
        """The body of ``embank foldin --json``."""
        folded = self.folded
        return {
            "table": self.table,
            "published": self.published,
            "version": self.embedding.version if self.embedding is not None else None,
            "parent": self.parent,
            "space_id": self.space_id,
            "since": self.since,
            "min_support": self.min_support,
            "folded": folded.n_folded,
            "folded_by_entity": _counts(folded.table.entities),
            "skipped": folded.n_skipped,
            "skipped_keys": folded.skipped.head(_LISTED).to_dict(orient="records"),
            "benchmarks": {f.name: f.value for r in self.results for f in r.figures},
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
        }


def foldin(
    bank: Bank,
    name: str,
    *,
    since: str | dt.datetime | None = None,
    spec: LoadedSpec | str | Path | None = None,
    min_support: int = DEFAULT_MIN_SUPPORT,
    as_of: str | None = None,
    run_benchmarks: bool = True,
    force: bool = False,
    actor: str | None = None,
    progress: Progress | None = None,
) -> FoldInResult:
    """Fold the keys the latest version of ``name`` lacks into a patch version.

    ``since`` (default: when the latest version was published) is recorded and bound to
    ``$since`` in the spec's SQL; ``as_of`` to ``$as_of``. ``spec`` replaces the spec
    stored with the latest version. Keys with fewer than ``min_support`` links to known
    keys get no vector (listed in the result). Publishes nothing when no key qualifies.

    Raises :class:`UsageError` for a table whose algorithm has no fold-in (or without a
    spec), :class:`GateFailedError` when a gate fails (unless ``force``) and
    :class:`ConflictError` when another version was published meanwhile or a refresh or
    fold-in of the table is running (they share its lock: :mod:`embank.refresh.lock`).
    """
    check_table_name(name)
    # a refresh replaces the latest version: a fold-in beside it would patch a parent that
    # is about to be superseded, so both take the table's one lock
    with refresh_lock(bank, name, action="fold-in"):
        return _foldin(
            bank,
            name,
            since=since,
            spec=spec,
            min_support=min_support,
            as_of=as_of,
            run_benchmarks=run_benchmarks,
            force=force,
            actor=actor,
            progress=progress or NullProgress(),
        )


def _foldin(
    bank: Bank,
    name: str,
    *,
    since: str | dt.datetime | None,
    spec: LoadedSpec | str | Path | None,
    min_support: int,
    as_of: str | None,
    run_benchmarks: bool,
    force: bool,
    actor: str | None,
    progress: Progress,
) -> FoldInResult:
    timings: dict[str, float] = {}
    parent = bank.get(name)
    info = parent.version_info
    loaded = _spec_of(parent, spec)
    since_text = _since_text(since, info.created_at)

    start = time.perf_counter()
    params = {"since": since_text, **({"as_of": as_of} if as_of is not None else {})}
    dataset = select(
        loaded.spec.data,
        loaded.spec.select,
        loaded.base_dir,
        progress,
        params=params,
        holdout=loaded.spec.holdout,
    )
    timings["select"] = time.perf_counter() - start

    start = time.perf_counter()
    with progress.task(f"folding new keys into {name}@{parent.version}"):
        previous = parent.to_vector_table()
        folded = _fold(dataset, previous, loaded, parent.metric, min_support)
    timings["fold"] = time.perf_counter() - start
    result = FoldInResult(
        table=name,
        parent=parent.version,
        space_id=parent.space_id,
        since=since_text,
        min_support=min_support,
        folded=folded,
        embedding=None,
        timings_s=timings,
    )
    log.info(
        "%s@%s: %d new keys folded, %d below min_support %d",
        name,
        parent.version,
        folded.n_folded,
        folded.n_skipped,
        min_support,
    )
    if folded.n_folded == 0:
        return result

    table = VectorTable(
        np.concatenate([previous.entities, folded.table.entities]),
        np.concatenate([previous.keys, folded.table.keys]),
        np.vstack([previous.vectors, folded.table.vectors]),
    ).sorted()
    inputs = BenchmarkInputs(
        labels=dataset.labels,
        holdout=dataset.holdout,
        interactions=dataset.interactions,
        graph=dataset.graph,
        metadata=dataset.metadata,
    )
    start = time.perf_counter()
    if run_benchmarks:
        result.results = _benchmarks(loaded, table, inputs, parent.metric, progress)
    timings["benchmark"] = time.perf_counter() - start
    parent_figures = {f.figure: f.value for f in bank.show(f"{name}@{parent.version}").benchmarks}
    outcomes = evaluate_gates(loaded.spec.gates, result.results, parent_figures)
    failed = [o for o in outcomes if not o.passed]
    if failed and not force:
        raise GateFailedError(
            "gate failed, no fold-in published: " + "; ".join(o.message for o in failed)
        )

    summary = {
        "patch_of": parent.version,
        "since": since_text,
        "folded": folded.n_folded,
        "folded_by_entity": _counts(folded.table.entities),
        "skipped": folded.n_skipped,
        "min_support": min_support,
        "method": _method(dataset, loaded),
    }
    lineage: dict[str, Any] = {
        "foldin": summary,
        "data": dataset.lineage,
        "select": loaded.spec.select.model_dump(mode="json"),
        "algorithm": info.lineage.get("algorithm"),
        "gates": [
            {"gate": o.gate.text, "passed": o.passed, "value": o.value, "bound": o.bound}
            for o in outcomes
        ],
        "forced": bool(failed),
        "benchmarks": "measured on the patch" if run_benchmarks else "not run",
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "spec_path": str(loaded.path) if loaded.path else info.lineage.get("spec_path"),
    }
    spec_dump = loaded.spec.model_dump(mode="json")
    if bank.resolve(name).number != parent.version:
        raise ConflictError(
            f"{name} got a new version while folding into {name}@{parent.version}; "
            "nothing was published: run the fold-in again"
        )
    start = time.perf_counter()
    with progress.task(f"publishing the fold-in patch of {name}"):
        result.embedding = bank.publish(
            name,
            table,
            metric=parent.metric,
            entities=parent.table_info.entities,
            inputs=inputs,
            results=result.results,
            spec=spec_dump,
            lineage=lineage,
            input_fingerprint=_fingerprint(dataset, spec_dump, parent.version),
            actor=actor,
            audit={"foldin": summary, "forced": bool(failed)},
            space_id=parent.space_id,
            kind="patch",
            row_attributes=_row_attributes(parent, dataset, previous, folded),
        )
    timings["publish"] = time.perf_counter() - start
    return result


def _spec_of(parent: Embedding, spec: LoadedSpec | str | Path | None) -> LoadedSpec:
    """The spec given, else the one stored with the version (relative data paths resolve
    against the folder of the spec file it was loaded from)."""
    if isinstance(spec, LoadedSpec):
        loaded = spec
    elif spec is not None:
        loaded = load_spec(spec)
    else:
        info = parent.version_info
        if not info.spec:
            raise UsageError(
                f"{parent.name}@{parent.version} stores no spec to select data with; "
                "pass --spec FILE"
            )
        where = f"the spec stored with {parent.name}@{parent.version}"
        spec_path = info.lineage.get("spec_path")
        base_dir = Path(spec_path).parent if spec_path else Path.cwd()
        loaded = LoadedSpec(validate_spec(dict(info.spec), where), None, base_dir)
    if loaded.spec.table != parent.name:
        raise UsageError(
            f"the spec makes table {loaded.spec.table}, not {parent.name}: pass that table's spec"
        )
    return loaded


def _since_text(since: str | dt.datetime | None, published: dt.datetime) -> str:
    if since is None:
        return published.isoformat()
    if isinstance(since, dt.datetime):
        return since.isoformat()
    try:
        return dt.datetime.fromisoformat(since).isoformat()
    except ValueError:
        raise UsageError(
            f"--since {since!r}: give an ISO 8601 date or time, e.g. 2026-11-29T03:00:00+00:00"
        ) from None


def _method(dataset: Dataset, loaded: LoadedSpec) -> str:
    if dataset.interactions is not None and loaded.spec.algorithm.name == "als":
        return "als_least_squares"
    if dataset.graph is not None:
        return "neighbour_mean"
    raise UsageError(
        f"fold-in solves ALS tables (data.interactions) and graph tables (data.edges); "
        f"{loaded.spec.table} is fitted by {loaded.spec.algorithm.name!r} on other data: "
        "run a refresh instead"
    )


def _fold(
    dataset: Dataset, previous: VectorTable, loaded: LoadedSpec, metric: str, min_support: int
) -> Folded:
    method = _method(dataset, loaded)
    if method == "als_least_squares":
        params = algorithms.get("als").Params.model_validate(loaded.spec.algorithm.params)
        assert dataset.interactions is not None
        return fold_interactions(dataset.interactions, previous, params, min_support)
    assert dataset.graph is not None
    return fold_graph(dataset.graph, previous, metric, min_support)


def _benchmarks(
    loaded: LoadedSpec,
    table: VectorTable,
    inputs: BenchmarkInputs,
    metric: str,
    progress: Progress,
) -> list[TaskResult]:
    from embank.pipeline.benchmark import with_table_metric

    results = []
    for task_name, params in loaded.spec.benchmark_tasks():
        task = benchmarks.get(task_name)
        results.append(task(with_table_metric(task, params, metric)).run(table, inputs, progress))
    return results


def _row_attributes(
    parent: Embedding, dataset: Dataset, previous: VectorTable, folded: Folded
) -> pd.DataFrame:
    """``folded`` and ``support`` of every row: a row folded into an earlier patch stays
    marked; a fitted row's support is its links in the data this fold-in read."""
    carried = np.zeros(previous.n_rows, dtype=bool)
    earlier = parent.row_attributes()
    if earlier is not None and "folded" in earlier:
        # the parent's attribute rows are in its row order, as ``previous`` is
        carried = earlier["folded"].eq(True).to_numpy(dtype=bool)  # null: not folded
    support = support_from_dataset(dataset, previous).astype(np.int64)
    return pd.DataFrame(
        {
            "entity": np.concatenate([previous.entities, folded.table.entities]).astype(str),
            "key": np.concatenate([previous.keys, folded.table.keys]).astype(str),
            "folded": np.concatenate([carried, np.ones(folded.n_folded, dtype=bool)]),
            "support": np.concatenate([support, folded.support]),
        }
    )


def _fingerprint(dataset: Dataset, spec: dict[str, Any], parent: int) -> str:
    """Not the fingerprint a refit of the same data would have: a patch is no refit, so a
    refresh must not take it for one and skip as unchanged."""
    payload = {"foldin_of": parent, "data": dataset.lineage, "spec": spec, "code": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _counts(entities: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(np.asarray(entities, dtype=str), return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts, strict=True)}
