"""``embank foldin``: vectors for new keys between refreshes, published as a patch.

A thin shell over :func:`embank.refresh.foldin`; registered on the ``embank`` app when
:mod:`embank.cli` is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import render
from .app import BankOption, JsonOption, _bank, app

__all__ = ["foldin"]


@app.command()
def foldin(
    name: Annotated[str, typer.Argument(help="The table (its latest version is patched).")],
    since: Annotated[
        str | None,
        typer.Option(
            help="ISO date or time the new keys arrived after: bound to $since in the spec's "
            "SQL and recorded; default: when the latest version was published."
        ),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(help="Spec YAML to select the data with; default: the one stored."),
    ] = None,
    min_support: Annotated[
        int,
        typer.Option(min=1, help="Fewest links to keys with a vector a new key needs to get one."),
    ] = 1,  # embank.refresh.foldin.DEFAULT_MIN_SUPPORT, not imported: it loads selection
    as_of: Annotated[
        str | None, typer.Option(help="Logical date bound to $as_of in the spec's SQL.")
    ] = None,
    benchmarks: Annotated[
        bool, typer.Option(help="Run the spec's benchmarks on the patch (its stored figures).")
    ] = True,
    force: Annotated[bool, typer.Option(help="Publish even when a gate fails.")] = False,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Give vectors to keys the latest version lacks, without a refit: a patch version in
    the same space, every previous row unchanged."""
    from embank.refresh.foldin import foldin as fold

    target = _bank(bank)
    with render.RichProgress(enabled=not json_) as progress:
        result = fold(
            target,
            name,
            since=since,
            spec=spec,
            min_support=min_support,
            as_of=as_of,
            run_benchmarks=benchmarks,
            force=force,
            progress=progress,
        )
    body = result.to_dict()
    if json_:
        render.print_json(body)
        return
    skipped = f"; {body['skipped']} new key(s) below min support {min_support} got none"
    if not result.published:
        render.out.print(
            f"nothing to fold into {name}@{result.parent}" + (skipped if body["skipped"] else ""),
            markup=False,
        )
        return
    by_entity = ", ".join(f"{n} {e}" for e, n in body["folded_by_entity"].items())
    render.out.print(
        f"published {name}@{body['version']}, a patch of @{result.parent} in its space: "
        f"{body['folded']} key(s) folded in ({by_entity})" + (skipped if body["skipped"] else ""),
        markup=False,
    )
    for figure, value in body["benchmarks"].items():
        render.out.print(f"  {figure} {value:.4f}", markup=False)
