"""Point-in-time join: each row of a frame gets the vector its key had at the row's time.

"At the row's time" means from the version an alias (``latest`` by default) pointed to
then, read from the registry's alias history: the last move at or before the time wins.
Versions are comparable only within one ``space_id``; a join whose rows fall under
versions of several spaces is refused unless ``allow_mixed_spaces=True`` (DESIGN.md,
"Versions and spaces"). Every publish gets a fresh ``space_id`` until alignment exists,
so today a join that spans two versions needs that flag; one whose rows all fall in one
version's window does not.

Rows whose time is before the alias's first move (or while it pointed nowhere), or null,
get no version; rows whose key is null or not in the chosen version get no vector. Both
are counted in the :class:`JoinSummary` attached to the result as
``result.attrs["embank_join"]`` and logged as a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa

from embank.errors import MixedSpacesError, NotFoundError, UsageError, ValidationError
from embank.names import LATEST, check_alias, check_table_name, key_text
from embank.store.schema import alias_history

if TYPE_CHECKING:
    from embank.store.bank import Bank

__all__ = ["JoinSummary", "alias_timeline", "join"]

log = logging.getLogger(__name__)

#: where the summary of a join is attached on the frame it returns
SUMMARY_ATTR = "embank_join"


@dataclass(frozen=True)
class JoinSummary:
    """What a point-in-time join found, row counts by outcome."""

    table: str
    alias: str
    entity: str
    n_rows: int
    n_joined: int  # rows that got a vector
    n_no_version: int  # time before the alias's first move (or while it was removed)
    n_no_time: int  # null timestamp
    n_missing_key: int  # null key, or key not in the version chosen for the row
    rows_per_version: dict[int, int] = field(default_factory=dict)
    space_ids: dict[int, str] = field(default_factory=dict)


def join(
    bank: Bank,
    df: pd.DataFrame,
    *,
    key: str,
    at: str,
    table: str,
    entity: str | None = None,
    alias: str = LATEST,
    prefix: str = "vector",
    expand: bool = False,
    allow_mixed_spaces: bool = False,
) -> pd.DataFrame:
    """A copy of ``df`` with, for each row, the vector of ``df[key]`` as of ``df[at]``.

    ``df[at]`` is datetime64 (naive times are UTC), tz-aware, or RFC 3339 text. Adds the
    column ``prefix`` (a float32 array per row, None where there is no vector), or with
    ``expand=True`` the float32 columns ``{prefix}_0 … {prefix}_{dim-1}`` (NaN where
    there is none); then ``version`` (nullable Int64) and ``space_id`` — named
    ``{prefix}_version`` and ``{prefix}_space_id`` when ``prefix`` is not ``"vector"``, so
    one frame can be joined with several tables. Row order and index are kept.

    Raises :class:`ValidationError` when the columns are missing or clash, when ``at`` is
    not a time, or when the rows' versions span several spaces and ``allow_mixed_spaces``
    is False; :class:`NotFoundError` for an unknown table or entity type.
    """
    check_table_name(table)
    check_alias(alias)
    for column, role in ((key, "key"), (at, "at")):
        if column not in df.columns:
            raise ValidationError(
                f"{role}={column!r} is not a column of the frame; it has {list(df.columns)}"
            )
    version_col, space_col = (
        ("version", "space_id")
        if prefix == "vector"
        else (f"{prefix}_version", f"{prefix}_space_id")
    )
    times = _utc_times(df[at], at)
    n_rows = len(df)

    with bank.registry.read() as conn:
        table_row = bank.registry.require_table(conn, table)
        moved_at, moved_to = alias_timeline(conn, table_row.id, alias)
    if len(moved_at) == 0:
        raise NotFoundError(f"table {table!r} never had alias {alias!r}")
    entity = _entity_of(table_row, entity)
    dim = int(table_row.dim)
    vector_cols = [f"{prefix}_{i}" for i in range(dim)] if expand else [prefix]
    clash = [c for c in (*vector_cols, version_col, space_col) if c in df.columns]
    if clash:
        raise ValidationError(
            f"the frame already has column(s) {clash[:5]}; pass prefix=... to name the new ones"
        )

    # The version each row's time falls under: the last move at or before it.
    no_time = np.isnat(times)
    slot = np.searchsorted(moved_at, times, side="right") - 1
    chosen = np.where(slot >= 0, moved_to[np.maximum(slot, 0)], -1).astype(np.int64)
    chosen[no_time] = -1
    used = sorted(int(v) for v in np.unique(chosen[chosen > 0]))

    versions = {v.number: v for v in bank.versions(table)}
    spaces = {number: versions[number].space_id for number in used}
    if len(set(spaces.values())) > 1 and not allow_mixed_spaces:
        listed = ", ".join(f"{table}@{n} (space {s})" for n, s in spaces.items())
        raise MixedSpacesError(
            f"the rows' times fall under versions of several spaces, whose vectors are not "
            f"comparable: {listed}; pass allow_mixed_spaces=True to take each row's version "
            "anyway, or restrict the frame to one version's time window"
        )

    vectors = np.full((n_rows, dim), np.nan, dtype=np.float32)
    found = np.zeros(n_rows, dtype=bool)
    keys = df[key].to_numpy(dtype=object)
    null_key = pd.isna(keys)
    rows_per_version: dict[int, int] = {}
    for number in used:
        emb = bank.get(f"{table}@{number}")
        positions = np.flatnonzero((chosen == number) & ~null_key)
        rows_per_version[number] = int((chosen == number).sum())
        if len(positions) == 0:
            continue
        codes, uniques = pd.factorize(pd.Series([key_text(k) for k in keys[positions]]))
        got = emb.vectors(uniques.tolist(), entity=entity, missing="nan")[codes]
        vectors[positions] = got
        found[positions] = ~np.isnan(got[:, 0])  # published vectors are always finite

    result = df.copy()
    if expand:
        expanded = pd.DataFrame(vectors, columns=vector_cols, index=df.index)
        result = pd.concat([result, expanded], axis=1)
    else:
        column = np.empty(n_rows, dtype=object)
        for row in np.flatnonzero(found):  # one array per row, as Embedding.to_pandas gives
            column[row] = vectors[row]
        result[prefix] = column
    has_version = chosen > 0
    result[version_col] = pd.arrays.IntegerArray(np.where(has_version, chosen, 0), ~has_version)
    space_values = np.full(n_rows, None, dtype=object)
    for number, space in spaces.items():
        space_values[chosen == number] = space
    result[space_col] = space_values

    summary = JoinSummary(
        table=table,
        alias=alias,
        entity=entity,
        n_rows=n_rows,
        n_joined=int(found.sum()),
        n_no_version=int((~has_version & ~no_time).sum()),
        n_no_time=int(no_time.sum()),
        n_missing_key=int((has_version & ~found).sum()),
        rows_per_version=rows_per_version,
        space_ids=spaces,
    )
    result.attrs[SUMMARY_ATTR] = summary
    if summary.n_joined < n_rows:
        log.warning(
            "join with %s@%s: %d of %d row(s) got no vector (%d before any version, "
            "%d without a time, %d key(s) not in their version)",
            table,
            alias,
            n_rows - summary.n_joined,
            n_rows,
            summary.n_no_version,
            summary.n_no_time,
            summary.n_missing_key,
        )
    return result


def alias_timeline(conn: sa.Connection, table_id: int, alias: str) -> tuple[np.ndarray, np.ndarray]:
    """Read-only: when ``alias`` of a table moved, and to which version.

    Returns (times as UTC ``datetime64[ns]``, sorted; version numbers, -1 where the alias
    was removed), in the order the moves happened.
    """
    rows = conn.execute(
        sa.select(alias_history.c.moved_at, alias_history.c.version_number)
        .where(alias_history.c.table_id == table_id, alias_history.c.alias == alias)
        .order_by(alias_history.c.moved_at, alias_history.c.id)
    ).all()
    times = np.array([_naive_utc(r.moved_at) for r in rows], dtype="datetime64[ns]")
    numbers = np.array(
        [-1 if r.version_number is None else r.version_number for r in rows], dtype=np.int64
    )
    return times, numbers


def _entity_of(table_row: sa.Row, entity: str | None) -> str:
    declared = list(table_row.entities)
    if entity is None:
        if len(declared) > 1:
            raise UsageError(
                f"table {table_row.name!r} holds several entity types ({', '.join(declared)}): "
                "pass entity=..."
            )
        return declared[0]
    if entity not in declared:
        raise NotFoundError(
            f"table {table_row.name!r} has no entity type {entity!r}; it has {', '.join(declared)}"
        )
    return entity


def _naive_utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time embank stores is UTC.
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _utc_times(column: pd.Series, name: str) -> np.ndarray:
    """``column`` as naive UTC ``datetime64[ns]`` (NaT where null)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_datetime64_any_dtype(column):
        raise ValidationError(
            f"column {name!r} holds numbers, not times; convert it first, "
            f"e.g. pd.to_datetime(df[{name!r}], unit='s')"
        )
    try:
        if pd.api.types.is_datetime64_any_dtype(column):
            times = column if column.dt.tz is not None else column.dt.tz_localize("UTC")
        else:
            times = pd.to_datetime(column, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"column {name!r} is not a time: use datetime64 or RFC 3339 text ({exc})"
        ) from None
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
