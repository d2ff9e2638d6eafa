"""Link prediction: rank each held-out edge against sampled non-edges.

For a seeded sample of at most ``max_edges`` held-out edges (u, v), the positive v is
ranked among ``negatives`` nodes w drawn without replacement from the graph's nodes that
have a vector, with w != u and (u, w) not a known edge (neither a training edge nor a
held-out one); when u has fewer such nodes, all of them are taken. An undirected edge is
ranked from both ends (v among u's negatives, u among v's), so no coin decides which end
asks; a directed edge from its source only, against nodes the source has no edge to.

Scores: ``metric`` (``cosine`` or ``dot``) between u's vector and each candidate's. A
positive's rank is ``1 + #(negatives above) + #(negatives tied) / 2``, the mean of the
optimistic and the pessimistic rank, so ties neither help nor hurt. Figures, over the
rankings: MRR (mean of 1 / rank), Hits@k (share with rank <= k) and AUC (the share
of (positive, negative) pairs in which the positive scores higher, a tie counting 1/2).

The baseline is node degree (preferential attachment): score(u, w) = deg(u) * deg(w) in
the training graph (out-degree of u times in-degree of w on a directed graph), ranked the
same way on the same negatives. Random Gaussian vectors of the table's dimension, scored
with the same metric, give each figure's ``details["random"]``. Everything is seeded and
vectorised over the sample: the negatives by Floyd's sampling over each query's candidate
ranks, the scores in batches of edges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from embank.benchmarks.base import Benchmark, BenchmarkInputs, BenchmarkParams, Figure, TaskResult
from embank.data.graph import Graph
from embank.errors import DataError
from embank.progress import Progress, Task
from embank.vector_table import VectorTable

__all__ = ["LinkPrediction", "LinkPredictionParams", "rank_metrics"]

# Rankings per scoring batch: batch x negatives x dim float32 stays ~25 MB.
_BATCH_MAX_CELLS = 6_500_000


class LinkPredictionParams(BenchmarkParams):
    negatives: int = Field(
        100, ge=1, le=10_000, description="Negatives each held-out edge is ranked against."
    )
    max_edges: int = Field(
        3000, ge=1, description="Rank at most this many held-out edges, a seeded sample."
    )
    k: int = Field(10, ge=1, description="Cutoff of Hits@k.")
    metric: Literal["cosine", "dot"] = Field(
        "cosine",
        description="Score between vectors: pass the table's metric (publish.metric, "
        "cosine by default); a dot table scored by cosine is judged on what it was not "
        "made for.",
    )


@dataclass(frozen=True)
class _Sample:
    """The ranked edges in the local space of the nodes they touch."""

    nodes: np.ndarray  # graph ids of every node touched, sorted
    query: np.ndarray  # per edge, local index of u
    positive: np.ndarray  # per edge, local index of v
    negatives: np.ndarray  # edges x negatives, local indices (0 where masked)
    mask: np.ndarray  # edges x negatives, True for a real negative
    details: dict[str, Any]


class LinkPrediction(Benchmark):
    """MRR, Hits@k and AUC of held-out edges, beside degree (and random vectors)."""

    name = "link_prediction"
    Params = LinkPredictionParams
    params: LinkPredictionParams

    def run(
        self, table: VectorTable, inputs: BenchmarkInputs, progress: Progress | None = None
    ) -> TaskResult:
        start = time.perf_counter()
        p = self.params
        graph, pairs = self._inputs(inputs)
        node_row = _table_rows(table, graph)
        rng = np.random.default_rng(p.seed)
        sample = _sample(graph, pairs, node_row, p.negatives, p.max_edges, rng)

        vectors = table.vectors[node_row[sample.nodes]]
        random_vectors = rng.standard_normal(vectors.shape, dtype=np.float32)
        if p.metric == "cosine":
            vectors, random_vectors = _l2_normalize(vectors), _l2_normalize(random_vectors)
        batch = max(1, _BATCH_MAX_CELLS // ((p.negatives + 1) * max(table.dim, 1)))
        n_batches = -(-sample.query.size // batch)
        with self._progress(progress).task("link prediction", total=2 * n_batches + 1) as bar:
            model = _vector_scores(vectors, sample, batch, bar)
            random = _vector_scores(random_vectors, sample, batch, bar)
            out_degree, in_degree = _degrees(graph)
            degree = (
                out_degree[sample.nodes[sample.query]] * in_degree[sample.nodes[sample.positive]],
                out_degree[sample.nodes[sample.query]][:, None]
                * in_degree[sample.nodes[sample.negatives]],
            )
            bar.advance()
        figures_of = {
            name: rank_metrics(*scores, sample.mask, p.k)
            for name, scores in (("model", model), ("random", random), ("degree", degree))
        }
        run_time_s = time.perf_counter() - start
        details = {"scoring": p.metric, **sample.details}
        figures = [
            Figure(
                name=f"{self.name}.{metric}",
                value=figures_of["model"][metric],
                baseline=figures_of["degree"][metric],
                baseline_name="degree",
                sample_size=sample.details["n_edges"],
                seed=p.seed,
                run_time_s=run_time_s,
                details={**details, "random": figures_of["random"][metric]},
            )
            for metric in ("mrr", f"hits_at_{p.k}", "auc")
        ]
        return TaskResult(self.name, figures, run_time_s, p.model_dump())

    def _inputs(self, inputs: BenchmarkInputs) -> tuple[Graph, pd.DataFrame]:
        """The training graph and its distinct held-out (src, dst) pairs, as text."""
        holdout, graph = inputs.holdout, inputs.graph
        if holdout is None or graph is None:
            missing = "held-out edges" if holdout is None else "the training graph"
            raise DataError(
                f"link_prediction needs {missing}: give the spec data.edges and "
                "holdout: {fraction: 0.1, by: edge}"
            )
        entity = graph.entity
        pairs = holdout[(holdout["src_entity"] == entity) & (holdout["dst_entity"] == entity)]
        pairs = pairs[["src", "dst"]].astype(str).drop_duplicates()
        if pairs.empty:
            raise DataError(
                f"link_prediction found no held-out {entity}-{entity} edges among "
                f"{len(holdout):,} held-out rows: give the spec holdout: {{fraction: 0.1, "
                "by: edge}} with data.edges"
            )
        return graph, pairs


def rank_metrics(
    positive: np.ndarray, negative: np.ndarray, mask: np.ndarray, k: int
) -> dict[str, float]:
    """MRR, Hits@k (``hits_at_K``) and AUC of positives against their row of negatives.

    ``positive`` is one score per edge, ``negative`` an edges x negatives matrix of which
    ``mask`` marks the real entries. A rank is 1 + negatives above + half the ties; AUC is
    pooled over (positive, negative) pairs. NaN scores count as the lowest.
    """
    positive = np.where(np.isnan(positive), -np.inf, positive)[:, None]
    negative = np.where(np.isnan(negative), -np.inf, negative)
    above = ((negative > positive) & mask).sum(axis=1)
    tied = ((negative == positive) & mask).sum(axis=1)
    rank = 1.0 + above + tied / 2.0
    n_pairs = mask.sum()
    return {
        "mrr": float(np.mean(1.0 / rank)),
        f"hits_at_{k}": float(np.mean(rank <= k)),
        "auc": float((n_pairs - above.sum() - tied.sum() / 2.0) / n_pairs),
    }


def _table_rows(table: VectorTable, graph: Graph) -> np.ndarray:
    """Each graph node's row in ``table`` (-1 when it has no vector)."""
    rows = np.flatnonzero(table.entities == graph.entity)
    if rows.size == 0:
        raise DataError(f"link_prediction: the table has no rows of entity {graph.entity!r}")
    found = pd.Index(table.keys[rows].astype(str)).get_indexer(graph.index_to_key.astype(str))
    return np.where(found >= 0, rows[np.maximum(found, 0)], -1)


def _sample(
    graph: Graph,
    pairs: pd.DataFrame,
    node_row: np.ndarray,
    n_negatives: int,
    max_edges: int,
    rng: np.random.Generator,
) -> _Sample:
    """The edges to rank, each with its negatives; every count in ``details``."""
    node_index = pd.Index(graph.index_to_key.astype(str))
    src = node_index.get_indexer(pairs["src"].to_numpy())
    dst = node_index.get_indexer(pairs["dst"].to_numpy())
    in_graph = (src >= 0) & (dst >= 0) & (src != dst)
    n_not_in_graph = int((~in_graph).sum())
    src, dst = src[in_graph], dst[in_graph]
    if not graph.directed:  # (a, b) and (b, a) are one edge
        low, high = np.minimum(src, dst), np.maximum(src, dst)
        edges = _sorted_unique(low * graph.n_nodes + high)
        src, dst = edges // graph.n_nodes, edges % graph.n_nodes
    adjacency = sp.csr_matrix(graph.adjacency)
    in_training = np.asarray(adjacency[src, dst]).ravel() != 0
    has_vector = (node_row[src] >= 0) & (node_row[dst] >= 0)
    usable = has_vector & ~in_training
    n_usable = int(usable.sum())
    query, positive = src[usable], dst[usable]
    if query.size == 0:
        raise _nothing_to_rank(len(pairs))
    if query.size > max_edges:
        chosen = np.sort(rng.choice(query.size, max_edges, replace=False))
        query, positive = query[chosen], positive[chosen]
    edge = np.arange(query.size)  # each ranking's edge
    if not graph.directed:  # ranked from both ends
        query, positive = np.concatenate((query, positive)), np.concatenate((positive, query))
        edge = np.concatenate((edge, edge))

    candidates = np.flatnonzero(node_row >= 0)
    known = _known_rows(adjacency, src, dst, query, directed=graph.directed)
    negatives, mask = _negatives(known, candidates, query, n_negatives, rng)
    has_negative = mask.any(axis=1)
    query, positive, edge = query[has_negative], positive[has_negative], edge[has_negative]
    negatives, mask = negatives[has_negative], mask[has_negative]
    if query.size == 0:
        raise _nothing_to_rank(len(pairs))
    nodes, local = np.unique(
        np.concatenate((query, positive, negatives[mask])), return_inverse=True
    )
    local_query, local_positive = local[: query.size], local[query.size : 2 * query.size]
    local_negatives = np.zeros(negatives.shape, dtype=np.int64)
    local_negatives[mask] = local[2 * query.size :]
    details = {
        "n_edges": int(np.unique(edge).size),
        "n_rankings": int(query.size),
        "n_holdout_edges": int(src.size) + n_not_in_graph,
        "n_edges_sampled_out": n_usable - min(n_usable, max_edges),
        "n_edges_skipped_not_in_graph": n_not_in_graph,
        "n_edges_skipped_no_vector": int((~has_vector).sum()),
        "n_edges_skipped_in_training": int((has_vector & in_training).sum()),
        "n_rankings_skipped_no_negative": int((~has_negative).sum()),
        "negatives": n_negatives,
        "mean_negatives": float(mask.sum(axis=1).mean()),
        "ties": "rank = mean of the optimistic and pessimistic rank",
    }
    return _Sample(nodes, local_query, local_positive, local_negatives, mask, details)


def _nothing_to_rank(n_pairs: int) -> DataError:
    return DataError(
        f"link_prediction: none of the {n_pairs:,} held-out edges can be ranked (an end "
        "without a vector, no node left to rank it against, or the edge is also a "
        "training edge)"
    )


def _known_rows(
    adjacency: sp.csr_matrix,
    src: np.ndarray,
    dst: np.ndarray,
    query: np.ndarray,
    *,
    directed: bool,
) -> sp.csr_matrix:
    """Row i: the nodes ``query[i]`` has a known edge to, training or held out (both ways
    on an undirected graph). Only the queried rows are built, not the whole graph's."""
    if not directed:
        src, dst = np.concatenate((src, dst)), np.concatenate((dst, src))
    ones = np.ones(src.size, dtype=adjacency.dtype)
    held = sp.csr_matrix((ones, (src, dst)), shape=adjacency.shape)
    return (adjacency[query] + held[query]).tocsr()


def _negatives(
    known: sp.csr_matrix,
    candidates: np.ndarray,
    query: np.ndarray,
    n_negatives: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(queries x n_negatives graph ids, mask): distinct candidates, none known to the query.

    Row i of ``known`` marks the nodes ``query[i]`` has a known edge to. Each query's
    allowed candidates are the candidates minus its excluded ones (itself and those). A
    uniform set of distinct ranks among the allowed is drawn by Floyd's algorithm, all of
    them when there are few; rank r maps to the allowed candidate at position
    r + #(j : b_j <= r), where b_j = x_j - j for the sorted excluded positions x_j.
    """
    n_queries, n_candidates = query.size, candidates.size
    position = np.full(known.shape[1], -1, dtype=np.int64)
    position[candidates] = np.arange(n_candidates)
    # Excluded candidate positions of each query, sorted and distinct, as one flat array.
    excluded = position[known.indices]
    query_of = np.repeat(np.arange(n_queries), np.diff(known.indptr))
    width = n_candidates + 1
    flat = np.concatenate(
        (query_of * width + excluded, np.arange(n_queries) * width + position[query])
    )
    flat = _sorted_unique(flat[np.concatenate((excluded, position[query])) >= 0])
    query_at, excluded = flat // width, flat % width
    n_excluded = np.bincount(query_at, minlength=n_queries)
    starts = np.concatenate(([0], np.cumsum(n_excluded)[:-1]))
    shifted = query_at * width + excluded - (np.arange(flat.size) - starts[query_at])

    allowed = n_candidates - n_excluded
    mask = np.arange(n_negatives)[None, :] < np.minimum(allowed, n_negatives)[:, None]
    ranks = np.broadcast_to(np.arange(n_negatives), (n_queries, n_negatives)).copy()
    many = allowed > n_negatives
    if many.any():
        ranks[many] = _floyd(allowed[many], n_negatives, rng)
    ranks[~mask] = 0
    needles = (np.arange(n_queries)[:, None] * width + ranks).ravel()
    order = np.argsort(needles, kind="stable")  # sorted needles search faster
    counts = np.empty(needles.size, dtype=np.int64)
    counts[order] = np.searchsorted(shifted, needles[order], side="right")
    counts = counts.reshape(n_queries, n_negatives) - starts[:, None]
    chosen = candidates[np.minimum(ranks + counts, n_candidates - 1)]
    return np.where(mask, chosen, 0), mask


def _floyd(population: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Per row, ``k`` distinct integers drawn uniformly from ``[0, population)`` (> k)."""
    chosen = np.empty((population.size, k), dtype=np.int64)
    for i in range(k):  # Floyd: j = n - k + i; pick t in [0, j]; if taken, take j
        j = population - k + i
        t = np.floor(rng.random(population.size) * (j + 1)).astype(np.int64)
        taken = (chosen[:, :i] == t[:, None]).any(axis=1)
        chosen[:, i] = np.where(taken, j, t)
    return chosen


def _vector_scores(
    vectors: np.ndarray, sample: _Sample, batch: int, bar: Task
) -> tuple[np.ndarray, np.ndarray]:
    """(positive scores, rankings x negatives scores) by dot product, in batches.

    The positive is scored in the same product as its negatives, so that equal vectors
    give bit-equal scores and count as a tie.
    """
    candidates = np.concatenate((sample.positive[:, None], sample.negatives), axis=1)
    scores = np.empty(candidates.shape, dtype=np.float32)
    for lo in range(0, candidates.shape[0], batch):
        hi = min(lo + batch, candidates.shape[0])
        query = vectors[sample.query[lo:hi]]
        scores[lo:hi] = np.einsum("ekd,ed->ek", vectors[candidates[lo:hi]], query)
        bar.advance()
    return scores[:, 0], scores[:, 1:]


def _degrees(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """(out-degree, in-degree) of each node in the training graph: edges, not weights."""
    pattern = sp.csr_matrix(graph.adjacency)
    out_degree = np.diff(pattern.indptr).astype(np.float64)
    if not graph.directed:
        return out_degree, out_degree
    in_degree = np.bincount(pattern.indices, minlength=graph.n_nodes).astype(np.float64)
    return out_degree, in_degree


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting: numpy 2's hash-based unique is ~10x slower on wide ints."""
    values = np.sort(values)
    return values[np.concatenate((values[:1] == values[:1], values[1:] != values[:-1]))]


def _l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
