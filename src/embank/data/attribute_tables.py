"""Selection for per-key attributes: ``data.text``, ``data.features``, ``data.metadata``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embank.data.attributes import Features, Texts
from embank.data.sources import read_source, source_lineage
from embank.errors import DataError, EmptySelectionError
from embank.spec.models import TableSource, TextSource

__all__ = ["select_table", "select_text"]


def _unique_keys(keys: np.ndarray, field: str) -> None:
    unique, counts = np.unique(keys.astype(str), return_counts=True)
    if (counts > 1).any():
        repeated = unique[counts > 1][:5].tolist()
        raise DataError(
            f"{field}: keys appear more than once, e.g. {repeated}; give one row per key"
        )


def select_text(
    source: TextSource, base_dir: Path, params: Mapping[str, object] | None = None
) -> tuple[Texts, dict[str, object]]:
    """One text per key, keys sorted bytewise."""
    field = "data.text"
    table = read_source(
        source,
        base_dir,
        {"key": source.columns.key, "text": source.columns.text},
        field=field,
        params=params,
    )
    keys = np.asarray(table.column("key").to_pylist(), dtype=object)
    if not len(keys):
        raise EmptySelectionError(f"{field} has no rows")
    _unique_keys(keys, field)
    texts = table.column("text").to_pylist()
    order = np.argsort(keys.astype(str), kind="stable")
    lineage = {**source_lineage(source, base_dir, field=field), "rows": {"read": len(keys)}}
    return Texts(source.entity, keys[order], [texts[i] for i in order]), lineage


def select_table(
    source: TableSource, base_dir: Path, field: str, params: Mapping[str, object] | None = None
) -> tuple[Features, pd.DataFrame, dict[str, object]]:
    """The table one-hot encoded (numeric columns kept, or bucketed by their ``bins``),
    and the raw columns as text categories (for metadata prediction); keys sorted."""
    wanted = {"key": source.columns.key}
    for column in [*source.categorical, *source.numeric]:
        if column == "key":
            raise DataError(f"{field}: a column may not be called 'key'; rename it in sql")
        wanted[column] = column
    table = read_source(source, base_dir, wanted, field=field, params=params)
    frame = table.to_pandas()
    if frame.empty:
        raise EmptySelectionError(f"{field} has no rows")
    frame["key"] = frame["key"].astype(str)
    _unique_keys(frame["key"].to_numpy(), field)
    frame = frame.sort_values("key", kind="stable").reset_index(drop=True)

    blocks: list[sp.csr_matrix] = []
    names: list[str] = []
    groups: dict[str, list[int]] = {}
    categories = pd.DataFrame({"key": frame["key"].to_numpy(dtype=object)})

    def add(group: str, block: np.ndarray, block_names: list[str]) -> None:
        start = len(names)
        names.extend(block_names)
        groups[group] = list(range(start, len(names)))
        blocks.append(sp.csr_matrix(block.astype(np.float32)))

    for column in source.categorical:
        values = frame[column].astype("string").fillna("(missing)").astype(str)
        levels = sorted(values.unique())
        one_hot = (values.to_numpy()[:, None] == np.asarray(levels)[None, :]).astype(np.float32)
        add(column, one_hot, [f"{column}={level}" for level in levels])
        categories[column] = values.to_numpy(dtype=object)
    for column, spec in source.numeric.items():
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.isna().any():
            bad = frame[column][numbers.isna()].iloc[0]
            raise DataError(f"{field}: column {column!r} holds {bad!r}, not a number")
        if spec is not None and spec.bins:
            edges = sorted(spec.bins)
            bucket = np.searchsorted(edges, numbers.to_numpy(), side="right")
            labels = [_bucket_name(edges, b) for b in range(len(edges) + 1)]
            text = np.asarray(labels, dtype=object)[bucket]
            one_hot = (bucket[:, None] == np.arange(len(labels))[None, :]).astype(np.float32)
            add(column, one_hot, [f"{column}={label}" for label in labels])
            categories[column] = text
        else:
            add(column, numbers.to_numpy(np.float32)[:, None], [column])
            categories[column] = numbers.to_numpy(np.float64)
    features = Features(
        entity=source.entity,
        keys=frame["key"].to_numpy(dtype=object),
        matrix=sp.hstack(blocks, format="csr", dtype=np.float32),
        columns=names,
        groups=groups,
    )
    lineage = {**source_lineage(source, base_dir, field=field), "rows": {"read": len(frame)}}
    return features, categories, lineage


def _bucket_name(edges: list[float], bucket: int) -> str:
    def fmt(x: float) -> str:
        return f"{x:g}"

    if bucket == 0:
        return f"<{fmt(edges[0])}"
    if bucket == len(edges):
        return f">={fmt(edges[-1])}"
    return f"[{fmt(edges[bucket - 1])},{fmt(edges[bucket])})"
