"""``embank refresh`` and ``embank diff``: keep a table fresh in its space, and see how far
two versions are apart.

Thin shells over :func:`embank.pipeline.refresh.refresh_table`,
:func:`embank.refresh.schedule.due_tables` and :func:`embank.refresh.diff.diff_versions`;
registered on the ``embank`` app when :mod:`embank.cli` is imported.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from embank.errors import EmbankError, UsageError

from . import render
from .app import BankOption, JsonOption, _bank, app
from .drift_view import drift_table

__all__ = ["diff", "refresh"]


def _as_of(text: str | None) -> dt.date | dt.datetime | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--as-of {text!r} is not a date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]"
        ) from None


@app.command()
def refresh(
    name: Annotated[
        str | None, typer.Argument(help="The table, namespace/name (omit with --due).")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="Use this spec instead of the one stored with the table."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a field of --spec, e.g. refresh.warm_start=true."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Logical date of the refresh (YYYY-MM-DD), bound to $as_of in SQL."),
    ] = None,
    new_space: Annotated[
        bool,
        typer.Option(help="Publish even when drift gates fail, in a new space (audited)."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(help="Refit when nothing changed; publish past failed benchmark gates."),
    ] = False,
    cold: Annotated[bool, typer.Option(help="Fit without warm start.")] = False,
    due: Annotated[
        bool, typer.Option(help="Refresh every table whose refresh.schedule is due.")
    ] = False,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Make the next version of NAME on the current data: warm start, align, measure drift,
    keep the space when the drift gates pass; publish nothing when nothing changed."""
    from embank.pipeline.refresh import refresh_table
    from embank.spec.load import load_spec

    if due == (name is not None):
        raise UsageError("name one table to refresh, or pass --due (not both)")
    if due and spec is not None:
        raise UsageError("--spec names one table's spec: it does not go with --due")
    when = _as_of(as_of)
    loaded = load_spec(spec, set_ or []) if spec is not None else None
    if set_ and spec is None:
        raise UsageError("--set overrides fields of --spec FILE; pass the spec too")
    target = _bank(bank, create=spec is not None)
    if not due:
        assert name is not None
        with render.RichProgress(enabled=not json_) as progress:
            result = refresh_table(
                target,
                name,
                spec=loaded,
                as_of=when,
                new_space=new_space,
                force=force,
                cold=cold,
                progress=progress,
            )
        if json_:
            render.print_json(result.to_dict())
        else:
            _print_result(result)
        return
    _refresh_due(target, when, new_space, force, cold, json_)


def _refresh_due(
    target: Any, when: Any, new_space: bool, force: bool, cold: bool, json_: bool
) -> None:
    from embank.pipeline.refresh import refresh_table
    from embank.refresh.schedule import due_tables

    found = due_tables(target)
    if not json_:
        render.out.print(
            f"{len(found)} table(s) due: {', '.join(d.name for d in found) or '-'}", markup=False
        )
    outcomes: list[dict[str, Any]] = []
    exit_code = 0
    for item in found:
        try:
            with render.RichProgress(enabled=not json_) as progress:
                result = refresh_table(
                    target,
                    item.name,
                    as_of=when,
                    new_space=new_space,
                    force=force,
                    cold=cold,
                    progress=progress,
                )
        except EmbankError as exc:
            # one table's failure must not starve the others of their refresh
            exit_code = exit_code or exc.exit_code
            outcomes.append({"table": item.name, "outcome": "failed", "error": str(exc)})
            if not json_:
                render.err.print(f"[red]error:[/red] {item.name}: {exc}", soft_wrap=True)
            continue
        outcomes.append(result.to_dict())
        if not json_:
            _print_result(result)
    if json_:
        render.print_json({"due": [d.name for d in found], "refreshes": outcomes})
    if exit_code:
        raise typer.Exit(exit_code)


def _print_result(result: Any) -> None:
    render.out.print(result.message, markup=False, soft_wrap=True)
    for outcome in result.gates:
        render.out.print(f"gate {outcome.message}", markup=False)
    for outcome in result.drift_gates:
        render.out.print(f"drift gate {outcome.message}", markup=False)
    if result.alignment is not None:
        a = result.alignment
        render.out.print(
            f"aligned on {a.n_keys} of {a.n_shared} shared keys: residual "
            f"{a.residual_before:.4f} -> {a.residual_after:.4f}",
            markup=False,
        )
    if result.drift is not None:
        render.out.print(
            drift_table(result.drift.figures, (result.seed_floor or {}).get("figures"))
        )
    if result.timings_s:
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings_s.items())
        render.out.print(f"[dim]{timings}[/dim]")


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="The base version: NAME, NAME@VERSION, NAME@ALIAS.")],
    b: Annotated[str, typer.Argument(help="The version to measure against it.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="Neighbours.")] = 10,
    n_queries: Annotated[
        int, typer.Option(min=1, help="Shared keys whose neighbours are compared.")
    ] = 2000,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Key coverage and drift between two versions (of one table or of two): overlap@10,
    aligned cosine drift, Procrustes residual, eigenspace overlap."""
    from embank.refresh.diff import diff_versions

    result = diff_versions(_bank(bank), a, b, k=k, n_queries=n_queries)
    if json_:
        render.print_json(result)
        return
    space = "same space" if result.same_space else "different spaces"
    render.out.print(
        f"[bold]{result.b.table}@{result.b.version}[/bold] against "
        f"[bold]{result.a.table}@{result.a.version}[/bold] ({space}, {result.metric})"
    )
    render.out.print(drift_table(result.figures))
