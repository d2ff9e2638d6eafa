"""Table administration and bank health on the command line: ``edit``, ``alias``,
``deprecate``, ``undeprecate``, ``check``, ``online rebuild`` and ``cache``.

Thin shells over :mod:`embank.store.admin` and :mod:`embank.store.integrity`; registered
on the ``embank`` app when :mod:`embank.cli` is imported. Errors end as every command's do:
one line, the exit code of their class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from embank.errors import UsageError
from embank.names import parse_ref
from embank.store import integrity
from embank.store.admin import check_movable_alias
from embank.store.backends.cache import cached_versions, max_cache_bytes, parse_size

from . import render
from .app import BankOption, JsonOption, _bank, app

__all__ = ["cache", "online"]

online = typer.Typer(
    help="The online store (embedded files or Redis): rebuild it from the offline files.",
    no_args_is_help=True,
)
app.add_typer(online, name="online")

cache = typer.Typer(
    help="The local copies of a remote (S3) bank's versions: list and prune them.",
    no_args_is_help=True,
)
app.add_typer(cache, name="cache")


def _versioned(ref: str, what: str) -> str:
    """``ref`` with an explicit ``@VERSION`` or ``@ALIAS`` (a bare name is refused: too easy
    to mistype for the command's other form)."""
    parse_ref(ref)
    if "@" not in ref:
        raise UsageError(f"say which version to {what}: {ref}@VERSION (or {ref}@ALIAS)")
    return ref


@app.command()
def edit(
    name: Annotated[str, typer.Argument(help="The table, namespace/name.")],
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    owner: Annotated[str | None, typer.Option(help="New owner (team or person).")] = None,
    add_tag: Annotated[
        list[str] | None, typer.Option("--add-tag", help="Add a tag (repeatable).")
    ] = None,
    remove_tag: Annotated[
        list[str] | None, typer.Option("--remove-tag", help="Remove a tag (repeatable).")
    ] = None,
    entities: Annotated[
        str | None,
        typer.Option(
            help="Declared entity types, comma-separated (e.g. user,item); must cover "
            "every entity type a version holds."
        ),
    ] = None,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Change a table's description, owner, tags or entity types (never a version)."""
    declared = None if entities is None else [e.strip() for e in entities.split(",") if e]
    result = _bank(bank).edit(
        name,
        description=description,
        owner=owner,
        add_tags=add_tag or [],
        remove_tags=remove_tag or [],
        entities=declared,
    )
    if json_:
        render.print_json(result)
    elif not result.changes:
        render.out.print(f"{name}: nothing changed", markup=False)
    else:
        for field, change in result.changes.items():
            render.out.print(
                f"{name}: {field} {change['before']!r} -> {change['after']!r}", markup=False
            )


@app.command()
def alias(
    ref: Annotated[
        str,
        typer.Argument(
            help="NAME@VERSION (or NAME@ALIAS) to point the alias at; NAME with --delete."
        ),
    ],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias, e.g. production.")],
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Set or move an alias (not 'latest': publish moves it), or delete one."""
    check_movable_alias(alias_name)
    target = _bank(bank)
    if delete:
        parsed = parse_ref(ref)
        if "@" in ref:
            raise UsageError(f"--delete takes the table name alone: {parsed.table} {alias_name}")
        result = target.delete_alias(parsed.table, alias_name)
        message = f"deleted alias {alias_name} of {result.table} (it pointed to {result.previous})"
    else:
        result = target.set_alias(_versioned(ref, "point the alias at"), alias_name)
        if not result.changed:
            message = f"{result.table}@{alias_name} already points to {result.version}"
        elif result.previous is None:
            message = f"{result.table}@{alias_name} -> {result.version} (new alias)"
        else:
            message = f"{result.table}@{alias_name} -> {result.version} (was {result.previous})"
    if json_:
        render.print_json(result)
    else:
        render.out.print(message, markup=False)


@app.command()
def deprecate(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME@ALIAS) to deprecate.")],
    reason: Annotated[
        str | None, typer.Option(help="Why; shown by `show` and in the warning on reads.")
    ] = None,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Mark a version deprecated: it still reads (with a warning); aliases stay."""
    target = _bank(bank)
    result = target.deprecate(_versioned(ref, "deprecate"), reason=reason)
    if json_:
        render.print_json(result)
        return
    head = f"{result.table}@{result.version}"
    if not result.changed:
        render.out.print(f"{head} was deprecated already", markup=False)
    else:
        reason = f": {result.reason}" if result.reason else ""
        render.out.print(f"deprecated {head}{reason}", markup=False)
    if result.aliases:
        pointing = ", ".join(result.aliases)
        render.out.print(f"  still pointing at it: {pointing}", markup=False)
        if "latest" in result.aliases:
            render.out.print(
                "  'latest' moves only when a newer version is published", markup=False
            )


@app.command()
def undeprecate(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME@ALIAS) to make active.")],
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Mark a deprecated version active again."""
    result = _bank(bank).undeprecate(_versioned(ref, "undeprecate"))
    if json_:
        render.print_json(result)
    elif result.changed:
        render.out.print(f"{result.table}@{result.version} is active again", markup=False)
    else:
        render.out.print(f"{result.table}@{result.version} was active already", markup=False)


@app.command()
def check(
    bank: BankOption = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Registry and listings only: no checksums, no online comparison."
        ),
    ] = False,
    sample: Annotated[
        int, typer.Option(min=0, help="Keys per version compared between online and offline.")
    ] = 100,
    json_: JsonOption = False,
) -> None:
    """Check the registry against the version files and the online store; exit 1 on a problem."""
    result = _bank(bank).check(deep=not quick, sample=sample)
    if json_:
        render.print_json(result)
    else:
        verdict = (
            "[green]OK[/green]" if result.ok else f"[red]{len(result.problems)} problem(s)[/red]"
        )
        render.out.print(
            f"{verdict}: {result.n_tables} table(s), {result.n_versions} version(s)"
            + (" (quick)" if quick else "")
        )
        for problem in result.problems:
            where = problem.table or "bank"
            if problem.version is not None:
                where += f"@{problem.version}"
            render.out.print(f"  {escape(where)}: {escape(problem.problem)}", soft_wrap=True)
        if result.leftovers:
            render.out.print(
                f"{len(result.leftovers)} leftover(s) of failed or running publishes "
                "(`embank gc` removes them after an hour, or with --min-age-s 0):"
            )
            for leftover in result.leftovers:
                render.out.print(f"  {leftover}", markup=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


@online.command("rebuild")
def rebuild(
    ref: Annotated[str, typer.Argument(help="NAME (latest), NAME@VERSION or NAME@ALIAS.")],
    all_versions: Annotated[
        bool, typer.Option("--all", help="Every version of the table, not one.")
    ] = False,
    sample: Annotated[
        int,
        typer.Option(min=0, help="Keys per version compared with vectors.parquet afterwards."),
    ] = 1000,
    bank: BankOption = None,
    json_: JsonOption = False,
) -> None:
    """Write versions into the online store again from their offline files."""
    target = _bank(bank)
    with render.RichProgress(enabled=not json_) as progress:
        result = integrity.rebuild_online(
            target, ref, all_versions=all_versions, progress=progress, sample=sample
        )
    if json_:
        render.print_json(result)
        return
    render.out.print(
        f"rebuilt {result.table}@{', '.join(map(str, result.versions))} in {result.online}: "
        f"{result.n_rows} rows; {result.n_compared} sampled keys equal vectors.parquet",
        markup=False,
    )


def _cache_root(bank: str | None) -> tuple[Any, Path]:
    target = _bank(bank)
    root = getattr(target.offline, "cache", None)
    if root is None:
        raise UsageError(
            "this bank keeps its versions on a local disk and reads them in place: "
            "there is no cache to show or prune"
        )
    return target.offline, Path(root)


@cache.command("ls")
def cache_ls(bank: BankOption = None, json_: JsonOption = False) -> None:
    """The cached version copies, least recently used first, and their total size."""
    _, root = _cache_root(bank)
    versions = cached_versions(root)
    total = sum(v.n_bytes for v in versions)
    if json_:
        render.print_json(
            {
                "cache": str(root),
                "n_bytes": total,
                "max_bytes": max_cache_bytes(),
                "versions": [
                    {"path": str(v.path), "n_bytes": v.n_bytes, "last_used": v.last_used}
                    for v in versions
                ],
            }
        )
        return
    bound = max_cache_bytes()
    render.out.print(
        f"{root}: {len(versions)} version(s), {_size(total)}"
        + (f" of at most {_size(bound)}" if bound is not None else " (no bound set)"),
        markup=False,
    )
    for version in versions:
        render.out.print(f"  {_size(version.n_bytes):>9}  {version.path}", markup=False)


@cache.command("prune")
def cache_prune(
    max_size: Annotated[
        str | None,
        typer.Option(help="Keep at most this much (e.g. 20G); default $EMBANK_CACHE_MAX_BYTES."),
    ] = None,
    bank: BankOption = None,
) -> None:
    """Remove least recently used version copies until the cache fits; they download again
    when next read."""
    offline, _ = _cache_root(bank)
    limit = parse_size(max_size) if max_size is not None else max_cache_bytes()
    if limit is None:
        raise UsageError("say how much to keep: --max-size 20G, or set EMBANK_CACHE_MAX_BYTES")
    removed = offline.prune_cache(limit)
    freed = sum(v.n_bytes for v in removed)
    render.out.print(f"removed {len(removed)} cached version(s), {_size(freed)}", markup=False)


def _size(n_bytes: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"
