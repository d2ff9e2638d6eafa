"""Selection for pairs between entity types: interactions, relations, and the hold-out.

Keys of each entity type are encoded once, sorted bytewise, so ids follow key order.
The hold-out is drawn before anything is fitted and never removes a key's last pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from embank.data.interactions import Interactions
from embank.data.relations import MultiGraph, Relation
from embank.data.sources import read_source, source_lineage
from embank.errors import DataError, EmptySelectionError, SpecError
from embank.spec.models import HoldoutSpec, PairsSource, SelectSpec

__all__ = ["select_interactions", "select_relations"]


def _read_pairs(
    source: PairsSource,
    base_dir: Path,
    field: str,
    weighted: bool,
    params: Mapping[str, object] | None,
) -> pd.DataFrame:
    """src, dst (text), weight (float64), and ts (float64) / session (text) when given."""
    columns = source.columns
    wanted = {"src": columns.src, "dst": columns.dst}
    if weighted and columns.weight:
        wanted["weight"] = columns.weight
    if columns.ts:
        wanted["ts"] = columns.ts
    if columns.session:
        wanted["session"] = columns.session
    table = read_source(source, base_dir, wanted, field=field, params=params)
    frame = pd.DataFrame(
        {
            "src": np.asarray(table.column("src").to_pylist(), dtype=object),
            "dst": np.asarray(table.column("dst").to_pylist(), dtype=object),
        }
    )
    frame["weight"] = (
        table.column("weight").to_numpy().astype(np.float64) if "weight" in wanted else 1.0
    )
    if "ts" in wanted:
        frame["ts"] = _as_time(table.column("ts"), field, columns.ts or "ts")
    if "session" in wanted:
        frame["session"] = np.asarray(table.column("session").to_pylist(), dtype=object)
    if frame.empty:
        raise EmptySelectionError(f"selection left no pairs: {field} has no rows")
    return frame


def _as_time(column: pa.ChunkedArray, field: str, name: str) -> np.ndarray:
    """Event times as float64 seconds: numbers as they are, timestamps or dates parsed."""
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64()).to_numpy() / 1e6
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.to_numpy().astype(np.float64)
    text = pd.Series(column.to_pylist(), dtype=object)
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy(np.float64)
    times = pd.to_datetime(text, errors="coerce", utc=True)
    if times.isna().any():
        bad = text[times.isna()].iloc[0]
        raise DataError(f"{field}: column {name!r} holds {bad!r}, not a number or a time")
    return (times.astype("int64") / 1e9).to_numpy(np.float64)


def _encode(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and each value's id among them (id order is key order)."""
    keys, ids = np.unique(values.astype(str), return_inverse=True)
    return keys.astype(object), ids.astype(np.int64)


def _min_count(frame: pd.DataFrame, select: SelectSpec, field: str) -> pd.DataFrame:
    """Drop keys with fewer distinct partners than ``select.min_degree`` (one pass)."""
    if select.min_degree <= 0:
        return frame
    distinct = frame[["src", "dst"]].drop_duplicates()
    src_counts = distinct["src"].value_counts()
    dst_counts = distinct["dst"].value_counts()
    keep = frame["src"].map(src_counts).ge(select.min_degree) & frame["dst"].map(dst_counts).ge(
        select.min_degree
    )
    kept = frame[keep.to_numpy()]
    if kept.empty:
        raise EmptySelectionError(
            f"selection left no pairs: {field} has {len(frame)} rows and no key has "
            f"min_degree={select.min_degree} partners"
        )
    return kept


def _holdout_mask(frame: pd.DataFrame, holdout: HoldoutSpec, field: str) -> np.ndarray:
    """Which distinct (src, dst) pairs are held out; never a src's or dst's last pair."""
    rng = np.random.default_rng(holdout.seed)
    n = len(frame)
    held = np.zeros(n, dtype=bool)
    if holdout.by == "edge":
        order = rng.permutation(n)
        want = round(holdout.fraction * n)
        src_left = frame["src"].value_counts().to_dict()
        dst_left = frame["dst"].value_counts().to_dict()
        src, dst = frame["src"].to_numpy(), frame["dst"].to_numpy()
        for i in order:
            if want == 0:
                break
            if src_left[src[i]] > 1 and dst_left[dst[i]] > 1:
                held[i] = True
                src_left[src[i]] -= 1
                dst_left[dst[i]] -= 1
                want -= 1
        return held
    if holdout.by == "time" and "ts" not in frame:
        raise SpecError(f"holdout by: time needs {field}.columns.ts")
    positions = np.arange(n)
    for _, rows in frame.groupby("src", sort=False).indices.items():
        count = len(rows)
        n_held = min(round(holdout.fraction * count), count - 1)
        if n_held <= 0:
            continue
        if holdout.by == "time":
            latest = np.lexsort((positions[rows], frame["ts"].to_numpy()[rows]))[::-1]
            held[rows[latest[:n_held]]] = True
        else:
            held[rng.choice(rows, size=n_held, replace=False)] = True
    return held


def select_interactions(
    source: PairsSource,
    select: SelectSpec,
    holdout: HoldoutSpec | None,
    base_dir: Path,
    params: Mapping[str, object] | None = None,
) -> tuple[Interactions, pd.DataFrame | None, dict[str, object]]:
    """The training interactions, the held-out pairs (or None), and lineage."""
    field = "data.interactions"
    events = _read_pairs(source, base_dir, field, select.weighted, params)
    counts: dict[str, int] = {"read": len(events)}
    if select.drop_self_loops and source.src == source.dst:
        events = events[(events["src"] != events["dst"]).to_numpy()]
        counts["after_drop_self_loops"] = len(events)
    events = _min_count(events, select, field)
    counts["after_min_degree"] = len(events)
    src_keys, src_ids = _encode(events["src"].to_numpy())
    dst_keys, dst_ids = _encode(events["dst"].to_numpy())
    events = events.assign(src_id=src_ids, dst_id=dst_ids)

    pairs = events.groupby(["src_id", "dst_id"], sort=True, as_index=False).agg(
        weight=("weight", select.dedupe),
        **({"ts": ("ts", "max")} if "ts" in events else {}),
    )
    pairs["src"] = src_keys[pairs["src_id"].to_numpy()]
    pairs["dst"] = dst_keys[pairs["dst_id"].to_numpy()]
    counts["distinct_pairs"] = len(pairs)

    held_frame = None
    if holdout is not None:
        held = _holdout_mask(pairs, holdout, field)
        held_pairs = pairs[held]
        held_frame = pd.DataFrame(
            {
                "src_entity": source.src,
                "src": held_pairs["src"].to_numpy(dtype=object),
                "dst_entity": source.dst,
                "dst": held_pairs["dst"].to_numpy(dtype=object),
            }
        )
        n_dst = len(dst_keys)
        held_codes = held_pairs["src_id"].to_numpy() * n_dst + held_pairs["dst_id"].to_numpy()
        event_codes = events["src_id"].to_numpy() * n_dst + events["dst_id"].to_numpy()
        events = events[~np.isin(event_codes, held_codes)]
        pairs = pairs[~held]
        counts["held_out_pairs"] = len(held_frame)
        # A key whose every pair was held out was never seen by the fit: it gets no vector
        # (near-zero ones would be refused by cosine tables and rank as noise), and a
        # benchmark counts its held-out pairs as misses.
        (src_keys, dst_keys), (pairs, events), dropped = _drop_unseen_keys(
            src_keys, dst_keys, pairs, events
        )
        counts.update(dropped)

    matrix = sp.csr_matrix(
        (pairs["weight"].to_numpy(np.float64), (pairs["src_id"], pairs["dst_id"])),
        shape=(len(src_keys), len(dst_keys)),
    )
    matrix.sum_duplicates()
    interactions = Interactions(
        src_entity=source.src,
        dst_entity=source.dst,
        src_keys=src_keys,
        dst_keys=dst_keys,
        matrix=matrix,
        sequences=_sequences(events, select),
    )
    lineage = {
        **source_lineage(source, base_dir, field=field),
        "rows": counts,
        "n_src": len(src_keys),
        "n_dst": len(dst_keys),
        "holdout": holdout.model_dump() if holdout else None,
    }
    return interactions, held_frame, lineage


def _drop_unseen_keys(
    src_keys: np.ndarray, dst_keys: np.ndarray, pairs: pd.DataFrame, events: pd.DataFrame
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[pd.DataFrame, pd.DataFrame], dict[str, int]]:
    """Keys with a training pair, their ids renumbered (order kept) in pairs and events."""
    kept_keys, renumbered, dropped = [], {}, {}
    for side, keys in (("src", src_keys), ("dst", dst_keys)):
        seen = np.zeros(len(keys), dtype=bool)
        seen[pairs[f"{side}_id"].to_numpy()] = True
        new_id = np.cumsum(seen) - 1
        kept_keys.append(keys[seen])
        renumbered[f"{side}_id"] = new_id
        dropped[f"{side}_only_in_holdout"] = int((~seen).sum())
    pairs = pairs.assign(**{c: ids[pairs[c].to_numpy()] for c, ids in renumbered.items()})
    events = events.assign(**{c: ids[events[c].to_numpy()] for c, ids in renumbered.items()})
    return (kept_keys[0], kept_keys[1]), (pairs, events), dropped


def _sequences(events: pd.DataFrame, select: SelectSpec) -> list[np.ndarray]:
    """dst ids in time order per session (or per src when only ts is given).

    Events with the same ts keep their source order, or a seeded random one with
    ``select.ties: shuffle``.
    """
    if "session" in events:
        group = "session"
    elif "ts" in events:
        group = "src_id"
    else:
        return []
    if select.ties == "shuffle":
        position = np.random.default_rng(select.seed).permutation(len(events))
    else:
        position = np.arange(len(events))
    ordered = events.assign(position=position)
    sort_by = ["ts", "position"] if "ts" in events else ["position"]
    ordered = ordered.sort_values([group, *sort_by], kind="stable")
    return [rows.to_numpy(np.int64) for _, rows in ordered.groupby(group, sort=True)["dst_id"]]


def select_relations(
    relations: Mapping[str, PairsSource],
    select: SelectSpec,
    base_dir: Path,
    params: Mapping[str, object] | None = None,
) -> tuple[MultiGraph, dict[str, object]]:
    """Every relation's distinct edges over each entity type's sorted keys."""
    frames: dict[str, pd.DataFrame] = {}
    lineage: dict[str, object] = {}
    for name, source in relations.items():
        field = f"data.relations.{name}"
        frame = _read_pairs(source, base_dir, field, select.weighted, params)
        n_read = len(frame)
        if select.drop_self_loops and source.src == source.dst:
            frame = frame[(frame["src"] != frame["dst"]).to_numpy()]
        frame = _min_count(frame, select, field)
        frame = frame.groupby(["src", "dst"], sort=True, as_index=False)["weight"].agg(
            select.dedupe
        )
        frames[name] = frame
        lineage[name] = {
            **source_lineage(source, base_dir, field=field),
            "rows": {"read": n_read, "distinct_pairs": len(frame)},
        }
    by_entity: dict[str, list[np.ndarray]] = {}
    for name, source in relations.items():
        by_entity.setdefault(source.src, []).append(frames[name]["src"].to_numpy())
        by_entity.setdefault(source.dst, []).append(frames[name]["dst"].to_numpy())
    keys = {
        entity: np.unique(np.concatenate(parts).astype(str)).astype(object)
        for entity, parts in by_entity.items()
    }
    built = {}
    for name, source in relations.items():
        frame = frames[name]
        built[name] = Relation(
            name=name,
            src_entity=source.src,
            dst_entity=source.dst,
            src=np.searchsorted(keys[source.src].astype(str), frame["src"].to_numpy().astype(str)),
            dst=np.searchsorted(keys[source.dst].astype(str), frame["dst"].to_numpy().astype(str)),
            weight=frame["weight"].to_numpy(np.float64),
        )
    return MultiGraph(keys=keys, relations=built), lineage
