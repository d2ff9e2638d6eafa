"""The ``embank`` command: a thin shell over the Python API.

Every command that touches a bank takes ``--bank`` after the command name; errors are one
line on stderr with the exit code of their class (errors.py); ``--json`` prints the same
models the HTTP API returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from embank.errors import EmbankError, UsageError
from embank.store.bank import Bank, open_bank
from embank.store.export import EXPORT_FORMATS

from . import render


class _Group(TyperGroup):
    """Turns embank's errors into one line and an exit code, for every command."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EmbankError as exc:
            render.err.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            render.err.print("interrupted; the bank is as it was before this command")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Group,
    help="embank: learn, check, share and serve embeddings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

BankOption = Annotated[
    str | None,
    typer.Option(
        "--bank",
        help="Bank folder or registry URL (sqlite:///…, postgresql://…); "
        "else $EMBANK_BANK, ./embank.toml, then ./bank.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _bank(bank: str | None, create: bool = False) -> Bank:
    return open_bank(bank, create=create)


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="The spec YAML of the table to make a version of.")],
    bank: BankOption = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a spec field, e.g. --set algorithm.params.dim=64."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Publish even when a gate fails.")] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Select, fit and benchmark; publish nothing.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Select, fit, benchmark, gate and publish one version of SPEC's table."""
    from embank.pipeline import run_spec
    from embank.spec.load import load_spec

    loaded = load_spec(spec, set_ or [])
    target = None if dry_run else _bank(bank, create=True)
    with render.RichProgress(enabled=not json_) as progress:
        result = run_spec(loaded, target, progress, force=force)
    if json_:
        if result.embedding is not None:
            render.print_json(target.show(f"{result.table}@{result.embedding.version}"))  # type: ignore[union-attr]
        else:
            render.print_json(
                {"table": result.table, "published": False, "timings_s": result.timings_s}
            )
        return
    for outcome in result.gates:
        render.out.print(f"gate {outcome.message}", markup=False)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings_s.items())
    if result.embedding is None:
        render.out.print(f"dry run: {result.table} not published ({timings})")
        return
    render.out.print(
        f"published [bold]{result.table}@{result.embedding.version}[/bold] "
        f"({result.vectors.n_rows} rows, dim {result.vectors.dim}; {timings})"
    )
    render.show(target.show(f"{result.table}@{result.embedding.version}"))  # type: ignore[union-attr]


@app.command()
def benchmark(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS of the version.")],
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            help="Run only this task (repeatable); a task the spec lacks runs with its defaults.",
        ),
    ] = None,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Re-run a version's benchmarks on its stored vectors and inputs; store the figures."""
    from embank.pipeline.benchmark import benchmark_version

    target = _bank(bank)
    with render.RichProgress(enabled=not json_) as progress:
        result = benchmark_version(target, ref, task, progress)
    if json_:
        render.print_json(result)
        return
    render.out.print(
        f"benchmarked [bold]{result.table}@{result.version}[/bold] from its stored inputs "
        f"(run {result.run}: {', '.join(result.tasks)})"
    )
    render.out.print(render.benchmark_table(result))


@app.command()
def compare(
    refs: Annotated[
        list[str],
        typer.Argument(help="Two or more of NAME, NAME@VERSION, NAME@ALIAS; first is the base."),
    ],
    all_: Annotated[
        bool, typer.Option("--all", help="Every figure of any ref, not only the shared ones.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML report with charts here."),
    ] = None,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Compare the benchmark figures of versions of one table or of several."""
    from embank.report.compare import compare_versions

    result = compare_versions(_bank(bank), refs, all_figures=all_)
    if html is not None:
        from embank.report.html import write_compare_html

        written = write_compare_html(result, html)
        if not json_:
            render.out.print(f"wrote {written}", markup=False)
    if json_:
        render.print_json(result)
    else:
        render.compare(result)


@app.command("ls")
def ls_(bank: BankOption = None, json_: JsonOption = False) -> None:
    """List the bank's tables, with each one's age and last refresh."""
    from embank.store.freshness import with_freshness

    target = _bank(bank)
    rows = with_freshness(target, target.tables())
    if json_:
        render.print_json(rows)
    elif not rows:
        render.out.print("the bank holds no tables yet")
    else:
        render.out.print(render.tables_table(rows))


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Show a version: table, lineage, benchmark figures."""
    result = _bank(bank).show(ref)
    if json_:
        render.print_json(result)
    else:
        render.show(result)


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="Words in a name, description, owner or tag.")],
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Find tables by name, description, owner or tag."""
    from embank.store.freshness import with_freshness

    target = _bank(bank)
    rows = with_freshness(target, target.search(text))
    if json_:
        render.print_json(rows)
    elif not rows:
        render.out.print(f"no table matches {text!r}", markup=False)
    else:
        render.out.print(render.tables_table(rows))


@app.command()
def neighbors(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    key: Annotated[str, typer.Argument(help="The key to find neighbours of.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=10_000, help="How many.")] = 10,
    entity: Annotated[str | None, typer.Option(help="Entity type of KEY.")] = None,
    target: Annotated[str | None, typer.Option(help="Only neighbours of this entity type.")] = None,
    relation: Annotated[
        str | None,
        typer.Option(help="Through this relation's operator (a multi-relation table)."),
    ] = None,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """The K nearest neighbours of KEY (through the version's saved index once built)."""
    embedding = _bank(bank).get(ref)
    found = embedding.neighbors(key, k=k, entity=entity, target=target, relation=relation)
    if json_:
        render.print_json(
            {
                "table": embedding.name,
                "version": embedding.version,
                "space_id": embedding.space_id,
                "key": key,
                "neighbors": [n.model_dump() for n in found],
            }
        )
        return
    render.out.print(
        f"neighbours of {key!r} in {embedding.name}@{embedding.version} ({embedding.metric}):",
        markup=False,
    )
    for rank, n in enumerate(found, 1):
        render.out.print(f"{rank:>4}  {n.entity}:{n.key}  {n.score:.4f}", markup=False)


@app.command()
def export(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    format_: Annotated[str, typer.Option("--format", help=", ".join(EXPORT_FORMATS) + ".")],
    out: Annotated[
        Path, typer.Option(help="File (parquet, w2v) or folder (npy, projector) to write.")
    ],
    bank: BankOption = None,
) -> None:
    """Write a version's vectors to a file other tools read."""
    from embank.store.export import export as do_export

    written = do_export(_bank(bank).get(ref), format_, out)
    for path in written:
        render.out.print(f"wrote {path}", markup=False)


@app.command()
def gc(
    bank: BankOption = None,
    min_age_s: Annotated[float, typer.Option(help="Only folders older than this.")] = 3600.0,
    dry_run: Annotated[bool, typer.Option(help="List what would go; delete nothing.")] = False,
) -> None:
    """Delete leftovers of failed publishes (unreferenced folders, S3 prefixes and Redis
    key spaces older than an hour)."""
    removed = _bank(bank).gc(min_age_s=min_age_s, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    render.out.print(f"{verb} {len(removed)} leftover(s)")
    for path in removed:
        render.out.print(f"  {path}", markup=False)


@app.command()
def migrate(bank: BankOption = None) -> None:
    """Bring the bank's registry schema to this embank's version."""
    from embank.store.location import resolve_location
    from embank.store.registry import Registry

    location = resolve_location(bank)
    registry = Registry(location.registry_url)
    try:
        if not registry.exists():
            raise UsageError(f"no bank at {location.label}")
        revision = registry.migrate()
    finally:
        registry.close()
    render.out.print(f"registry schema at {revision}")


@app.command()
def quickstart(
    bank: BankOption = None,
    data: Annotated[Path, typer.Option(help="Folder for the synthetic data and its spec.")] = Path(
        "quickstart-data"
    ),
    json_: JsonOption = False,
) -> None:
    """Make a synthetic social graph, run the whole pipeline on it, and query the result."""
    from embank.pipeline import run_spec
    from embank.quickstart import write_quickstart
    from embank.spec.load import load_spec

    spec_path = write_quickstart(data)
    target = _bank(bank, create=True)
    with render.RichProgress(enabled=not json_) as progress:
        result = run_spec(load_spec(spec_path), target, progress)
    assert result.embedding is not None
    embedding = result.embedding
    shown = target.show(f"{embedding.name}@{embedding.version}")
    probe = str(embedding.keys[0])
    found = embedding.neighbors(probe, k=5)
    if json_:
        render.print_json(
            {
                "show": shown.model_dump(mode="json"),
                "query": probe,
                "neighbors": [n.model_dump() for n in found],
            }
        )
        return
    render.out.print(f"wrote synthetic data and spec to {data}/ ({spec_path.name})", markup=False)
    render.out.print(
        f"published [bold]{embedding.name}@{embedding.version}[/bold] into {target.location.label}"
    )
    render.show(shown)
    render.out.print(f"neighbours of {probe!r} (same community is the hope):", markup=False)
    labels = result.dataset.labels.label_sets() if result.dataset.labels else {}
    for n in found:
        render.out.print(
            f"  {n.key:<8} {n.score:.4f}  communities {labels.get(n.key, [])}", markup=False
        )
    render.out.print(f"  (query {probe} is in {labels.get(probe, [])})", markup=False)
    render.out.print(f"next: embank ls --bank {target.location.label}", markup=False)


from embank.cli.serve import serve  # noqa: E402  (its own module: the HTTP server)

app.command()(serve)
