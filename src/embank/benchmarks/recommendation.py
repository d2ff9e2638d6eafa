"""Recommendation: rank held-out interactions among all items, training items excluded.

For each evaluated user, every item of entity ``to`` in the table is scored; the items the
user had in training are excluded; Recall@k is the share of the user's held-out items found
in the top k, NDCG@k the binary-relevance discounted gain of the top k over the ideal one
(``min(k, n_held_out)`` hits first). Both are averaged over users with at least one
held-out item.

Scoring follows the table:

- co-embedded (the table has rows of entity ``from``): the user's vector against each item
  vector with the table's metric (``metric``: ``dot`` or ``cosine``);
- item-only: a user is the mean of the L2-normalised vectors of their training items, and
  items are ranked by cosine to it.

The baseline is popularity: items ranked by their number of training interactions (users
who interacted with them), with the same exclusion. Users are scored in batches (one
matrix product and one ``argpartition`` per batch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import ConfigDict, Field, field_validator

from embank.benchmarks.base import (
    Benchmark,
    BenchmarkInputs,
    BenchmarkParams,
    Figure,
    TaskResult,
)
from embank.errors import DataError
from embank.progress import Progress
from embank.vector_table import VectorTable

__all__ = ["Recommendation", "RecommendationParams", "ranking_metrics"]

# Users per scoring batch: a batch x n_items float32 score matrix stays a few MB to ~100 MB.
_BATCH_MAX_CELLS = 25_000_000


class RecommendationParams(BenchmarkParams):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    k: list[int] = Field(
        [10, 50], min_length=1, description="Cutoffs: Recall@k and NDCG@k for each k."
    )
    from_: str = Field(
        "user", alias="from", description="Entity of the users (the held-out pairs' src)."
    )
    to: str = Field("item", description="Entity of the items to rank (the held-out pairs' dst).")
    metric: Literal["dot", "cosine"] = Field(
        "dot",
        description="Score of a co-embedded table: the table's metric between user and item "
        "vectors. Item-only tables always use cosine to the user's mean training item.",
    )
    max_users: int = Field(
        10_000, ge=1, description="Evaluate at most this many users, a seeded random sample."
    )

    @field_validator("k")
    @classmethod
    def _distinct_positive(cls, k: list[int]) -> list[int]:
        if any(value < 1 for value in k):
            raise ValueError(f"every k must be at least 1, got {k}")
        if len(set(k)) < len(k):
            raise ValueError(f"k values must be distinct, got {k}")
        return sorted(k)


@dataclass(frozen=True)
class _Task:
    """Everything scoring needs, in item-candidate and evaluated-user index space."""

    item_vectors: np.ndarray  # n_items x dim, the table's rows of entity ``to``
    train: sp.csr_matrix  # n_users x n_items, 1 where the user had the item in training
    held_out: sp.csr_matrix  # n_users x n_items, 1 for each scorable held-out pair
    n_held_out: np.ndarray  # per user, all held-out items (scorable or not)
    user_vectors: np.ndarray  # n_users x dim
    popularity: np.ndarray  # per candidate item, training interaction count
    details: dict[str, Any]


class Recommendation(Benchmark):
    """Recall@k and NDCG@k of held-out items, beside the popularity baseline."""

    name = "recommendation"
    Params = RecommendationParams
    params: RecommendationParams

    def run(
        self, table: VectorTable, inputs: BenchmarkInputs, progress: Progress | None = None
    ) -> TaskResult:
        start = time.perf_counter()
        p = self.params
        task = self._prepare(table, inputs)
        n_users = task.user_vectors.shape[0]
        with self._progress(progress).task("recommendation", total=2) as bar:
            judged = (task.train, task.held_out, task.n_held_out, p.k)
            model = ranking_metrics(task.user_vectors, task.item_vectors, *judged)
            bar.advance()
            # Popularity as a 1-d "embedding": every user scores item i by its count.
            ones = np.ones((n_users, 1), dtype=np.float32)
            baseline = ranking_metrics(ones, task.popularity[:, None], *judged)
            bar.advance()
        run_time_s = time.perf_counter() - start

        figures = []
        for k in p.k:
            for metric in ("recall", "ndcg"):
                figures.append(
                    Figure(
                        name=f"{self.name}.{metric}_at_{k}",
                        value=model[metric, k],
                        baseline=baseline[metric, k],
                        baseline_name="popularity",
                        sample_size=n_users,
                        seed=p.seed,
                        run_time_s=run_time_s,
                        details=dict(task.details),
                    )
                )
        return TaskResult(
            task=self.name,
            figures=figures,
            run_time_s=run_time_s,
            params=p.model_dump(by_alias=True),
        )

    def _prepare(self, table: VectorTable, inputs: BenchmarkInputs) -> _Task:
        p = self.params
        holdout, interactions = inputs.holdout, inputs.interactions
        if holdout is None or interactions is None:
            missing = "holdout" if holdout is None else "the training interactions"
            raise DataError(
                f"recommendation needs {missing}: add holdout: {{fraction: 0.2, by: user}} "
                f"to the spec and data.interactions (or a {p.from_}-{p.to} relation)"
            )
        if (interactions.src_entity, interactions.dst_entity) != (p.from_, p.to):
            raise DataError(
                f"recommendation from {p.from_!r} to {p.to!r} needs interactions of those "
                f"entities; the version has {interactions.src_entity!r} x "
                f"{interactions.dst_entity!r}: set from: and to: to match"
            )
        pairs = holdout[(holdout["src_entity"] == p.from_) & (holdout["dst_entity"] == p.to)]
        pairs = pairs[["src", "dst"]].astype(str).drop_duplicates()
        if pairs.empty:
            raise DataError(
                f"recommendation found no held-out {p.from_}-{p.to} pairs among "
                f"{len(holdout):,} held-out rows: check the spec's holdout section"
            )

        # Candidates: every item with a vector; train columns map onto them (-1: no vector).
        item_rows = np.flatnonzero(table.entities == p.to)
        if item_rows.size == 0:
            raise DataError(f"recommendation: the table has no rows of entity {p.to!r}")
        item_index = pd.Index(table.keys[item_rows].astype(str))
        column_to_item = item_index.get_indexer(interactions.dst_keys.astype(str))
        item_vectors = table.vectors[item_rows]

        # Users: those with a held-out pair, a seeded sample of max_users of them.
        user_keys = np.sort(pairs["src"].unique())
        n_users_held_out = user_keys.size
        if user_keys.size > p.max_users:
            chosen = np.random.default_rng(p.seed).choice(user_keys.size, p.max_users, False)
            user_keys = user_keys[np.sort(chosen)]
            pairs = pairs[pairs["src"].isin(user_keys)]
        src_rows = pd.Index(interactions.src_keys.astype(str)).get_indexer(user_keys)

        train = _train_matrix(interactions.matrix, src_rows, column_to_item, len(item_rows))
        held_out, n_held_out, n_in_train, n_without_vector = _held_out_matrix(
            pairs, user_keys, item_index, train
        )

        co_embedded = bool(np.any(table.entities == p.from_))
        if co_embedded:
            user_vectors, has_user = _user_rows(table, p.from_, user_keys)
            scoring = f"co-embedded, {p.metric}"
            if p.metric == "cosine":
                user_vectors, item_vectors = (
                    _l2_normalize(user_vectors),
                    _l2_normalize(item_vectors),
                )
        else:
            unit_items = _l2_normalize(item_vectors)
            user_vectors = np.asarray(train @ unit_items, dtype=np.float32)
            has_user = np.diff(train.indptr) > 0
            user_vectors, item_vectors = _l2_normalize(user_vectors), unit_items
            scoring = "item-only: mean of the user's L2-normalised training items, cosine"

        # Evaluate users with a vector and at least one held-out item left after exclusion.
        keep = has_user & (n_held_out > 0)
        popularity = np.bincount(
            column_to_item[column_to_item >= 0],
            weights=np.diff(interactions.matrix.tocsc().indptr)[column_to_item >= 0],
            minlength=len(item_rows),
        ).astype(np.float32)
        if not keep.any():
            raise DataError(
                f"recommendation: none of the {n_users_held_out:,} users with held-out pairs "
                f"could be scored (no {p.from_!r} vector, or every held-out item was also a "
                "training item)"
            )
        details: dict[str, Any] = {
            "scoring": scoring,
            "n_users": int(keep.sum()),
            "n_items": len(item_rows),
            "n_holdout_pairs": int(n_held_out[keep].sum()),
            "n_users_with_holdout": int(n_users_held_out),
            "n_users_sampled_out": int(n_users_held_out - user_keys.size),
            "n_users_skipped_no_vector": int((~has_user).sum()),
            "n_users_skipped_no_holdout_left": int((has_user & (n_held_out == 0)).sum()),
            "n_holdout_pairs_in_training": n_in_train,
            "n_holdout_items_without_vector": n_without_vector,
        }
        return _Task(
            item_vectors=np.ascontiguousarray(item_vectors, dtype=np.float32),
            train=train[keep],
            held_out=held_out[keep],
            n_held_out=n_held_out[keep],
            user_vectors=np.ascontiguousarray(user_vectors[keep], dtype=np.float32),
            popularity=popularity,
            details=details,
        )


def ranking_metrics(
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    train: sp.csr_matrix,
    held_out: sp.csr_matrix,
    n_held_out: np.ndarray,
    k: list[int],
) -> dict[tuple[str, int], float]:
    """Mean Recall@k and NDCG@k over users, keyed ``("recall"|"ndcg", k)``.

    Scores are ``user_vectors @ item_vectors.T``; items in a user's ``train`` row are
    excluded; ``held_out`` marks the relevant items; ``n_held_out`` (per user, >= 1) is the
    recall denominator and sets the ideal DCG, so held-out items that cannot be ranked
    count as misses. Ties are broken by the lower item index.
    """
    n_users, n_items = train.shape
    k_max = min(max(k), n_items)
    discounts = 1.0 / np.log2(np.arange(2, k_max + 2))
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, max(k) + 2)))])
    hits = np.zeros((n_users, k_max), dtype=bool)
    batch = max(1, _BATCH_MAX_CELLS // max(n_items, 1))
    for lo in range(0, n_users, batch):
        hi = min(lo + batch, n_users)
        scores = user_vectors[lo:hi] @ item_vectors.T
        scores = np.asarray(scores, dtype=np.float32)
        scores[np.isnan(scores)] = -np.inf
        excluded = train[lo:hi].tocoo()
        scores[excluded.row, excluded.col] = -np.inf
        top = _top_k(scores, k_max)
        relevant = held_out[lo:hi].toarray().astype(bool)
        hits[lo:hi] = np.take_along_axis(relevant, top, axis=1)
    result = {}
    for cutoff in k:
        found = hits[:, :cutoff]
        result["recall", cutoff] = float(np.mean(found.sum(axis=1) / n_held_out))
        dcg = found.astype(np.float64) @ discounts[: found.shape[1]]
        result["ndcg", cutoff] = float(np.mean(dcg / ideal[np.minimum(cutoff, n_held_out)]))
    return result


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` best scores, best first, ties to the lower index."""
    n_rows, n_items = scores.shape
    if k >= n_items:
        chosen = np.broadcast_to(np.arange(n_items), scores.shape).copy()
    else:
        # Everything above the k-th best score, then the lowest-index ties at it.
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
        above = scores > kth
        ties = scores == kth
        need = k - above.sum(axis=1, keepdims=True)
        selected = above | (ties & (np.cumsum(ties, axis=1) <= need))
        chosen = np.nonzero(selected)[1].reshape(n_rows, k)
    order = np.argsort(-np.take_along_axis(scores, chosen, axis=1), axis=1, kind="stable")
    return np.take_along_axis(chosen, order, axis=1)


def _train_matrix(
    matrix: sp.csr_matrix, src_rows: np.ndarray, column_to_item: np.ndarray, n_items: int
) -> sp.csr_matrix:
    """Evaluated users x candidate items, 1 where the user had the item in training."""
    n_users = src_rows.size
    known = src_rows >= 0
    sub = sp.csr_matrix(matrix)[src_rows[known]].tocoo()
    cols = column_to_item[sub.col]
    mask = cols >= 0
    rows = np.flatnonzero(known)[sub.row[mask]]
    data = np.ones(int(mask.sum()), dtype=np.float32)
    train = sp.csr_matrix((data, (rows, cols[mask])), shape=(n_users, n_items))
    train.sum_duplicates()
    train.data[:] = 1.0
    return train


def _held_out_matrix(
    pairs: pd.DataFrame, user_keys: np.ndarray, item_index: pd.Index, train: sp.csr_matrix
) -> tuple[sp.csr_matrix, np.ndarray, int, int]:
    """(held-out matrix of rankable items, per-user held-out count, pairs in training,
    held-out pairs whose item has no vector).

    Pairs also in the user's training items cannot be recommended and are dropped; items
    without a vector stay in the per-user count, as misses.
    """
    n_users, n_items = train.shape
    users = pd.Index(user_keys).get_indexer(pairs["src"].to_numpy())
    items = item_index.get_indexer(pairs["dst"].to_numpy())
    rankable = items >= 0
    in_train = np.zeros(len(pairs), dtype=bool)
    in_train[rankable] = np.asarray(train[users[rankable], items[rankable]]).ravel() > 0
    keep = ~in_train
    n_held_out = np.bincount(users[keep], minlength=n_users).astype(np.int64)
    scorable = keep & rankable
    data = np.ones(int(scorable.sum()), dtype=np.float32)
    held_out = sp.csr_matrix((data, (users[scorable], items[scorable])), shape=(n_users, n_items))
    return held_out, n_held_out, int(in_train.sum()), int((keep & ~rankable).sum())


def _user_rows(table: VectorTable, entity: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vectors of ``keys`` among the table's ``entity`` rows (zeros if absent), found mask)."""
    rows = np.flatnonzero(table.entities == entity)
    found = pd.Index(table.keys[rows].astype(str)).get_indexer(keys)
    vectors = np.zeros((keys.size, table.dim), dtype=np.float32)
    vectors[found >= 0] = table.vectors[rows[found[found >= 0]]]
    return vectors, found >= 0


def _l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
