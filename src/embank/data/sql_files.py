"""Find the files a DuckDB query names, and anchor relative ones at the spec's folder.

DuckDB's ``file_search_path`` alone is not enough: a file of the same name under the
working directory would win. So the query is parsed by DuckDB itself
(``json_serialize_sql``) and each relative file literal, found by its byte offset, is
replaced in the original text; the rest of the query stays as written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from embank.errors import DataError

__all__ = ["AnchoredQuery", "anchor_query", "sql_literal"]

# Table functions whose first argument names files; any other read_* counts too.
_FILE_FUNCTIONS = frozenset(
    {"parquet_scan", "parquet_metadata", "parquet_schema", "sniff_csv", "glob", "delta_scan"}
)


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class AnchoredQuery:
    sql: str
    patterns: list[Path]  # local files or globs the query names, made absolute
    parameters: set[str]  # names of its $parameters


def anchor_query(
    con: duckdb.DuckDBPyConnection, sql: str, base_dir: Path, field: str
) -> AnchoredQuery:
    """Rewrite the query's relative file names to absolute ones under ``base_dir``.

    Also collects the files the query names and its ``$parameters``; refuses anything but
    one SELECT statement.
    """
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    if tree.get("error"):
        if tree.get("error_type") == "not implemented":
            raise DataError(
                f"error in {field}.sql: give one SELECT query ({tree['error_message']})"
            )
        return AnchoredQuery(sql, [], set())  # let running it report the syntax error
    statements = tree.get("statements", [])
    if len(statements) != 1:
        raise DataError(f"error in {field}.sql: give one SELECT query, not {len(statements)}")

    ctes = {
        str(item["key"]).lower()
        for node in _nodes(statements)
        for item in (node.get("cte_map") or {}).get("map", [])
    }
    parameters: set[str] = set()
    literals: list[tuple[int, int, str]] = []  # (byte offset, byte length, file name)
    for node in _nodes(statements):
        if node.get("class") == "PARAMETER" and node.get("identifier"):
            parameters.add(str(node["identifier"]))
        elif node.get("type") == "BASE_TABLE" and _is_file_name(node, ctes):
            literals.append(_located(node, str(node["table_name"])))
        elif node.get("type") == "TABLE_FUNCTION":
            literals.extend(_file_arguments(node.get("function") or {}))

    raw = sql.encode("utf-8")
    patterns: list[Path] = []
    edits: dict[int, tuple[int, bytes]] = {}
    for offset, length, name in literals:
        if not name or "://" in name or name.startswith("~"):
            continue
        path = Path(name)
        absolute = path if path.is_absolute() else Path(os.path.normpath(base_dir / path))
        patterns.append(absolute)
        if path.is_absolute() or not _is_quoted(raw[offset : offset + length], name):
            continue
        edits[offset] = (length, sql_literal(str(absolute)).encode("utf-8"))
    for offset in sorted(edits, reverse=True):
        length, replacement = edits[offset]
        raw = raw[:offset] + replacement + raw[offset + length :]
    return AnchoredQuery(raw.decode("utf-8"), patterns, parameters)


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _is_file_name(node: Mapping[str, Any], ctes: set[str]) -> bool:
    """Whether a table reference can only be a file: unqualified and not a CTE's name."""
    if node.get("schema_name") or node.get("catalog_name"):
        return False
    return str(node.get("table_name", "")).lower() not in ctes


def _located(node: Mapping[str, Any], name: str) -> tuple[int, int, str]:
    offset = int(node.get("query_location", -1))
    length = int(node.get("query_location_length", 0))
    return (offset, length, name) if 0 <= offset < 1 << 62 else (-1, 0, name)


def _file_arguments(function: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    name = str(function.get("function_name", "")).lower()
    if not (name.startswith("read_") or name in _FILE_FUNCTIONS):
        return []
    arguments = function.get("arguments")
    if arguments is None:  # older DuckDB: plain children
        arguments = [{"name": "", "expression": child} for child in function.get("children", [])]
    if not arguments or arguments[0].get("name"):
        return []
    first = arguments[0].get("expression") or {}
    items = [first]
    if first.get("class") == "FUNCTION" and first.get("function_name") == "list_value":
        inner = first.get("arguments") or [{"expression": c} for c in first.get("children", [])]
        items = [item.get("expression") or {} for item in inner]
    found = []
    for item in items:
        text = _string_constant(item)
        if text is not None:
            found.append(_located(item, text))
    return found


def _string_constant(node: Mapping[str, Any]) -> str | None:
    if node.get("class") != "CONSTANT":
        return None
    literal = node.get("literal")
    if isinstance(literal, dict) and literal.get("kind") == "STRING":
        return str(literal.get("text"))
    value = node.get("value")
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return str(value["value"])
    return None


def _is_quoted(text: bytes, name: str) -> bool:
    """Whether ``text`` is exactly ``name`` in single or double quotes."""
    for quote in ("'", '"'):
        if text == (quote + name.replace(quote, quote * 2) + quote).encode("utf-8"):
            return True
    return False
