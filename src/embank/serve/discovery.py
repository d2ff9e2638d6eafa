"""What the API's discovery routes and the web UI share: finding tables, suggesting keys,
and choosing the figure that sums a table up.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

import pyarrow as pa

from embank.errors import NotFoundError, ValidationError
from embank.serve.models import KeyItem
from embank.store.bank import Bank
from embank.store.embedding import Embedding
from embank.store.freshness import with_freshness
from embank.store.models import FigureInfo, ShowResult, TableInfo

__all__ = ["headline_figure", "keys_with_prefix", "matching_tables"]

MAX_PREFIX_BYTES = 512
_GATE_FIGURE = re.compile(r"^\s*([a-z0-9_]+\.[a-z0-9_@]+)")


def matching_tables(
    bank: Bank,
    q: str | None = None,
    entity: str | None = None,
    owner: str | None = None,
    tag: str | None = None,
) -> list[TableInfo]:
    """Every table, or those ``q`` finds (name, description, owner, tags; any case),
    keeping those with entity type ``entity``, owner ``owner`` and tag ``tag``; each with
    its freshness (latest publish time, last refresh)."""
    rows = bank.search(q) if q else bank.tables()
    return with_freshness(
        bank,
        [
            t
            for t in rows
            if (entity is None or entity in t.entities)
            and (owner is None or t.owner == owner)
            and (tag is None or tag in t.tags)
        ],
    )


class _Column:
    """Indexed access to one Arrow column, for :mod:`bisect` (no copy of the column)."""

    def __init__(self, column: pa.ChunkedArray | pa.Array) -> None:
        self.column = column

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, i: int) -> str:
        return self.column[i].as_py()


def keys_with_prefix(
    embedding: Embedding, prefix: str, entity: str | None = None, limit: int = 20
) -> list[KeyItem]:
    """Up to ``limit`` keys of ``embedding`` that start with ``prefix`` (case-sensitive), in
    stored order; of entity type ``entity``, or of every type when None.

    Rows are stored sorted by (entity, key) bytewise, so this is a binary search of the
    memory-mapped key columns: a few microseconds on a table of any size.
    """
    if len(prefix.encode("utf-8", errors="replace")) > MAX_PREFIX_BYTES:
        raise ValidationError(f"a key prefix is at most {MAX_PREFIX_BYTES} bytes")
    known = embedding.table_info.entities
    if entity is not None and entity not in known:
        raise NotFoundError(
            f"table {embedding.name!r} has no entity type {entity!r}; it has {', '.join(known)}"
        )
    columns = embedding.local.key_columns
    entity_column = _Column(columns.column("entity"))
    key_column = columns.column("key")
    keys = _Column(key_column)
    found: list[KeyItem] = []
    for name in [entity] if entity is not None else known:
        lo = bisect_left(entity_column, name)
        hi = bisect_right(entity_column, name, lo)
        start = bisect_left(keys, prefix, lo, hi)
        stop = min(start + limit - len(found), hi)
        for key in key_column.slice(start, max(stop - start, 0)).to_pylist():
            if not key.startswith(prefix):
                break
            found.append(KeyItem(entity=name, key=key))
        if len(found) >= limit:
            break
    return found


def headline_figure(shown: ShowResult) -> FigureInfo | None:
    """The figure that sums a version up: its spec's first gate's, else its first one."""
    if not shown.benchmarks:
        return None
    by_name = {f.figure: f for f in shown.benchmarks}
    for gate in shown.version.lineage.get("gates") or ():
        match = _GATE_FIGURE.match(str(gate.get("gate", "")))
        if match:
            name = re.sub(r"@(\d+)", r"_at_\1", match.group(1))
            if name in by_name:
                return by_name[name]
    return shown.benchmarks[0]
