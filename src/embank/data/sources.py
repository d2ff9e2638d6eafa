"""Read one source of the spec's data sections into an Arrow table, with DuckDB.

A source is a file or glob (``path:``: CSV / TSV / Parquet / JSON, gzip too, or a MATLAB
``.mat`` matrix) or a DuckDB query (``sql:``). Relative paths, in ``path:`` and inside the
query, resolve against the spec's folder, never the working directory. Key columns
(``src``, ``dst``, ``key``) come back as text, integer ids as decimal text; ``label`` as
text; ``weight`` as float64. Every problem is a one-line :class:`DataError` that names
the spec field (``data.edges``, ``data.labels``).
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from embank.data.matfile import read_mat
from embank.data.sql_files import anchor_query, sql_literal
from embank.errors import DataError, InvalidNameError
from embank.names import MAX_KEY_BYTES, check_key
from embank.spec.models import (
    EdgesSource,
    LabelsSource,
    PairsSource,
    TableSource,
    TextSource,
)

__all__ = [
    "Source",
    "file_fingerprints",
    "read_source",
    "section",
    "source_files",
    "source_format",
    "source_lineage",
]

Source = EdgesSource | LabelsSource | PairsSource | TextSource | TableSource

KEY_COLUMNS = frozenset({"src", "dst", "key"})
TEXT_COLUMNS = frozenset({"label", "text", "session"})
NUMBER_COLUMNS = frozenset({"weight"})

_FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".mat": "mat",
}
_COMPRESSION_SUFFIXES = (".gz", ".gzip", ".zst")
_FORBIDDEN_IN_KEYS = ("\t", "\n", "\r", "\x00")


def section(source: Source) -> str:
    """The spec field a source sits at, for messages: ``data.edges`` or ``data.labels``."""
    return "data.labels" if isinstance(source, LabelsSource) else "data.edges"


def source_format(source: Source) -> str:
    """``sql`` for a query, else the file format: as set, or from the path's extension.

    Names with no known extension (``.txt``, ``.edges``) read as delimited text whose
    delimiter DuckDB sniffs (format ``csv``); ``tsv`` always splits on tabs.
    """
    if source.sql is not None:
        return "sql"
    if source.format != "auto":
        return source.format
    name = str(source.path).lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return _FORMAT_BY_SUFFIX.get(os.path.splitext(name)[1], "csv")


def read_source(
    source: Source,
    base_dir: Path,
    wanted: Mapping[str, str],
    *,
    field: str | None = None,
    params: Mapping[str, object] | None = None,
) -> pa.Table:
    """Read ``source`` into a table whose columns are exactly ``wanted``'s keys, in order.

    ``wanted`` maps our column name to the source's (``{"src": "follower", ...}``); for a
    ``.mat`` source the source names are ignored (rows, columns and values of the
    matrix). ``params`` binds ``$name`` parameters of a ``sql:`` query (e.g. ``as_of``).
    Raises :class:`DataError` for a missing file or column, a failing query, non-numeric
    weights, null keys and keys that break the key rules.
    """
    field = field or section(source)
    base_dir = _absolute(Path(base_dir))
    fmt = source_format(source)
    if fmt == "mat":
        files = _matched_files(source, base_dir, field)
        if len(files) != 1:
            raise DataError(
                f"{field}: {_pattern(source, base_dir)} matches {len(files)} .mat files; "
                "name exactly one"
            )
        table = read_mat(files[0], source, wanted, field)
        origin = _Origin(str(files[0]))
    else:
        con = _connect()
        try:
            table, origin = _read_with_duckdb(con, source, fmt, base_dir, wanted, field, params)
        finally:
            con.close()
    return _normalise(table, wanted, origin, field)


def source_files(source: Source, base_dir: Path, *, field: str | None = None) -> list[Path]:
    """The local files a source reads: those its path matches, or those its query names.

    Raises :class:`DataError` when a ``path:`` matches no file.
    """
    field = field or section(source)
    base_dir = _absolute(Path(base_dir))
    if source.sql is None:
        return _matched_files(source, base_dir, field)
    con = _connect()
    try:
        query = anchor_query(con, source.sql, base_dir, field)
    finally:
        con.close()
    files: set[Path] = set()
    for pattern in query.patterns:
        files.update(_glob(pattern))
    return sorted(files)


def file_fingerprints(paths: Iterable[Path]) -> list[dict[str, object]]:
    """``{path, sha256, bytes}`` of each file, in the order given."""
    out: list[dict[str, object]] = []
    for path in paths:
        digest = hashlib.sha256()
        n_bytes = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                n_bytes += len(chunk)
        out.append({"path": str(path), "sha256": digest.hexdigest(), "bytes": n_bytes})
    return out


def source_lineage(
    source: Source, base_dir: Path, *, field: str | None = None
) -> dict[str, object]:
    """What a version records about a source: its path or query, format and file hashes."""
    files = file_fingerprints(source_files(source, base_dir, field=field))
    if source.sql is not None:
        sql_sha256 = hashlib.sha256(source.sql.encode("utf-8")).hexdigest()
        return {"sql": source.sql, "sql_sha256": sql_sha256, "files": files}
    return {"path": source.path, "format": source_format(source), "files": files}


# --- where the rows come from, for messages -------------------------------------------


@dataclass(frozen=True)
class _Origin:
    text: str  # "/abs/edges.tsv", "/abs/parts/*.csv" or "the result of data.edges.sql"
    csv_file: Path | None = None  # one delimited-text file: rows can be told as lines
    csv_options: str = ""

    def at(self, row: int) -> str:
        """Where 0-based data row ``row`` is, as a person would look for it."""
        if self.csv_file is not None:
            lines_before = _lines_before_data(self.csv_file, self.csv_options)
            if lines_before is not None:
                return f"line {row + 1 + lines_before} of {self.text}"
        return f"row {row + 1} of {self.text}"


def _lines_before_data(path: Path, options: str) -> int | None:
    con = _connect()
    try:
        rows = con.execute(
            f"SELECT HasHeader, SkipRows FROM sniff_csv({sql_literal(str(path))}{options})"
        ).fetchall()
        has_header, skip_rows = rows[0]
        return int(skip_rows) + int(bool(has_header))
    except (duckdb.Error, IndexError, TypeError, ValueError):
        return None
    finally:
        con.close()


# --- files -----------------------------------------------------------------------------


def _absolute(path: Path) -> Path:
    return Path(os.path.normpath(path.expanduser().absolute()))


def _pattern(source: Source, base_dir: Path) -> Path:
    path = Path(str(source.path)).expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(base_dir / path))


def _glob(pattern: Path) -> list[Path]:
    text = str(pattern)
    if any(c in text for c in "*?["):
        return sorted(Path(m) for m in glob.glob(text, recursive=True) if os.path.isfile(m))
    return [pattern] if pattern.is_file() else []


def _matched_files(source: Source, base_dir: Path, field: str) -> list[Path]:
    if "://" in str(source.path):
        raise DataError(
            f"{field}: {source.path} is not a local path; remote sources are not supported "
            "yet, copy the files next to the spec"
        )
    pattern = _pattern(source, base_dir)
    files = _glob(pattern)
    if not files:
        raise DataError(f"{field}: no file matches {pattern}")
    return files


# --- DuckDB ----------------------------------------------------------------------------


def _connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory database; library code draws no progress bars of its own."""
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    return con


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _one_line(error: BaseException) -> str:
    """DuckDB's message without its caret lines, on one line."""
    lines = [line.strip() for line in str(error).splitlines()]
    kept = [line for line in lines if line and not line.startswith("LINE ") and set(line) != {"^"}]
    return " ".join(kept)


def _to_arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    to_table = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return to_table()


def _read_with_duckdb(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    fmt: str,
    base_dir: Path,
    wanted: Mapping[str, str],
    field: str,
    params: Mapping[str, object] | None,
) -> tuple[pa.Table, _Origin]:
    if source.sql is not None:
        relation = _query_relation(con, source.sql, base_dir, field, params)
        origin = _Origin(f"the result of {field}.sql")
        failure = f"error in {field}.sql: "
    else:
        files = _matched_files(source, base_dir, field)
        options = {"tsv": ", delim = '\\t', all_varchar = true", "csv": ", all_varchar = true"}
        reader_options = options.get(fmt, "")
        listed = "[" + ", ".join(sql_literal(str(f)) for f in files) + "]"
        reader = {"parquet": "read_parquet", "json": "read_json"}.get(fmt, "read_csv")
        text = str(files[0]) if len(files) == 1 else str(_pattern(source, base_dir))
        single_csv = files[0] if len(files) == 1 and fmt in options else None
        origin = _Origin(text, single_csv, reader_options)
        failure = f"{field}: cannot read {text}: "
        try:
            relation = con.sql(f"SELECT * FROM {reader}({listed}{reader_options})")
        except duckdb.Error as error:
            raise DataError(failure + _one_line(error)) from error

    try:
        columns = list(relation.columns)
    except duckdb.Error as error:
        raise DataError(failure + _one_line(error)) from error
    for ours, theirs in wanted.items():
        if theirs not in columns:
            hint = f"set {field}.columns.{ours}"
            if source.sql is not None:
                hint += " or rename the column in the query"
            raise DataError(
                f"{field}: column {theirs!r} not in {origin.text} "
                f"(columns: {', '.join(columns)}); {hint}"
            )
    projection = ", ".join(
        f"{_identifier(theirs)} AS {_identifier(ours)}" for ours, theirs in wanted.items()
    )
    try:
        return _to_arrow(relation.project(projection)), origin
    except duckdb.Error as error:
        raise DataError(failure + _one_line(error)) from error


def _query_relation(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    base_dir: Path,
    field: str,
    params: Mapping[str, object] | None,
) -> duckdb.DuckDBPyRelation:
    query = anchor_query(con, sql, base_dir, field)
    given = dict(params or {})
    missing = sorted(query.parameters - set(given))
    if missing:
        names = ", ".join(f"${name}" for name in missing)
        raise DataError(f"{field}.sql uses {names} but no value was given (e.g. --as-of)")
    bound = {name: value for name, value in given.items() if name in query.parameters}
    if "," not in str(base_dir):  # a fallback for file names the query rewrite missed
        con.execute(f"SET file_search_path = {sql_literal(str(base_dir))}")
    try:
        return con.sql(query.sql, params=bound) if bound else con.sql(query.sql)
    except duckdb.Error as error:
        raise DataError(f"error in {field}.sql: {_one_line(error)}") from error


# --- columns to our types ---------------------------------------------------------------


def _normalise(table: pa.Table, wanted: Mapping[str, str], origin: _Origin, field: str) -> pa.Table:
    columns: dict[str, pa.ChunkedArray] = {}
    for ours, theirs in wanted.items():
        column = table.column(ours)
        if ours in KEY_COLUMNS or ours in TEXT_COLUMNS:
            column = _as_text(column, theirs, origin, field)
            _check_no_nulls(column, ours, theirs, origin, field)
            if ours in KEY_COLUMNS:
                _check_keys(column, theirs, origin, field)
        elif ours in NUMBER_COLUMNS:
            column = _as_number(column, theirs, origin, field)
        columns[ours] = column
    return pa.table(columns)


def _as_text(column: pa.ChunkedArray, theirs: str, origin: _Origin, field: str) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if pa.types.is_floating(kind) or (pa.types.is_decimal(kind) and kind.scale > 0):
        numbers = pc.cast(column, pa.float64())
        fractional = pc.fill_null(pc.not_equal(numbers, pc.floor(numbers)), False)
        if pc.any(fractional).as_py():
            row = pc.index(fractional, True).as_py()
            raise DataError(
                f"{field}: column {theirs!r} holds the number {numbers[row].as_py()!r} at "
                f"{origin.at(row)}; keys and labels are text or whole numbers"
            )
        column = pc.cast(numbers, pa.int64())
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise DataError(
            f"{field}: column {theirs!r} of type {kind} cannot be read as text keys: {error}"
        ) from error


def _check_no_nulls(
    column: pa.ChunkedArray, ours: str, theirs: str, origin: _Origin, field: str
) -> None:
    if column.null_count:
        row = pc.index(pc.is_null(column), True).as_py()
        raise DataError(
            f"{field}: {column.null_count} rows have no {ours} (column {theirs!r} is empty), "
            f"the first at {origin.at(row)}"
        )


def _check_keys(column: pa.ChunkedArray, theirs: str, origin: _Origin, field: str) -> None:
    n_bytes = pc.binary_length(column)
    bad = pc.or_(pc.equal(n_bytes, 0), pc.greater(n_bytes, MAX_KEY_BYTES))
    for char in _FORBIDDEN_IN_KEYS:
        bad = pc.or_(bad, pc.match_substring(column, char))
    n_bad = pc.sum(bad).as_py() or 0
    if not n_bad:
        return
    row = pc.index(bad, True).as_py()
    value = column[row].as_py()
    try:
        check_key(value)
        reason = f"invalid key {value[:40]!r}"
    except InvalidNameError as error:
        reason = str(error)
    raise DataError(
        f"{field}: {reason} (column {theirs!r}, {origin.at(row)}; {n_bad} invalid in all)"
    )


def _as_number(
    column: pa.ChunkedArray, theirs: str, origin: _Origin, field: str
) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        numbers = pc.cast(column, pa.float64())
    elif (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    ):
        try:
            numbers = pc.cast(pc.utf8_trim_whitespace(column), pa.float64())
        except pa.ArrowInvalid:
            row, value = _first_non_number(column)
            raise DataError(
                f"{field}: weight {value!r} in column {theirs!r} at {origin.at(row)} "
                "is not a number"
            ) from None
    else:
        raise DataError(f"{field}: weight column {theirs!r} has type {kind}, not a number")
    if numbers.null_count:
        row = pc.index(pc.is_null(numbers), True).as_py()
        raise DataError(
            f"{field}: {numbers.null_count} rows have no weight (column {theirs!r} is empty), "
            f"the first at {origin.at(row)}"
        )
    not_finite = pc.invert(pc.is_finite(numbers))
    if pc.any(not_finite).as_py():
        row = pc.index(not_finite, True).as_py()
        raise DataError(
            f"{field}: weight {numbers[row].as_py()!r} in column {theirs!r} at "
            f"{origin.at(row)} is not a finite number"
        )
    return numbers


def _first_non_number(column: pa.ChunkedArray) -> tuple[int, str]:
    """The first value that Arrow cannot read as a number (only called once one failed)."""
    row = 0
    for chunk in column.chunks:
        try:
            pc.cast(pc.utf8_trim_whitespace(chunk), pa.float64())
        except pa.ArrowInvalid:
            for offset, value in enumerate(chunk.to_pylist()):
                try:
                    pc.cast(pc.utf8_trim_whitespace(pa.array([value], pa.string())), pa.float64())
                except pa.ArrowInvalid:
                    return row + offset, str(value)
        row += len(chunk)
    return 0, "?"
