"""Follow-set Jaccard: does embedding similarity track shared neighbours?

For sampled users: the Spearman correlation between cos(e_u, e_v) and the Jaccard index
of their neighbour sets over pairs drawn half from 2-hop neighbours and half at random;
and overlap@10 between each sampled user's 10 embedding neighbours and its 10
highest-Jaccard users. Random Gaussian vectors, scored the same way, are the baseline.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field
from scipy.stats import spearmanr

from embank.benchmarks.base import Benchmark, BenchmarkInputs, BenchmarkParams, Figure, TaskResult
from embank.errors import DataError
from embank.progress import Progress
from embank.vector_table import VectorTable

__all__ = ["FollowJaccard"]


class FollowJaccardParams(BenchmarkParams):
    n_users: int = Field(1000, ge=10, description="Users sampled (those with neighbours).")
    pairs_per_user: int = Field(10, ge=2, description="Pairs per sampled user, half 2-hop.")
    k: int = Field(10, ge=1, le=100, description="Neighbours compared for overlap@k.")


class FollowJaccard(Benchmark):
    name = "follow_jaccard"
    Params = FollowJaccardParams
    params: FollowJaccardParams

    def run(
        self, table: VectorTable, inputs: BenchmarkInputs, progress: Progress | None = None
    ) -> TaskResult:
        start = time.perf_counter()
        graph = inputs.graph
        if graph is None:
            raise DataError("follow_jaccard needs data.edges in the spec")
        p = self.params
        rows = _table_rows(table, graph.entity, graph.index_to_key)
        present = rows >= 0
        if present.sum() < 3:
            raise DataError("follow_jaccard: fewer than 3 graph keys are in the table")
        # neighbour sets as a 0/1 matrix over the nodes the table holds
        keep = np.flatnonzero(present)
        adjacency = (graph.adjacency[keep][:, keep] != 0).astype(np.float32).tocsr()
        vectors = table.vectors[rows[keep]]
        rng = np.random.default_rng(p.seed)
        with self._progress(progress).task("follow jaccard", total=2) as task:
            users, others = _sample_pairs(adjacency, p.n_users, p.pairs_per_user, rng)
            jaccard = _jaccard(adjacency, users, others)
            top_jaccard = _top_jaccard(adjacency, np.unique(users), p.k)
            task.advance()
            random_vectors = rng.standard_normal(vectors.shape).astype(np.float32)
            ours = _scores(vectors, users, others, jaccard, top_jaccard, p.k)
            baseline = _scores(random_vectors, users, others, jaccard, top_jaccard, p.k)
            task.advance()
        elapsed = time.perf_counter() - start
        common = {"baseline_name": "random", "seed": p.seed, "run_time_s": elapsed}
        figures = [
            Figure(
                f"{self.name}.spearman",
                ours[0],
                baseline=baseline[0],
                sample_size=len(users),
                details={"pairs": len(users), "users": len(top_jaccard)},
                **common,
            ),
            Figure(
                f"{self.name}.overlap_at_{p.k}",
                ours[1],
                baseline=baseline[1],
                sample_size=len(top_jaccard),
                details={"users": len(top_jaccard)},
                **common,
            ),
        ]
        return TaskResult(self.name, figures, elapsed, p.model_dump())


def _sample_pairs(
    adjacency: sp.csr_matrix, n_users: int, per_user: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = adjacency.shape[0]
    degree = np.diff(adjacency.indptr)
    candidates = np.flatnonzero(degree > 0)
    users = rng.choice(candidates, size=min(n_users, len(candidates)), replace=False)
    pairs_u, pairs_v = [], []
    for u in users:
        for i in range(per_user):
            if i % 2 == 0:  # 2-hop: a neighbour's neighbour
                w = rng.choice(adjacency.indices[adjacency.indptr[u] : adjacency.indptr[u + 1]])
                hop = adjacency.indices[adjacency.indptr[w] : adjacency.indptr[w + 1]]
                v = rng.choice(hop)
            else:
                v = rng.integers(0, n)
            if v != u:
                pairs_u.append(u)
                pairs_v.append(v)
    return np.asarray(pairs_u), np.asarray(pairs_v)


def _jaccard(adjacency: sp.csr_matrix, users: np.ndarray, others: np.ndarray) -> np.ndarray:
    degree = np.diff(adjacency.indptr).astype(np.float64)
    shared = np.asarray(adjacency[users].multiply(adjacency[others]).sum(axis=1)).ravel()
    union = degree[users] + degree[others] - shared
    return np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)


def _table_rows(table: VectorTable, entity: str, keys: np.ndarray) -> np.ndarray:
    """The table row of each ``(entity, key)``, -1 where the table lacks it."""
    of_entity = np.flatnonzero(table.entities == entity)
    position = pd.Index(table.keys[of_entity]).get_indexer(keys)
    return np.where(position >= 0, of_entity[position], -1)


def _top_jaccard(adjacency: sp.csr_matrix, users: np.ndarray, k: int) -> dict[int, set[int]]:
    """Each user's k highest-Jaccard other users (ties by id).

    Only 2-hop users share a neighbour, so Jaccard is computed on the sparse product's
    entries; users with no 2-hop candidates left are padded with the lowest ids (Jaccard
    0), as a dense ranking would.
    """
    degree = np.diff(adjacency.indptr).astype(np.float64)
    shared = (adjacency[users] @ adjacency.T).tocsr()
    out = {}
    for i, u in enumerate(users):
        lo, hi = shared.indptr[i], shared.indptr[i + 1]
        others, counts = shared.indices[lo:hi], shared.data[lo:hi].astype(np.float64)
        mask = others != u
        others, counts = others[mask], counts[mask]
        jaccard = counts / (degree[u] + degree[others] - counts)
        best = others[np.lexsort((others, -jaccard))[:k]].tolist()
        fill = 0
        while len(best) < k and fill < len(degree):
            if fill != u and fill not in best:
                best.append(fill)
            fill += 1
        out[int(u)] = set(best)
    return out


_SIMILARITY_BLOCK = 64  # sampled users per block: 64 x n float32 scores at a time


def _scores(
    vectors: np.ndarray,
    users: np.ndarray,
    others: np.ndarray,
    jaccard: np.ndarray,
    top_jaccard: dict[int, set[int]],
    k: int,
) -> tuple[float, float]:
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
    cosine = np.einsum("ij,ij->i", unit[users], unit[others])
    spearman = float(spearmanr(cosine, jaccard).statistic)
    sampled = np.asarray(sorted(top_jaccard))
    overlaps = []
    for start in range(0, len(sampled), _SIMILARITY_BLOCK):
        block = sampled[start : start + _SIMILARITY_BLOCK]
        sims = unit[block] @ unit.T
        sims[np.arange(len(block)), block] = -np.inf
        nearest = np.argpartition(-sims, k, axis=1)[:, :k]
        overlaps += [
            len(set(row.tolist()) & top_jaccard[int(u)]) / k
            for row, u in zip(nearest, block, strict=True)
        ]
    return spearman, float(np.mean(overlaps))
