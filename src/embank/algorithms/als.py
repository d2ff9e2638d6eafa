"""Implicit-feedback ALS that co-embeds users and items, through the ``implicit`` library.

The model of Hu, Koren and Volinsky (ICDM 2008): every (user, item) pair has a preference
(1 where the user interacted, 0 elsewhere) weighted by a confidence (1 elsewhere, and
``alpha * f(weight)`` where the user interacted); alternating least squares finds user
and item factors whose dot product approximates the preferences. ``f`` is the
``confidence`` param: BM25 weighting of the matrix (``implicit.nearest_neighbours.bm25_weight``),
``log1p`` of the weight, the weight itself, or 1 (weights ignored).

Users and items land in one table, in one space: ``dot(user, item)`` is the model's
score, so the table's metric is ``dot`` and "items for this user" is a neighbour query.
Rows of the two entity types are kept apart by their entity (user "1" and item "1" are
two rows). The factors are float32 as ``implicit`` produces them, not normalised.

Runs on the CPU (``implicit.cpu.als``), with BLAS limited to one thread during the fit as
``implicit`` recommends (its own threads do the work). Each user's (item's) factor is
solved independently of how rows are split between threads, so a fit is bit-identical
for a fixed seed whatever ``n_threads`` is (checked in the tests); DESIGN.md's
guarantee is stated for ``n_threads=1``.

Warm start (``init_from``): both factor matrices start from the previous version's
vectors, matched by (entity, key). A key the previous version lacks is folded in
(:func:`fold_in`, the closed-form least-squares solve against the other side's factors):
new items first against the matched users, then new users against all items; a key with
no interaction to fold in from starts random as in a cold fit. Then ALS sweeps run until
one changes the factors by less than ``warm_tol`` (relative Frobenius norm), at most
``warm_iterations``: ALS far from convergence keeps drifting slowly on unchanged data
(15 more sweeps on MovieLens move vectors by a median cosine distance of 0.008, as much
as 15 more sweeps of a cold fit do), while a sweep or two absorb a data change. Measured
on MovieLens 100K (the example spec), a sweep changed the factors by 2 % on unchanged
data, and by 16 %, 6 %, 4 % on data with 10 % more interactions, where the three sweeps
matched a cold fit's Recall@10 (0.261 against 0.258).
"""

from __future__ import annotations

import logging
from typing import Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from threadpoolctl import threadpool_limits

from embank.algorithms.base import Algorithm, AlgorithmParams, WarmStart
from embank.algorithms.warm import matched_vectors
from embank.data.graph import Dataset
from embank.data.interactions import Interactions
from embank.errors import DataError
from embank.progress import Progress, Task
from embank.vector_table import VectorTable

__all__ = ["ALS", "confidence_matrix", "fold_in"]

log = logging.getLogger(__name__)


class ALS(Algorithm):
    """Users and items co-embedded by implicit-feedback ALS; see the module docstring."""

    name = "als"
    supports_warm_start = True

    class Params(AlgorithmParams):
        dim: int = Field(64, ge=1, le=4096, description="Number of latent factors.")
        iterations: int = Field(15, ge=1, le=1000, description="ALS sweeps (users, then items).")
        regularization: float = Field(
            30.0,
            ge=0,
            description="L2 penalty on the factors (lambda); it grows with the number of "
            "items, so tune it per data set (30 is best on MovieLens 100K).",
        )
        alpha: float = Field(
            1.0,
            gt=0,
            description="Confidence scale: an observed pair has confidence alpha * f(weight), "
            "an unobserved one 1.",
        )
        confidence: Literal["bm25", "log", "linear", "none"] = Field(
            "bm25",
            description="f(weight): bm25 (BM25 weighting of the user x item matrix), log "
            "(log1p(weight)), linear (the weight), or none (1 for every observed pair).",
        )
        bm25_k1: float = Field(
            1.2, gt=0, description="bm25: weight saturation K1 (small = near binary)."
        )
        bm25_b: float = Field(
            0.75, ge=0, le=1, description="bm25: length normalisation B (0 = none, 1 = full)."
        )
        n_threads: int = Field(
            0, ge=0, description="Threads of the solver; 0 = every core. Any value is "
            "deterministic for a fixed seed.",
        )  # fmt: skip
        warm_iterations: int | None = Field(
            None,
            ge=1,
            le=1000,
            description="Most ALS sweeps of a warm-started fit (init_from); None: iterations.",
        )
        warm_tol: float = Field(
            0.05,
            ge=0,
            description="A warm-started fit stops after the first sweep that changes the "
            "factors by less than this share (relative Frobenius norm); 0 runs every sweep.",
        )

    params: Params

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Fit on ``dataset.interactions``.

        Raises :class:`DataError` when there are no interactions, when a weight is negative
        or not finite, or when users and items are one entity type (use a graph algorithm).
        """
        from implicit.cpu.als import AlternatingLeastSquares

        interactions: Interactions = dataset.require("interactions", self.name, "data.interactions")
        p = self.params
        if interactions.src_entity == interactions.dst_entity:
            raise DataError(
                f"als co-embeds two entity types, but src and dst are both "
                f"{interactions.src_entity!r}: use a graph algorithm (spectral, node2vec) "
                "for a one-entity relation"
            )
        weights = confidence_matrix(interactions.matrix, p.confidence, p.bm25_k1, p.bm25_b)
        warm = self.warm_start
        iterations = p.iterations
        if warm is not None and p.warm_iterations is not None:
            iterations = p.warm_iterations
        self.warm_start_: dict[str, object] | None = None
        with (
            self._progress(progress).task("als", total=iterations) as task,
            threadpool_limits(1, "blas"),
        ):
            model = AlternatingLeastSquares(
                factors=p.dim,
                regularization=p.regularization,
                alpha=p.alpha,
                dtype=np.float32,
                iterations=iterations,
                num_threads=p.n_threads,
                random_state=p.seed,
            )
            if warm is None:
                model.fit(weights, show_progress=False, callback=lambda *_: task.advance())
            else:
                model.user_factors, model.item_factors = self._warm_factors(
                    warm, interactions, weights
                )
                self._warm_sweeps(model, weights, iterations, task)
        user_factors = np.asarray(model.user_factors, dtype=np.float32)
        item_factors = np.asarray(model.item_factors, dtype=np.float32)
        if not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all()):
            raise DataError("als produced non-finite factors: lower alpha or raise regularization")
        self.embeddings_ = _co_embedded_table(interactions, user_factors, item_factors)
        return self

    def _warm_sweeps(self, model: object, weights: sp.csr_matrix, most: int, task: Task) -> None:
        """One ALS sweep at a time until one changes the factors by < warm_tol."""
        model.iterations = 1  # type: ignore[attr-defined]
        change = float("nan")
        done = 0
        while done < most:
            before = np.vstack([model.user_factors, model.item_factors])  # type: ignore[attr-defined]
            model.fit(weights, show_progress=False)  # type: ignore[attr-defined]
            after = np.vstack([model.user_factors, model.item_factors])  # type: ignore[attr-defined]
            done += 1
            task.advance()
            scale = float(np.linalg.norm(before))
            change = float(np.linalg.norm(after - before)) / (scale if scale > 0 else 1.0)
            if change < self.params.warm_tol:
                break
        task.advance(most - done)
        assert self.warm_start_ is not None
        self.warm_start_.update(iterations=done, last_change=change)

    def _warm_factors(
        self, warm: WarmStart, interactions: Interactions, weights: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray]:
        """Start factors (float32): previous vectors by key, new keys folded in."""
        p = self.params
        users, user_found = matched_vectors(
            warm, interactions.src_entity, interactions.src_keys, p.dim, self.name
        )
        items, item_found = matched_vectors(
            warm, interactions.dst_entity, interactions.dst_keys, p.dim, self.name
        )
        # implicit fits alpha * f(weight) as the confidence; fold-in must solve the same.
        confidence = (weights * p.alpha).tocsr() if p.alpha != 1.0 else weights
        by_item = confidence.T.tocsr()
        # New items against the matched users (unmatched users are zero: they add nothing).
        new_items = np.flatnonzero(~item_found)
        items[new_items] = fold_in(by_item[new_items], users, p.regularization)
        new_users = np.flatnonzero(~user_found)
        users[new_users] = fold_in(confidence[new_users], items, p.regularization)
        # Keys with nothing to fold in from start as a cold fit starts them.
        rng = np.random.default_rng(p.seed)
        n_random = 0
        for factors, rows in ((users, new_users), (items, new_items)):
            empty = rows[~np.abs(factors[rows]).any(axis=1)]
            factors[empty] = rng.random((len(empty), p.dim), dtype=np.float32) * 0.01
            n_random += len(empty)
        self.warm_start_ = {
            "used": True,
            "matched": int(user_found.sum() + item_found.sum()),
            "new": len(new_users) + len(new_items),
            "folded_in": len(new_users) + len(new_items) - n_random,
            "random": n_random,
        }
        return users, items


def fold_in(confidence: sp.csr_matrix, factors: np.ndarray, regularization: float) -> np.ndarray:
    """The implicit-ALS factor of each row of ``confidence`` given the other side's factors.

    ``confidence`` (rows x other side) holds ``c = alpha * f(weight)`` where a row
    interacted (as ``implicit`` reads its input); each row's factor is the closed-form
    least-squares solve ``x = (YtY + Yt (C - I) Y + regularization I)^-1 Yt C p`` that one
    ALS sweep makes (``implicit``'s ``recalculate_user``). Rows without interactions get
    zero. Returns float32 (rows x dim).
    """
    confidence = sp.csr_matrix(confidence)
    factors64 = np.asarray(factors, dtype=np.float64)
    dim = factors64.shape[1]
    base = factors64.T @ factors64 + regularization * np.eye(dim)
    out = np.zeros((confidence.shape[0], dim), dtype=np.float64)
    for row in range(confidence.shape[0]):
        lo, hi = confidence.indptr[row], confidence.indptr[row + 1]
        if hi == lo:
            continue
        c = confidence.data[lo:hi].astype(np.float64)
        y = factors64[confidence.indices[lo:hi]]
        a = base + y.T @ ((c - 1.0)[:, None] * y)
        try:
            out[row] = np.linalg.solve(a, y.T @ c)
        except np.linalg.LinAlgError:  # singular only without regularization
            out[row] = np.linalg.lstsq(a, y.T @ c, rcond=None)[0]
    return out.astype(np.float32)


def confidence_matrix(
    matrix: sp.spmatrix, confidence: str, bm25_k1: float = 100.0, bm25_b: float = 0.8
) -> sp.csr_matrix:
    """The users x items CSR matrix of ``f(weight)`` that ``implicit`` fits (float32).

    Explicit zeros are dropped (an unobserved pair). Raises :class:`DataError` on an empty
    matrix or a negative or non-finite weight: ``implicit`` reads a negative value as a
    dislike, which the interactions do not mean.
    """
    from implicit.nearest_neighbours import bm25_weight

    weights = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    weights.sum_duplicates()
    if not np.isfinite(weights.data).all():
        raise DataError("als: interaction weights must be finite; found NaN or infinity")
    if (weights.data < 0).any():
        n_negative = int((weights.data < 0).sum())
        raise DataError(
            f"als: {n_negative:,} interactions have a negative weight; implicit feedback "
            "needs weights >= 0 (filter them out in the spec's SQL, or map them to 0)"
        )
    weights.eliminate_zeros()
    if weights.nnz == 0:
        raise DataError("als: there are no interactions with a positive weight to fit")
    if confidence == "bm25":
        # Items are the documents and users the terms, as in implicit's own examples:
        # a user who interacts with many items weighs less on each (idf), and an item's
        # many interactions are length-normalised.
        weights = bm25_weight(weights.T.tocsr(), K1=bm25_k1, B=bm25_b).T
        # idf = log(n_items) - log1p(n_user_items) is <= 0 for a user who had all items but
        # one or none: no information, and implicit would read a negative value as a
        # dislike. Those entries are dropped.
        weights = sp.csr_matrix(weights)
        n_dropped = int((weights.data <= 0).sum())
        if n_dropped:
            log.warning(
                "als: bm25 gave %d interactions a weight <= 0 (their users had nearly every "
                "item); they are left out of the fit",
                n_dropped,
            )
        weights.data = np.maximum(weights.data, 0.0)
    elif confidence == "log":
        weights.data = np.log1p(weights.data)
    elif confidence == "none":
        weights.data[:] = 1.0
    weights = sp.csr_matrix(weights, dtype=np.float32)
    weights.eliminate_zeros()
    return weights


def _co_embedded_table(
    interactions: Interactions, user_factors: np.ndarray, item_factors: np.ndarray
) -> VectorTable:
    """Users and items in one table, the entity blocks in bytewise order (keys are sorted)."""
    blocks = [
        (interactions.src_entity, interactions.src_keys, user_factors),
        (interactions.dst_entity, interactions.dst_keys, item_factors),
    ]
    blocks.sort(key=lambda block: block[0])
    entities = np.concatenate(
        [np.full(len(keys), entity, dtype=object) for entity, keys, _ in blocks]
    )
    keys = np.concatenate([np.asarray(keys, dtype=object) for _, keys, _ in blocks])
    vectors = np.vstack([factors for _, _, factors in blocks])
    return VectorTable(entities, keys, vectors)
