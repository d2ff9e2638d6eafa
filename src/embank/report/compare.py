"""``embank compare A B ...``: benchmark figures of versions (of one table or several) side
by side, with each figure's delta against the first ref.

Each ref is read as ``show`` reads it (each figure's latest benchmark run). By default only
the figures every ref has are compared; ``all_figures`` keeps the others with nulls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from embank.errors import UsageError
from embank.store.bank import Bank
from embank.store.models import CompareFigure, CompareRef, CompareResult, FigureInfo, ShowResult

__all__ = ["compare_versions", "format_delta", "format_value", "higher_is_better", "short_name"]

# Metric names whose figure improves as it falls; every other figure improves as it rises.
# drift figures too: distances, residuals and dropped keys are better low
_LOWER_IS_BETTER = re.compile(
    r"(^|_|\.)(loss|error|rmse|mse|mae|perplexity|mean_rank|latency|cosine_distance"
    r"|procrustes_residual|procrustes_residual_unaligned|dropped)(_|\.|$)"
)


def higher_is_better(figure: str) -> bool:
    """Whether ``task.metric`` improves as it rises (F1, recall, MRR, AUC, accuracy, ...)."""
    return not _LOWER_IS_BETTER.search(figure.partition(".")[2])


def compare_versions(bank: Bank, refs: Sequence[str], all_figures: bool = False) -> CompareResult:
    """Compare the benchmark figures of ``refs`` (``NAME``, ``NAME@V``, ``NAME@ALIAS``).

    Raises :class:`UsageError` for fewer than two refs and :class:`NotFoundError` (naming
    the ref) for one that does not resolve.
    """
    if len(refs) < 2:
        raise UsageError("compare needs at least two refs, e.g. demo/t@1 demo/t@2")
    shown = [bank.show(ref) for ref in refs]
    by_ref = [{f.figure: f for f in s.benchmarks} for s in shown]
    order: dict[str, None] = {}
    for s in shown:
        for f in s.benchmarks:
            order.setdefault(f.figure, None)
    shared = [name for name in order if all(name in figures for figures in by_ref)]
    names = list(order) if all_figures else shared
    figures = [_figure(name, [figures.get(name) for figures in by_ref]) for name in names]
    return CompareResult(
        refs=[_ref(ref, s) for ref, s in zip(refs, shown, strict=True)],
        figures=figures,
        all_figures=all_figures,
        n_not_shared=len(order) - len(shared),
    )


def _figure(name: str, found: list[FigureInfo | None]) -> CompareFigure:
    values = [f.value if f is not None else None for f in found]
    first = values[0]
    deltas: list[float | None] = []
    pcts: list[float | None] = []
    for value in values:
        if value is None or first is None:
            deltas.append(None)
            pcts.append(None)
            continue
        delta = value - first
        deltas.append(delta)
        pcts.append(delta / abs(first) * 100.0 if first != 0 else None)
    known = next(f for f in found if f is not None)
    return CompareFigure(
        task=known.task,
        figure=name,
        higher_is_better=higher_is_better(name),
        values=values,
        baselines=[f.baseline if f is not None else None for f in found],
        baseline_name=next((f.baseline_name for f in found if f and f.baseline_name), None),
        deltas=deltas,
        delta_pcts=pcts,
    )


def _ref(ref: str, shown: ShowResult) -> CompareRef:
    algorithm = shown.version.lineage.get("algorithm") or {}
    if not algorithm and shown.version.spec:
        algorithm = shown.version.spec.get("algorithm") or {}
    return CompareRef(
        ref=ref,
        table=shown.table.name,
        version=shown.version.number,
        aliases=shown.version.aliases,
        space_id=shown.version.space_id,
        created_at=shown.version.created_at,
        n_rows=shown.version.n_rows,
        dim=shown.version.dim,
        metric=shown.table.metric,
        algorithm=algorithm.get("name"),
        params=dict(algorithm.get("params") or {}),
    )


def short_name(ref: CompareRef, refs: Sequence[CompareRef]) -> str:
    """``@V`` when every ref is of one table, else ``table@V``."""
    if len({r.table for r in refs}) == 1:
        return f"@{ref.version}"
    return f"{ref.table}@{ref.version}"


def format_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_delta(delta: float | None, pct: float | None) -> str:
    """``+0.0123 (+1.5%)``; ``-`` when there is nothing to compare."""
    if delta is None:
        return "-"
    if pct is None:
        return f"{delta:+.4f}"
    return f"{delta:+.4f} ({pct:+.1f}%)"


def direction(figure: CompareFigure, delta: float | None) -> int:
    """+1 better than the first ref, -1 worse, 0 same or unknown."""
    if delta is None or abs(delta) < 1e-12:
        return 0
    better = delta > 0 if figure.higher_is_better else delta < 0
    return 1 if better else -1
