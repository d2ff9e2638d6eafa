"""Pipeline step 1, select: from the spec's data sections to the dataset the algorithms fit.

``select`` reads each section given (edges here; interactions and relations in
:mod:`embank.data.pairs`; text, features and metadata in :mod:`embank.data.attribute_tables`)
and keeps labels and metadata for the keys the dataset embeds.

The edges are read with DuckDB (:mod:`embank.data.sources`), their keys encoded once as
integer ids in bytewise key order, and each selection step then runs on integer arrays
in this order: weights (or 1), drop self-loops, symmetrise, dedupe, min_degree, top_n.
The keys still on an edge form the vocabulary, sorted bytewise; the edges become an
n x n CSR matrix of float64 weights. A hold-out (``by: edge``) then takes edges out of
that matrix, never a node's last one, so the vocabulary does not change. Labels are kept
for keys in the vocabulary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from embank.data.attribute_tables import select_table, select_text
from embank.data.attributes import Metadata
from embank.data.edge_holdout import check_edge_holdout, hold_out_edges
from embank.data.graph import Dataset, Graph, Labels
from embank.data.pairs import select_interactions, select_relations
from embank.data.sources import read_source, source_format, source_lineage
from embank.errors import DataError, EmptySelectionError, SpecError
from embank.progress import NullProgress, Progress
from embank.spec.models import DataSpec, EdgesSource, HoldoutSpec, LabelsSource, SelectSpec

__all__ = ["select"]


def select(
    data: DataSpec,
    select: SelectSpec,
    base_dir: Path,
    progress: Progress | None = None,
    *,
    params: Mapping[str, object] | None = None,
    holdout: HoldoutSpec | None = None,
) -> Dataset:
    """Read ``data`` and apply ``select``: what the algorithms fit, labels, lineage.

    ``base_dir`` is the spec's folder (relative paths resolve against it); ``params``
    binds ``$name`` parameters of ``sql:`` sources; ``holdout`` keeps pairs of
    ``data.interactions`` out of the fit, or else edges of ``data.edges``
    (:mod:`embank.data.edge_holdout`). Raises :class:`SpecError` for a hold-out the data
    cannot take, :class:`DataError` for a source that cannot be read and
    :class:`EmptySelectionError` when nothing is left.
    """
    progress = progress or NullProgress()
    edge_holdout = holdout if data.interactions is None else None
    if edge_holdout is not None:  # a spec error, found before anything is read
        if data.edges is None:
            raise SpecError(
                "holdout needs data.interactions (by: user, time or edge) or data.edges (by: edge)"
            )
        check_edge_holdout(edge_holdout)
    lineage: dict[str, object] = {}
    parts: dict[str, object] = {}
    if data.edges is not None:
        parts["graph"], parts["holdout"] = _select_graph(
            data.edges, select, base_dir, progress, params, lineage, edge_holdout
        )
    if data.interactions is not None:
        with progress.task("selecting data.interactions"):
            interactions, held, lineage["interactions"] = select_interactions(
                data.interactions, select, holdout, base_dir, params
            )
        parts["interactions"], parts["holdout"] = interactions, held
    if data.relations:
        with progress.task("selecting data.relations"):
            parts["relations"], lineage["relations"] = select_relations(
                data.relations, select, base_dir, params
            )
    if data.text is not None:
        with progress.task("reading data.text"):
            parts["texts"], lineage["text"] = select_text(data.text, base_dir, params)
    if data.features is not None:
        with progress.task("reading data.features"):
            parts["features"], _, lineage["features"] = select_table(
                data.features, base_dir, "data.features", params
            )
    dataset = Dataset(lineage=lineage, **parts)  # type: ignore[arg-type]
    extras: dict[str, object] = {}
    if data.metadata is not None:
        with progress.task("reading data.metadata"):
            _, frame, lineage["metadata"] = select_table(
                data.metadata, base_dir, "data.metadata", params
            )
            extras["metadata"] = _known_rows(dataset, data.metadata.entity, frame, "data.metadata")
    if data.labels is not None:
        with progress.task("reading data.labels"):
            extras["labels"], lineage["labels"] = _labels(data.labels, dataset, base_dir, params)
    return dataclasses.replace(dataset, **extras) if extras else dataset


def _select_graph(
    edges: EdgesSource,
    select: SelectSpec,
    base_dir: Path,
    progress: Progress,
    params: Mapping[str, object] | None,
    lineage: dict[str, object],
    holdout: HoldoutSpec | None,
) -> tuple[Graph, pd.DataFrame | None]:
    """The selected graph (without held-out edges) and the held-out edges, if asked for."""
    symmetrise = (not edges.directed) if select.symmetrise is None else select.symmetrise
    with_weight = select.weighted and (
        edges.columns.weight is not None or source_format(edges) == "mat"
    )
    wanted = {"src": edges.columns.src, "dst": edges.columns.dst}
    if with_weight:
        wanted["weight"] = edges.columns.weight or "weight"

    with progress.task("reading data.edges"):
        table = read_source(edges, base_dir, wanted, field="data.edges", params=params)
        edges_lineage = source_lineage(edges, base_dir, field="data.edges")
    with progress.task("selecting edges"):
        selected, counts = _select_edges(table, select, symmetrise)
        del table
    with progress.task("building the graph"):
        graph = _graph(selected, edges.entity, directed=edges.directed and not symmetrise)
    edges_lineage = {**edges_lineage, "rows": counts}
    held = None
    if holdout is not None:
        with progress.task("holding out edges"):
            graph, held, edges_lineage["holdout"] = hold_out_edges(graph, holdout)
    lineage["edges"] = edges_lineage
    lineage["select"] = {**select.model_dump(), "symmetrise": symmetrise}
    lineage["n_nodes"] = graph.n_nodes
    lineage["n_edges"] = graph.n_edges  # of the training graph
    return graph, held


def _known_rows(dataset: Dataset, entity: str, frame: pd.DataFrame, field: str) -> Metadata:
    known = dataset.keys_of(entity)
    if known is None:
        raise DataError(f"{field}: entity {entity!r} is not embedded by any data section")
    return Metadata(entity, frame[frame["key"].isin(set(known))].reset_index(drop=True))


@dataclass
class _Edges:
    """Edges as ids into ``keys`` (sorted bytewise), so id order is key order."""

    keys: pa.Array
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    order: np.ndarray  # source position; decides dedupe 'first'

    def keep(self, mask: np.ndarray) -> None:
        self.src, self.dst = self.src[mask], self.dst[mask]
        self.weight, self.order = self.weight[mask], self.order[mask]

    @property
    def n_keys(self) -> int:
        return len(self.keys)


def _select_edges(
    table: pa.Table, select: SelectSpec, symmetrise: bool
) -> tuple[_Edges, dict[str, int]]:
    """Apply the selection steps; the edges left and the row count after each step."""
    n_rows = table.num_rows
    counts = {"read": n_rows}
    if n_rows == 0:
        raise EmptySelectionError(_empty_message(0, select, symmetrise, "read"))
    edges = _encode(table)

    def done(step: str) -> None:
        counts[f"after_{step}"] = len(edges.src)
        if not len(edges.src):
            raise EmptySelectionError(_empty_message(n_rows, select, symmetrise, step))

    if select.drop_self_loops:
        edges.keep(edges.src != edges.dst)
        done("drop_self_loops")
    if symmetrise:
        _symmetrise(edges)
        done("symmetrise")
    _dedupe(edges, select.dedupe)
    done("dedupe")
    if select.min_degree > 0:
        degree = _degrees(edges, symmetric=symmetrise)
        kept = degree >= select.min_degree
        edges.keep(kept[edges.src] & kept[edges.dst])
        done("min_degree")
    if select.top_n is not None:
        degree = _degrees(edges, symmetric=symmetrise)
        # Highest degree first, ties by id, which is bytewise key order.
        ranked = np.lexsort((np.arange(edges.n_keys), -degree))[: select.top_n]
        kept = np.zeros(edges.n_keys, dtype=bool)
        kept[ranked] = True
        edges.keep(kept[edges.src] & kept[edges.dst])
        done("top_n")
    return edges, counts


def _encode(table: pa.Table) -> _Edges:
    """Ids for the keys of both ends: one hash pass, then the distinct keys sorted."""
    n_rows = table.num_rows
    ends = pa.chunked_array(
        table.column("src").chunks + table.column("dst").chunks, type=pa.string()
    ).cast(pa.large_string())  # 64-bit offsets: both columns together may pass 2 GiB
    encoded = pc.dictionary_encode(ends.combine_chunks())
    by_key = pc.sort_indices(encoded.dictionary).to_numpy()  # Arrow orders strings bytewise
    rank = np.empty(len(by_key), dtype=np.int64)
    rank[by_key] = np.arange(len(by_key))
    ids = rank[encoded.indices.to_numpy()]
    keys = encoded.dictionary.take(pa.array(by_key)).cast(pa.string())
    if "weight" in table.column_names:
        weight = table.column("weight").to_numpy().astype(np.float64, copy=False)
    else:
        weight = np.ones(n_rows, dtype=np.float64)
    order = np.arange(n_rows, dtype=np.int64)
    return _Edges(keys, ids[:n_rows], ids[n_rows:], weight, order)


def _symmetrise(edges: _Edges) -> None:
    """Add dst -> src for each edge that is not a self-loop, right after its original."""
    n = len(edges.src)
    src = np.empty(2 * n, dtype=np.int64)
    dst = np.empty(2 * n, dtype=np.int64)
    src[0::2], src[1::2] = edges.src, edges.dst
    dst[0::2], dst[1::2] = edges.dst, edges.src
    edges.src, edges.dst = src, dst
    edges.weight = np.repeat(edges.weight, 2)
    edges.order = np.arange(2 * n, dtype=np.int64)
    reversed_loop = np.zeros(2 * n, dtype=bool)
    reversed_loop[1::2] = src[1::2] == dst[1::2]
    edges.keep(~reversed_loop)


def _dedupe(edges: _Edges, how: str) -> None:
    """One edge per (src, dst), weights combined by ``how``; leaves them sorted by it."""
    pair = edges.src * edges.n_keys + edges.dst
    by_pair = np.argsort(pair)
    pair = pair[by_pair]
    starts = np.flatnonzero(np.concatenate(([True], pair[1:] != pair[:-1])))
    weight = edges.weight[by_pair]
    order = edges.order[by_pair]
    if how == "sum":
        combined = np.add.reduceat(weight, starts)
    elif how == "max":
        combined = np.maximum.reduceat(weight, starts)
    else:  # first: the weight of the repeat earliest in the source
        first = np.minimum.reduceat(order, starts)
        weight_at = np.empty(int(edges.order.max()) + 1, dtype=np.float64)
        weight_at[edges.order] = edges.weight
        combined = weight_at[first]
    unique = pair[starts]
    edges.src, edges.dst = unique // edges.n_keys, unique % edges.n_keys
    edges.weight = combined
    edges.order = order[starts]


def _degrees(edges: _Edges, *, symmetric: bool) -> np.ndarray:
    """Distinct neighbours of each key id, in either direction; a key is not its own."""
    not_loop = edges.src != edges.dst
    if symmetric:  # deduped and symmetric: out-neighbours are all neighbours
        return np.bincount(edges.src[not_loop], minlength=edges.n_keys)
    low = np.minimum(edges.src, edges.dst)[not_loop]
    high = np.maximum(edges.src, edges.dst)[not_loop]
    pairs = np.unique(low * edges.n_keys + high)
    ends = np.concatenate((pairs // edges.n_keys, pairs % edges.n_keys))
    return np.bincount(ends, minlength=edges.n_keys)


def _empty_message(n_rows: int, select: SelectSpec, symmetrise: bool, step: str) -> str:
    settings = (
        f"drop_self_loops={select.drop_self_loops}, symmetrise={symmetrise}, "
        f"dedupe={select.dedupe}, min_degree={select.min_degree}, top_n={select.top_n}"
    )
    if step == "read":
        cause = "the source has no rows; check data.edges.path or data.edges.sql"
    else:
        cause = f"the {step} step removed the last edge"
    return f"selection left no edges: data.edges has {n_rows} rows, {settings}; {cause}"


def _graph(edges: _Edges, entity: str, *, directed: bool) -> Graph:
    """The keys still on an edge, and the CSR adjacency over them (edges sorted by pair)."""
    present = np.zeros(edges.n_keys, dtype=bool)
    present[edges.src] = True
    present[edges.dst] = True
    kept = np.flatnonzero(present)
    new_id = np.cumsum(present) - 1  # keeps id order, so keys stay sorted
    n = len(kept)
    rows, cols = new_id[edges.src], new_id[edges.dst]
    index_dtype = np.int32 if max(n, len(rows)) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    adjacency = sp.csr_matrix(
        (edges.weight.astype(np.float64), cols.astype(index_dtype), indptr), shape=(n, n)
    )
    adjacency.has_sorted_indices = True  # _dedupe sorted the edges by (src, dst)
    adjacency.sum_duplicates()
    index_to_key = np.asarray(edges.keys.take(pa.array(kept)).to_pylist(), dtype=object)
    return Graph(entity=entity, index_to_key=index_to_key, adjacency=adjacency, directed=directed)


def _labels(
    labels: LabelsSource,
    dataset: Dataset,
    base_dir: Path,
    params: Mapping[str, object] | None,
) -> tuple[Labels, dict[str, object]]:
    """Labels of keys the dataset embeds; labelled keys not in it are counted as skipped."""
    known = dataset.keys_of(labels.entity)
    if known is None:
        raise DataError(
            f"data.labels: entity {labels.entity!r} is not embedded by any data section; "
            "labels must name keys the table will hold"
        )
    wanted = {"key": labels.columns.key, "label": labels.columns.label}
    table = read_source(labels, base_dir, wanted, field="data.labels", params=params)
    lineage = source_lineage(labels, base_dir, field="data.labels")
    pairs = table.group_by(["key", "label"], use_threads=False).aggregate([])
    in_graph = pc.is_in(pairs.column("key"), value_set=pa.array(known, pa.string()))
    skipped = pc.count_distinct(pairs.column("key").filter(pc.invert(in_graph))).as_py()
    kept = pairs.filter(in_graph).sort_by([("key", "ascending"), ("label", "ascending")])
    frame = pd.DataFrame(
        {
            "key": np.asarray(kept.column("key").to_pylist(), dtype=object),
            "label": np.asarray(kept.column("label").to_pylist(), dtype=object),
        }
    )
    rows = {"read": table.num_rows, "distinct_pairs": pairs.num_rows, "kept": len(frame)}
    lineage = {**lineage, "rows": rows, "n_keys_skipped": skipped}
    return Labels(entity=labels.entity, pairs=frame, n_skipped=skipped), lineage
