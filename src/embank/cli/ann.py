"""Nearest-neighbour work on the command line: ``index`` (build a version's saved index)
and ``candidates`` (top-k for every source key, into Parquet).

Thin shells over :mod:`embank.ann.stored` and :mod:`embank.ann.candidates`; registered on
the ``embank`` app when :mod:`embank.cli` is imported. Errors end as every command's do:
one line, the exit code of their class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from embank.ann.stored import INDEX_KINDS

from . import render
from .app import BankOption, JsonOption, _bank, app

__all__ = ["candidates", "index"]

_KINDS = [k for k in INDEX_KINDS if k != "none"]


@app.command()
def index(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    kind: Annotated[
        str, typer.Option(help=f"Index kind: {', '.join(_KINDS)} (auto: exact when small).")
    ] = "auto",
    recall_target: Annotated[
        float,
        typer.Option(min=0.01, max=1.0, help="Recall@10 against exact search to tune for."),
    ] = 0.95,
    n_queries: Annotated[
        int, typer.Option(min=10, help="Rows sampled as queries to measure recall.")
    ] = 1000,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Build (or rebuild) the nearest-neighbour index of a version and print its report."""
    from embank.ann.stored import build_version_index

    target = _bank(bank)
    embedding = target.get(ref)
    with render.RichProgress(enabled=not json_) as progress:
        meta = build_version_index(
            target,
            embedding,
            kind=kind,
            recall_target=recall_target,
            n_queries=n_queries,
            progress=progress,
        )
    if json_:
        render.print_json({"table": embedding.name, "version": embedding.version, **meta})
        return
    render.out.print(
        f"index of [bold]{embedding.name}@{embedding.version}[/bold]: {meta['kind']}, "
        f"{embedding.metric}, recall@10 {meta['recall_at_10']:.4f} "
        f"(target {meta['recall_target']}), built in {meta['build_s']:.1f}s"
    )
    table = Table("entity", "kind", "rows", "ef/nprobe", "recall@10", "reached", "ms/query")
    for entity, info in meta["entities"].items():
        report = info["report"]
        knob = report["ef"] if report["ef"] is not None else report["nprobe"]
        table.add_row(
            entity,
            report["kind"],
            f"{report['n_rows']:,}",
            "-" if knob is None else str(knob),
            f"{report['recall_at_10']:.4f}",
            "yes" if report["reached_target"] else "NO",
            f"{report['query_ms']:.3f}",
        )
    render.out.print(table)


@app.command()
def candidates(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    out: Annotated[Path, typer.Option("--out", help="The Parquet file to write.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Entity type of the sources (e.g. user).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Entity type of the candidates (e.g. item).")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=10_000, help="Per source.")] = 100,
    keys: Annotated[
        Path | None, typer.Option(help="A file of source keys, one a line; default: all.")
    ] = None,
    exclude_seen: Annotated[
        str | None,
        typer.Option(
            help="Pairs never to propose: a Parquet/CSV/TSV of (source, target), or "
            "'stored' for the interactions the version was fitted on."
        ),
    ] = None,
    chunk: Annotated[int, typer.Option(min=1, help="Sources searched per batch.")] = 4096,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Threads; default: every core.")
    ] = None,
    exact: Annotated[bool, typer.Option(help="Exact search, ignoring the saved index.")] = False,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Top-K candidates of every source key (or those in --keys), written as Parquet
    (source, rank, target, score)."""
    from embank.ann.candidates import candidates as run_candidates
    from embank.ann.candidates import read_pairs, stored_pairs

    embedding = _bank(bank).get(ref)
    source = embedding._entity_of(from_)
    target = embedding._entity_of(to) if to is not None else source
    listed = None
    if keys is not None:
        listed = [line.strip() for line in keys.read_text().splitlines() if line.strip()]
    pairs = None
    if exclude_seen == "stored":
        pairs = stored_pairs(embedding, source, target)
    elif exclude_seen is not None:
        pairs = read_pairs(exclude_seen)
    with render.RichProgress(enabled=not json_) as progress:
        report = run_candidates(
            embedding,
            source,
            target,
            k,
            out=out,
            keys=listed,
            exclude=pairs,
            chunk=chunk,
            n_threads=threads,
            exact=exact,
            progress=progress,
        )
    if json_:
        render.print_json(report.__dict__)
        return
    render.out.print(
        f"wrote {report.n_rows:,} candidates ({report.n_sources:,} {source} keys x top-{k} "
        f"{target}, {report.index} search) to {report.path} in {report.seconds:.1f}s",
        markup=False,
    )
    if report.n_unknown_keys:
        render.out.print(
            f"{report.n_unknown_keys:,} listed key(s) are not in "
            f"{embedding.name}@{embedding.version} and were skipped",
            markup=False,
        )
