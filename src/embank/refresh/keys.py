"""Which rows two versions share, matched by (entity, key), and how much each key is seen.

Rows are never matched by position: a refresh adds, drops and reorders keys. The
*support* of a key is how many edges or interactions it has in the data a version was
fitted on; alignment trusts well-supported keys, and drift figures are read by support
bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from embank.data.graph import Dataset
from embank.errors import ValidationError
from embank.vector_table import VectorTable

__all__ = ["SharedRows", "Support", "shared_rows", "support_array", "support_from_dataset"]

#: A key's support: an array aligned with a table's rows, or a mapping from
#: (entity, key) (or, for a one-entity table, the key alone) to a count.
Support = np.ndarray | Mapping[tuple[str, str], float] | Mapping[str, float]


@dataclass(frozen=True)
class SharedRows:
    """Rows of the keys both tables hold: ``previous[i]`` and ``new[i]`` are one key.

    In the new table's row order. ``coverage`` counts, per entity, the keys kept (in
    both), added (new only) and dropped (previous only).
    """

    previous: np.ndarray  # int64 rows of the previous table
    new: np.ndarray  # int64 rows of the new table
    coverage: dict[str, dict[str, int]]

    @property
    def n_shared(self) -> int:
        return len(self.new)


def shared_rows(previous: VectorTable, new: VectorTable) -> SharedRows:
    """The rows two tables share, matched by (entity, key), and the key coverage."""
    in_previous = previous.rows_of(new.entities, new.keys)
    found = in_previous >= 0
    coverage: dict[str, dict[str, int]] = {}
    for entity in sorted(set(previous.entity_names()) | set(new.entity_names())):
        in_new = new.entities == entity
        n_kept = int((found & in_new).sum())
        coverage[entity] = {
            "kept": n_kept,
            "added": int(in_new.sum()) - n_kept,
            "dropped": int((previous.entities == entity).sum()) - n_kept,
        }
    return SharedRows(in_previous[found], np.flatnonzero(found).astype(np.int64), coverage)


def support_array(support: Support | None, table: VectorTable) -> np.ndarray | None:
    """``support`` as float64 per row of ``table`` (0 for keys a mapping lacks).

    Raises :class:`ValidationError` for an array of the wrong length.
    """
    if support is None:
        return None
    if isinstance(support, Mapping):
        single = len(table.entity_names()) == 1
        values = np.zeros(table.n_rows, dtype=np.float64)
        for row, (entity, key) in enumerate(zip(table.entities, table.keys, strict=True)):
            value = support.get((entity, key))  # type: ignore[call-overload]
            if value is None and single:
                value = support.get(key)  # type: ignore[call-overload]
            values[row] = 0.0 if value is None else float(value)
        return values
    values = np.asarray(support, dtype=np.float64).ravel()
    if len(values) != table.n_rows:
        raise ValidationError(
            f"support has {len(values)} values for a table of {table.n_rows} rows; give one "
            "per row, or a mapping from (entity, key) to a count"
        )
    return values


def support_from_dataset(dataset: Dataset, table: VectorTable) -> np.ndarray:
    """Each row's number of edges or interactions in ``dataset`` (float64; 0 if unknown).

    Counts stored entries, not weights: a graph node's degree (in + out for a directed
    graph), a user's or an item's interactions, an entity's edges over all relations;
    summed over the parts the dataset has (each comes from its own spec section).
    """
    result = np.zeros(table.n_rows, dtype=np.float64)

    def add(entity: str, keys: np.ndarray, values: np.ndarray) -> None:
        rows = table.rows_of(entity, keys)
        known = rows >= 0
        np.add.at(result, rows[known], values[known])

    graph = dataset.graph
    if graph is not None:
        adjacency = graph.adjacency.tocsr()
        degree = np.diff(adjacency.indptr).astype(np.float64)
        if graph.directed:
            degree += np.bincount(adjacency.indices, minlength=graph.n_nodes)
        add(graph.entity, graph.index_to_key, degree)
    inter = dataset.interactions
    if inter is not None:
        matrix = inter.matrix.tocsr()
        add(inter.src_entity, inter.src_keys, np.diff(matrix.indptr).astype(np.float64))
        add(inter.dst_entity, inter.dst_keys, matrix.getnnz(axis=0).astype(np.float64))
    relations = dataset.relations
    if relations is not None:
        for relation in relations.relations.values():
            for entity, ids in (
                (relation.src_entity, relation.src),
                (relation.dst_entity, relation.dst),
            ):
                keys = relations.keys[entity]
                add(entity, keys, np.bincount(ids, minlength=len(keys)).astype(np.float64))
    return result
