"""The comparison as one self-contained HTML page: version cards, a chart and a table of
deltas per task. Everything is inline (CSS, SVG), so the file opens anywhere, offline."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from embank._version import __version__
from embank.errors import UsageError
from embank.report.charts import PALETTE, task_chart_svg
from embank.report.compare import direction, format_delta, format_value, short_name
from embank.report.templates import COMPARE_HTML
from embank.store.models import CompareFigure, CompareResult

__all__ = ["render_compare_html", "write_compare_html"]

_DIRECTION = {1: "better", -1: "worse", 0: "same"}


def render_compare_html(result: CompareResult) -> str:
    """The report page of ``result``, as HTML text."""
    import jinja2

    labels = [short_name(ref, result.refs) for ref in result.refs]
    refs = [
        {
            "info": ref,
            "label": label,
            "color": PALETTE[i % len(PALETTE)],
            "created": f"{ref.created_at:%Y-%m-%d %H:%M} UTC",
            "params": _params(ref.params, result.refs[0].params if i else ref.params),
        }
        for i, (ref, label) in enumerate(zip(result.refs, labels, strict=True))
    ]
    tasks: dict[str, list[CompareFigure]] = {}
    for figure in result.figures:
        tasks.setdefault(figure.task, []).append(figure)
    sections = [
        {
            "name": task,
            "figures": figures,
            "baseline_name": next((f.baseline_name for f in figures if f.baseline_name), None),
            "svg": task_chart_svg(figures, labels, f"embank-{i}", f"{task} by version"),
            "rows": [_row(f) for f in figures],
        }
        for i, (task, figures) in enumerate(tasks.items())
    ]
    names = sorted({ref.table for ref in result.refs})
    subtitle = " vs ".join(f"{r.table}@{r.version}" for r in result.refs)
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return env.from_string(COMPARE_HTML).render(
        title=f"Benchmarks of {', '.join(names)}",
        subtitle=subtitle,
        refs=refs,
        tasks=sections,
        all_figures=result.all_figures,
        n_not_shared=result.n_not_shared,
        embank_version=__version__,
        generated=f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    )


def write_compare_html(result: CompareResult, path: str | Path) -> Path:
    """Write the report page to ``path`` (its folder must exist); returns the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    path.write_text(render_compare_html(result), encoding="utf-8")
    return path


def _row(figure: CompareFigure) -> dict[str, Any]:
    cells = []
    for i, value in enumerate(figure.values):
        delta = figure.deltas[i]
        shown = i > 0 and delta is not None
        cells.append(
            {
                "value": None if value is None else format_value(value),
                "delta": format_delta(delta, figure.delta_pcts[i]) if shown else "",
                "direction": _DIRECTION[direction(figure, delta)],
            }
        )
    baselines = {b for b in figure.baselines if b is not None}
    if not baselines:
        baseline = "–"
    elif len(baselines) == 1:
        baseline = format_value(baselines.pop())
    else:
        baseline = " / ".join(format_value(b) for b in figure.baselines)
    task, _, metric = figure.figure.partition(".")
    return {"task": task, "metric": metric, "cells": cells, "baseline": baseline}


def _params(params: dict[str, Any], base: dict[str, Any]) -> list[dict[str, Any]]:
    """Each param as ``key=value``, marked where it differs from the first ref's."""
    return [
        {
            "text": f"{key}={value if isinstance(value, str) else json.dumps(value)}",
            "differs": key not in base or base[key] != value,
        }
        for key, value in params.items()
    ]
