"""What each page shows, gathered from the bank: plain data for the templates.

Pages read the registry (and a version's stored map), never a version's rows, so a page
costs the same for a table of a hundred rows as for one of a million. The neighbour
explorer and the compare page's neighbour overlap and drift do read rows, as the API
does (memoised per pair of versions, which never change).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from functools import partial
from typing import Any
from urllib.parse import urlencode

from embank.errors import EmbankError
from embank.names import LATEST
from embank.report.charts import PALETTE, task_chart_svg
from embank.report.compare import (
    compare_versions,
    direction,
    format_delta,
    format_value,
    short_name,
)
from embank.serve.diff import served_diff
from embank.serve.discovery import headline_figure, keys_with_prefix, matching_tables
from embank.serve.maps import stored_map_at
from embank.serve.overlap import NeighbourOverlap, neighbour_overlap
from embank.serve.service import Service
from embank.serve.ui.drift_section import diff_section, drift_section
from embank.store.models import CompareFigure, CompareResult, TableInfo, VersionInfo

__all__ = [
    "catalog_page",
    "compare_page",
    "explore_page",
    "table_page",
    "table_url",
]

#: versions in a table page's benchmark chart and table (the report's palette has 8)
CHART_VERSIONS = 8
_DIRECTION = {1: "better", -1: "worse", 0: "same"}


def table_url(name: str) -> str:
    return f"/t/{name}"


def age(when: dt.datetime, now: dt.datetime | None = None) -> str:
    """``just now``, ``5 minutes ago``, ``3 hours ago``, ``2 days ago``, ``4 months ago``."""
    seconds = max(((now or dt.datetime.now(dt.UTC)) - when).total_seconds(), 0.0)
    for unit, size in _UNITS:
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


# -- catalog -----------------------------------------------------------------------------


def catalog_page(
    service: Service, q: str, entity: str | None, owner: str | None, tag: str | None
) -> dict[str, Any]:
    bank = service.bank
    everything = bank.tables()
    found = matching_tables(bank, q or None, entity=entity, owner=owner, tag=tag)
    cards = []
    for info in found:
        headline = None
        if info.latest_version is not None:
            headline = headline_figure(bank.show(info.name))
        cards.append(
            {
                "info": info,
                "url": table_url(info.name),
                "headline": headline,
                "headline_value": format_value(headline.value) if headline else None,
                "headline_baseline": (
                    format_value(headline.baseline)
                    if headline and headline.baseline is not None
                    else None
                ),
            }
        )

    def options(values: Sequence[str]) -> list[str]:
        return sorted({v for v in values if v})

    filters = [
        {
            "name": "entity",
            "label": "Entity type",
            "value": entity,
            "options": options([e for t in everything for e in t.entities]),
        },
        {
            "name": "owner",
            "label": "Owner",
            "value": owner,
            "options": options([t.owner for t in everything]),
        },
        {
            "name": "tag",
            "label": "Tag",
            "value": tag,
            "options": options([x for t in everything for x in t.tags]),
        },
    ]
    return {
        "nav": "catalog",
        "q": q,
        "filters": filters,
        "filtered": bool(q or entity or owner or tag),
        "cards": cards,
        "n_total": len(everything),
    }


# -- table -------------------------------------------------------------------------------


def table_page(service: Service, name: str, ref: str | None, base_url: str) -> dict[str, Any]:
    bank = service.bank
    selected = bank.resolve(f"{name}@{ref}" if ref else name)
    shown = bank.show(selected.ref)
    table = shown.table
    versions = bank.versions(name)
    version = next(v for v in versions if v.number == selected.number)

    # benchmark figures of the latest versions, side by side, with the report's chart
    recent = versions[-CHART_VERSIONS:]
    tasks, labels = _across_versions(service, name, [v.number for v in recent])

    stored = stored_map_at(bank, name, selected.number)
    example = _example_key(stored, table)
    return {
        "nav": "table",
        "table": table,
        "selected": version,
        "headline": headline_figure(shown),
        "versions": [_version_row(v, versions) for v in versions],
        "tasks": tasks,
        "bench_labels": labels,
        "n_hidden_versions": len(versions) - len(recent),
        "map_json": _script_json(stored) if stored is not None else None,
        "map_url": f"/tables/{name}/versions/{selected.number}/map",
        "explore_url": f"{table_url(name)}/explore",
        "compare_url": _compare_url(name, versions),
        "snippets": _snippets(service, table, example, base_url),
        **drift_section(bank, name, versions),
    }


def _compare_url(name: str, versions: list[VersionInfo]) -> str:
    """The compare page of the latest two versions."""
    if len(versions) < 2:
        return "/compare"
    query = {"a": f"{name}@{versions[-2].number}", "b": f"{name}@{versions[-1].number}"}
    return f"/compare?{urlencode(query)}"


def _version_row(version: VersionInfo, versions: list[VersionInfo]) -> dict[str, Any]:
    lineage = version.lineage or {}
    algorithm = lineage.get("algorithm") or {}
    if not algorithm and version.spec:
        algorithm = version.spec.get("algorithm") or {}
    parent = next((v for v in versions if v.number == version.parent), None)
    parent_params: dict[str, Any] = {}
    if parent is not None:
        parent_params = ((parent.lineage or {}).get("algorithm") or {}).get("params") or {}
    params = algorithm.get("params") or {}
    return {
        "info": version,
        "algorithm": algorithm.get("name"),
        "params": [
            {
                "text": f"{k}={v if isinstance(v, str) else json.dumps(v)}",
                "differs": parent is not None and parent_params.get(k, object()) != v,
            }
            for k, v in params.items()
        ],
        "selection": [
            f"{k}={v if isinstance(v, str) else json.dumps(v)}"
            for k, v in (lineage.get("select") or {}).items()
            if v is not None
        ],
        "sources": _sources(lineage.get("data") or {}),
        "gates": lineage.get("gates") or [],
        "spec": json.dumps(version.spec, indent=2) if version.spec else None,
    }


def _sources(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each input of the version's data lineage: its name, path or SQL, sha256, rows."""
    found = []
    for part, entry in data.items():
        if not isinstance(entry, dict):
            continue
        nested = [(part, entry)]
        if "path" not in entry and "sql" not in entry and "files" not in entry:
            nested = [(f"{part}.{k}", v) for k, v in entry.items() if isinstance(v, dict)]
        for label, source in nested:
            if not any(k in source for k in ("path", "sql", "files")):
                continue
            files = source.get("files") or []
            where = source.get("path") or source.get("sql") or (files[0]["path"] if files else "")
            rows = source.get("rows")
            if isinstance(rows, dict) and rows:
                rows = f"{list(rows.values())[-1]:,} rows"
            found.append(
                {
                    "name": label,
                    "where": " ".join(str(where).split()),
                    "sha256": files[0].get("sha256") if len(files) == 1 else None,
                    "rows": rows if isinstance(rows, str) else None,
                }
            )
    return found


def _across_versions(
    service: Service, name: str, numbers: list[int]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Per task: the report's chart and a table of each figure across ``numbers``, each
    delta against the version before it."""
    if not numbers:
        return [], []
    refs = [f"{name}@{n}" for n in numbers]
    # compare needs two refs: a single version is compared with itself, then cut to one
    result = compare_versions(service.bank, refs if len(refs) > 1 else refs * 2, all_figures=True)
    n = len(numbers)
    labels = [f"v{number}" for number in numbers]
    tasks: dict[str, list[CompareFigure]] = {}
    for figure in result.figures:
        tasks.setdefault(figure.task, []).append(figure)
    sections = []
    for i, (task, figures) in enumerate(tasks.items()):
        figures = [
            f.model_copy(update={"values": f.values[:n], "baselines": f.baselines[:n]})
            for f in figures
        ]
        key = json.dumps(
            [name, labels, [[f.figure, f.values, f.baselines] for f in figures]], default=str
        )
        svg = service.memo(
            f"chart:{key}",
            partial(task_chart_svg, figures, labels, f"v-{i}", f"{task} by version"),
        )
        rows = []
        for f in figures:
            cells = []
            for j, value in enumerate(f.values):
                before = f.values[j - 1] if j else None
                delta = value - before if value is not None and before is not None else None
                pct = delta / abs(before) * 100 if delta is not None and before else None
                cells.append(
                    {
                        "version": numbers[j],
                        "value": None if value is None else format_value(value),
                        "delta": format_delta(delta, pct) if delta is not None else "",
                        "direction": _DIRECTION[direction(f, delta)],
                    }
                )
            task_name, _, metric = f.figure.partition(".")
            rows.append(
                {
                    "figure": f.figure,
                    "task": task_name,
                    "metric": metric,
                    "cells": cells,
                    "baseline": _baseline_text(f.baselines),
                }
            )
        sections.append(
            {
                "name": task,
                "svg": svg,
                "rows": rows,
                "baseline_name": next((f.baseline_name for f in figures if f.baseline_name), None),
            }
        )
    return sections, labels


def _baseline_text(baselines: Sequence[float | None]) -> str:
    known = [b for b in baselines if b is not None]
    if not known:
        return "–"
    latest = known[-1]
    return format_value(latest)


def _example_key(stored: dict[str, Any] | None, table: TableInfo) -> tuple[str, str]:
    """A real (entity, key) for the snippets: the map's first point, else a placeholder."""
    if stored and stored.get("keys"):
        return stored["entity_names"][stored["entity"][0]], stored["keys"][0]
    return table.entities[0], "KEY"


def _snippets(
    service: Service, table: TableInfo, example: tuple[str, str], base_url: str
) -> list[dict[str, str]]:
    entity, key = example
    name = table.name
    bank = service.settings.bank or service.bank.location.label
    several = len(table.entities) > 1
    entity_arg = f', entity="{entity}"' if several else ""
    entity_cli = f" --entity {entity}" if several else ""
    entity_json = f', "entity": "{entity}"' if several else ""
    stem = name.replace("/", "-")
    python = (
        "import embank\n\n"
        f'bank = embank.open("{bank}")\n'
        f'emb = bank.get("{name}")  # latest; "{name}@{table.latest_version}" pins this version\n'
        f'vectors = emb.vectors(["{key}"]{entity_arg})  # 1 x {table.dim} float32\n'
        f'near = emb.neighbors("{key}", k=10{entity_arg})\n'
        "frame = emb.to_pandas()  # entity, key, vector"
    )
    cli = (
        f"embank show {name} --bank {bank}\n"
        f"embank neighbors {name} {key} -k 10{entity_cli} --bank {bank}\n"
        f"embank export {name} --format parquet --out {stem}.parquet --bank {bank}"
    )
    base = base_url.rstrip("/")
    http = (
        f"curl -s {base}/tables/{name}/lookup -H 'Content-Type: application/json' \\\n"
        f'  -d \'{{"keys": ["{key}"]{entity_json}}}\'\n'
        f"curl -s {base}/tables/{name}/neighbors -H 'Content-Type: application/json' \\\n"
        f'  -d \'{{"key": "{key}", "k": 10{entity_json}}}\''
    )
    return [
        {"id": "python", "title": "Python", "code": python},
        {"id": "cli", "title": "Command line", "code": cli},
        {"id": "http", "title": "HTTP", "code": http},
    ]


def _script_json(data: dict[str, Any]) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- explorer ----------------------------------------------------------------------------


def explore_page(
    service: Service,
    name: str,
    key: str | None,
    entity: str | None,
    target: str | None,
    k: int,
    version: str | None,
    result: Any,
    error: str | None,
) -> dict[str, Any]:
    bank = service.bank
    shown = bank.show(name)
    table = shown.table
    versions = bank.versions(name)
    stored = stored_map_at(bank, name, table.latest_version or 0)
    if stored is not None:
        example = _example_key(stored, table)[1]
    else:
        first = keys_with_prefix(service.embedding(name), "", limit=1)
        example = first[0].key if first else "KEY"
    neighbours = None
    if result is not None:
        best = max((abs(n.score) for n in result.neighbors), default=1.0) or 1.0
        neighbours = {
            "table": result.table,
            "version": result.version,
            "key": result.key,
            "neighbors": [
                {
                    "key": n.key,
                    "entity": n.entity,
                    "score": n.score,
                    "bar": max(2, round(80 * max(n.score, 0.0) / best)),
                    "query": urlencode(
                        {
                            k_: v_
                            for k_, v_ in (
                                ("key", n.key),
                                ("entity", n.entity if len(table.entities) > 1 else None),
                                ("target", target),
                                ("v", version),
                            )
                            if v_
                        }
                    ),
                }
                for n in result.neighbors
            ],
        }
    return {
        "nav": "table",
        "table": table,
        "versions": versions,
        "table_url": table_url(name),
        "api": f"/tables/{name}",
        "key": key,
        "entity": entity or table.entities[0],
        "target": target,
        "k": k,
        "version_ref": version or "",
        "example_key": example,
        "result": neighbours,
        "error": error,
    }


# -- compare -----------------------------------------------------------------------------


def default_pair(service: Service, table: str | None = None) -> tuple[str, str] | None:
    """What the compare page shows first: the latest two versions of ``table`` (else of
    the first table that has two), else the latest versions of the first two tables."""
    tables = service.bank.tables()
    if table is not None:
        tables = [t for t in tables if t.name == table] or tables
    for info in tables:
        if info.n_versions >= 2 and info.latest_version:
            numbers = [v.number for v in service.bank.versions(info.name)]
            return f"{info.name}@{numbers[-2]}", f"{info.name}@{numbers[-1]}"
    if len(tables) >= 2:
        return f"{tables[0].name}@{LATEST}", f"{tables[1].name}@{LATEST}"
    return None


def compare_page(service: Service, a: str | None, b: str | None) -> dict[str, Any]:
    bank = service.bank
    choices = []
    for info in bank.tables():
        choices.append(
            {
                "table": info.name,
                "versions": [
                    {
                        "ref": f"{info.name}@{v.number}",
                        "text": f"{info.name}@{v.number}"
                        + (f" ({', '.join(v.aliases)})" if v.aliases else ""),
                    }
                    for v in reversed(bank.versions(info.name))
                ],
            }
        )
    context: dict[str, Any] = {
        "nav": "compare",
        "choices": choices,
        "pickers": [
            {"name": "a", "label": "Base (A)", "value": _pinned(service, a)},
            {"name": "b", "label": "Compared (B)", "value": _pinned(service, b)},
        ],
        "result": None,
        "error": None,
        "overlap": None,
        "diff": None,
        "same_table": None,
    }
    if not a or not b:
        return context
    result = compare_versions(bank, [a, b], all_figures=True)
    context.update(_compare_sections(service, result))
    first, second = result.refs
    context["same_table"] = first.table == second.table
    if context["same_table"]:
        overlap = service.memo(
            f"overlap:{first.table}:{first.version}:{second.version}",
            partial(_overlap, service, first.table, first.version, second.version),
        )
        context["overlap"] = overlap
        context["hist"] = _histogram(overlap)
        # the API's diff, from the same per-version cache: one measurement serves both
        diff = served_diff(
            service, f"{first.table}@{first.version}", f"{second.table}@{second.version}"
        )
        context["diff"] = diff_section(diff)
    return context


def _pinned(service: Service, ref: str | None) -> str | None:
    """``NAME@N`` for any reference (aliases resolve), so the pickers show the choice."""
    if not ref:
        return None
    try:
        return service.bank.resolve(ref).ref
    except EmbankError:  # the comparison below says what is wrong with it
        return ref


def _overlap(service: Service, name: str, a: int, b: int) -> NeighbourOverlap:
    return neighbour_overlap(service.embedding(name, a), service.embedding(name, b))


def _histogram(overlap: NeighbourOverlap) -> dict[str, Any]:
    width, height, gap = 440, 150, 6
    n_bars = len(overlap.histogram)
    bar_w = (width - gap * (n_bars + 1)) / n_bars
    tallest = max(overlap.histogram) or 1
    usable = height - 36
    bars = []
    for kept, n in enumerate(overlap.histogram):
        h = usable * n / tallest
        bars.append(
            {
                "kept": kept,
                "n": n,
                "x": round(gap + kept * (bar_w + gap), 1),
                "w": round(bar_w, 1),
                "h": round(h, 1),
                "y": round(height - 20 - h, 1),
            }
        )
    return {"width": width, "height": height, "bars": bars}


def _compare_sections(service: Service, result: CompareResult) -> dict[str, Any]:
    labels = [short_name(ref, result.refs) for ref in result.refs]
    refs = [
        {
            "info": ref,
            "label": label,
            "url": f"{table_url(ref.table)}?v={ref.version}",
            "color": PALETTE[i % len(PALETTE)],
            "created": f"{ref.created_at:%Y-%m-%d %H:%M} UTC",
            "params": [
                {
                    "text": f"{k}={v if isinstance(v, str) else json.dumps(v)}",
                    "differs": i > 0 and result.refs[0].params.get(k, object()) != v,
                }
                for k, v in ref.params.items()
            ],
        }
        for i, (ref, label) in enumerate(zip(result.refs, labels, strict=True))
    ]
    tasks: dict[str, list[CompareFigure]] = {}
    for figure in result.figures:
        tasks.setdefault(figure.task, []).append(figure)
    sections = []
    for i, (task, figures) in enumerate(tasks.items()):
        key = json.dumps([labels, [f.model_dump() for f in figures]], default=str)
        svg = service.memo(
            f"chart:{key}", partial(task_chart_svg, figures, labels, f"c-{i}", f"{task} compared")
        )
        rows = []
        for f in figures:
            cells = [
                {
                    "value": None if value is None else format_value(value),
                    "delta": format_delta(f.deltas[j], f.delta_pcts[j])
                    if j and f.deltas[j] is not None
                    else "",
                    "direction": _DIRECTION[direction(f, f.deltas[j])],
                }
                for j, value in enumerate(f.values)
            ]
            task_name, _, metric = f.figure.partition(".")
            rows.append(
                {
                    "figure": f.figure,
                    "task": task_name,
                    "metric": metric,
                    "cells": cells,
                    "delta": f.deltas[-1],
                    "baseline": _baseline_text(f.baselines),
                }
            )
        sections.append(
            {
                "name": task,
                "svg": svg,
                "rows": rows,
                "baseline_name": next((f.baseline_name for f in figures if f.baseline_name), None),
            }
        )
    return {"result": result, "refs": refs, "tasks": sections}
