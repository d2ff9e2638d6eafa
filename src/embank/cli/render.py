"""How the CLI shows things: rich tables for people, JSON for scripts, progress bars."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from embank.progress import Task
from embank.report.compare import direction, format_delta, format_value, short_name
from embank.store.models import (
    BenchmarkRunResult,
    CompareResult,
    FigureInfo,
    ShowResult,
    TableInfo,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    """``value`` as JSON that any parser reads: a figure that could not be measured (NaN,
    infinite) is ``null``, as pydantic writes it, never the non-standard ``NaN``."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2)
    elif isinstance(value, dict):
        text = json.dumps(_finite(value), indent=2, default=str, allow_nan=False)
    else:
        dumped = [v.model_dump(mode="json") for v in value]
        text = json.dumps(_finite(dumped), indent=2, allow_nan=False)
    out.print(text, markup=False, soft_wrap=True)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def tables_table(rows: list[TableInfo]) -> Table:
    """Tables, one a row; ``age`` is the time since the latest version was published,
    ``refresh`` the last refresh's outcome."""
    from embank.store.freshness import age_text

    now = dt.datetime.now(dt.UTC)
    columns = [
        "table",
        "latest",
        "versions",
        "age",
        "refresh",
        "entities",
        "dim",
        "metric",
        "owner",
        "description",
    ]
    cells = []
    for info in rows:
        published = info.latest_published_at
        age = (now - published).total_seconds() if published is not None else None
        cells.append(
            [
                info.name,
                str(info.latest_version or "-"),
                str(info.n_versions),
                age_text(age),
                info.last_refresh.outcome if info.last_refresh is not None else "-",
                ",".join(info.entities),
                str(info.dim),
                info.metric,
                info.owner,
                info.description,
            ]
        )
    # The description gives way: cut (with an ellipsis) to what the terminal has left, so
    # each table stays one readable line; the other columns keep their natural width.
    widths = [max([len(c), *(len(row[i]) for row in cells)]) + 2 for i, c in enumerate(columns)]
    room = max(out.width - sum(widths[:-1]) - 2, len("description"))
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in cells:
        text = row[-1]
        row[-1] = text if len(text) <= room else text[: room - 1] + "…"
        table.add_row(*row)
    return table


def _baseline(f: FigureInfo) -> str:
    return f"{f.baseline:.4f} ({f.baseline_name})" if f.baseline is not None else "-"


def figures_table(figures: list[FigureInfo]) -> Table:
    rerun = any(f.run > 1 for f in figures)
    table = Table(box=None, header_style="bold")
    columns = ["figure", "value", "baseline", "n", "time s"] + (["run"] if rerun else [])
    for column in columns:
        table.add_column(column, justify="right" if column != "figure" else "left")
    for f in figures:
        row = [
            f.figure,
            f"{f.value:.4f}",
            _baseline(f),
            str(f.sample_size or "-"),
            f"{f.run_time_s:.1f}" if f.run_time_s is not None else "-",
        ]
        table.add_row(*row, *([str(f.run)] if rerun else []))
    return table


_COLOURS = {1: "green", -1: "red", 0: "dim"}


def _baseline_header(names: set[str | None]) -> str:
    """``baseline (random)`` when every figure has the same kind of baseline."""
    known = names - {None}
    return f"baseline ({known.pop()})" if len(known) == 1 else "baseline"


def benchmark_table(result: BenchmarkRunResult) -> Table:
    """Figures of a benchmark run beside the values stored before it."""
    one_kind = len({f.baseline_name for f in result.figures if f.baseline is not None}) <= 1
    table = Table(box=None, header_style="bold")
    table.add_column("figure", overflow="fold")
    for column in ("value", "before", "change"):
        table.add_column(column, justify="right")
    table.add_column(
        _baseline_header({f.baseline_name for f in result.figures}) if one_kind else "baseline",
        justify="right",
    )
    for f in result.figures:
        before = result.previous.get(f.figure)
        if before is None:
            change = "[dim]new[/dim]"
        else:
            delta = f.value - before
            pct = delta / abs(before) * 100.0 if before else None
            colour = _COLOURS[(delta > 1e-12) - (delta < -1e-12)]
            change = f"[{colour}]{format_delta(delta, pct)}[/{colour}]"
        table.add_row(
            f.figure,
            f"{f.value:.4f}",
            format_value(before),
            change,
            format_value(f.baseline) if one_kind else _baseline(f),
        )
    return table


def compare_table(result: CompareResult) -> Table:
    """Each figure across the refs, with deltas against the first coloured by direction."""
    names = {f.baseline_name for f in result.figures if any(b is not None for b in f.baselines)}
    one_kind = len(names) <= 1
    table = Table(box=None, header_style="bold")
    table.add_column("figure", overflow="fold")
    for ref in result.refs:
        table.add_column(short_name(ref, result.refs), justify="right")
    table.add_column(_baseline_header(names) if one_kind else "baseline", justify="right")
    for f in result.figures:
        cells = []
        for i, value in enumerate(f.values):
            text = format_value(value)
            delta = f.deltas[i]
            if i and delta is not None:
                colour = _COLOURS[direction(f, delta)]
                text += f" [{colour}]{format_delta(delta, f.delta_pcts[i])}[/{colour}]"
            cells.append(text)
        baselines = {b for b in f.baselines if b is not None}
        if len(baselines) <= 1:
            baseline = format_value(next(iter(baselines), None))
        else:
            baseline = " / ".join(format_value(b) for b in f.baselines)
        if not one_kind and f.baseline_name and baselines:
            baseline += f" ({f.baseline_name})"
        table.add_row(f.figure, *cells, baseline)
    return table


def compare(result: CompareResult) -> None:
    for i, r in enumerate(result.refs):
        base = "  (base of the deltas)" if i == 0 else ""
        out.print(
            f"[bold]{r.table}@{r.version}[/bold]  {r.algorithm or '?'}  "
            f"rows {r.n_rows}  dim {r.dim}  created {r.created_at:%Y-%m-%d %H:%M}Z{base}",
            soft_wrap=True,
        )
    if not result.figures:
        out.print("no benchmark figure is shared by every ref; --all shows every figure")
        return
    out.print(compare_table(result))
    if result.n_not_shared and not result.all_figures:
        out.print(
            f"[dim]{result.n_not_shared} figure(s) not computed for every ref left out; "
            "--all shows them[/dim]"
        )


def show(result: ShowResult) -> None:
    t, v = result.table, result.version
    out.print(f"[bold]{t.name}@{v.number}[/bold]  {t.description}")
    out.print(
        f"  owner {t.owner or '-'}   tags {', '.join(t.tags) or '-'}   "
        f"entities {', '.join(t.entities)}   dim {t.dim}   metric {t.metric}"
    )
    out.print(
        f"  status {v.status}   aliases {', '.join(v.aliases) or '-'}   rows {v.n_rows}   "
        f"created {v.created_at:%Y-%m-%d %H:%M:%S}Z by {v.created_by}"
    )
    if v.status == "deprecated":
        reason = v.status_reason or "no reason given"
        out.print(f"  [red]deprecated[/red]: {escape(reason)} (it still reads)", soft_wrap=True)
    out.print(f"  space {v.space_id}   content sha256 {v.content_hash[:16]}…")
    algorithm = v.lineage.get("algorithm", {})
    if algorithm:
        out.print(f"  algorithm {algorithm.get('name')} {json.dumps(algorithm.get('params', {}))}")
    drift = result.drift
    if drift:
        previous = drift.get("previous_version")
        out.print(
            f"  refreshed from @{previous if previous is not None else '-'}: "
            f"space {drift.get('space') or '-'}"
        )
    # drift figures are stored as the `drift` task's; they get their own table below
    figures = [f for f in result.benchmarks if f.task != "drift"]
    if figures:
        out.print(figures_table(figures))
    if drift and drift.get("figures"):
        from embank.cli.drift_view import drift_table

        out.print(drift_table(drift["figures"], drift.get("seed_floor")))


class _RichTask:
    def __init__(self, progress: Progress, task_id: Any) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, n: float = 1) -> None:
        self._progress.advance(self._task_id, n)


class RichProgress:
    """Draws each pipeline step as a progress bar on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=not enabled,
            transient=False,
        )

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        task_id = self._progress.add_task(description, total=total)
        try:
            yield _RichTask(self._progress, task_id)
        finally:
            total = next(t.total for t in self._progress.tasks if t.id == task_id) or 1
            self._progress.update(task_id, total=total, completed=total)
