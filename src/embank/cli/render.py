"""How the CLI shows things: rich tables for people, JSON for scripts, progress bars."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from rich.console import Console
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
from embank.store.models import FigureInfo, ShowResult, TableInfo

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2)
    elif isinstance(value, dict):
        text = json.dumps(value, indent=2, default=str)
    else:
        text = json.dumps([v.model_dump(mode="json") for v in value], indent=2)
    out.print(text, markup=False, soft_wrap=True)


def tables_table(rows: list[TableInfo]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in (
        "table",
        "latest",
        "versions",
        "entities",
        "dim",
        "metric",
        "owner",
        "description",
    ):
        table.add_column(column)
    for info in rows:
        table.add_row(
            info.name,
            str(info.latest_version or "-"),
            str(info.n_versions),
            ",".join(info.entities),
            str(info.dim),
            info.metric,
            info.owner,
            info.description[:60],
        )
    return table


def figures_table(figures: list[FigureInfo]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("figure", "value", "baseline", "n", "time s"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    for f in figures:
        baseline = f"{f.baseline:.4f} ({f.baseline_name})" if f.baseline is not None else "-"
        table.add_row(
            f.figure,
            f"{f.value:.4f}",
            baseline,
            str(f.sample_size or "-"),
            f"{f.run_time_s:.1f}" if f.run_time_s is not None else "-",
        )
    return table


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
    out.print(f"  space {v.space_id}   content sha256 {v.content_hash[:16]}…")
    algorithm = v.lineage.get("algorithm", {})
    if algorithm:
        out.print(f"  algorithm {algorithm.get('name')} {json.dumps(algorithm.get('params', {}))}")
    if result.benchmarks:
        out.print(figures_table(result.benchmarks))


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
