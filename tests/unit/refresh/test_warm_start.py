"""Warm start per algorithm on small synthetic data: the contract, and less drift.

Bars from issue 8: spectral and ALS with a fixed seed, refitted warm on unchanged data,
keep aligned overlap@10 >= 0.99 and median aligned cosine >= 0.999; the stochastic
algorithms drift less warm than a cold refit with another seed.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pytest
import scipy.sparse as sp

from embank.algorithms import Algorithm, algorithms
from embank.algorithms.als import ALS, confidence_matrix, fold_in
from embank.algorithms.item2vec import Item2Vec
from embank.algorithms.node2vec import Node2Vec
from embank.algorithms.spectral import Spectral
from embank.algorithms.twhin import TwHIN
from embank.data.graph import Dataset, Graph
from embank.data.interactions import Interactions
from embank.data.relations import MultiGraph, Relation
from embank.errors import UsageError, ValidationError
from embank.refresh import drift
from embank.vector_table import VectorTable


def _keys(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}{i:04d}" for i in range(n)], dtype=object)


def planted_graph(n_per_block: int = 250, n_blocks: int = 4, seed: int = 7) -> Graph:
    rng = np.random.default_rng(seed)
    blocks = np.repeat(np.arange(n_blocks), n_per_block)
    probs = np.where(blocks[:, None] == blocks[None, :], 0.06, 0.004)
    upper = np.triu(rng.random((blocks.size, blocks.size)) < probs, k=1)
    adjacency = sp.csr_matrix((upper | upper.T).astype(np.float64))
    return Graph("node", _keys("n", blocks.size), adjacency)


def low_rank_interactions(n_users: int = 500, n_items: int = 250, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users, items = rng.standard_normal((n_users, 4)), rng.standard_normal((n_items, 4))
    score = users @ items.T + rng.gumbel(size=(n_users, n_items))
    liked = score >= np.quantile(score, 0.94, axis=1, keepdims=True)
    sequences = [rng.permutation(np.flatnonzero(row)) for row in liked]
    return Interactions(
        "user", "item", _keys("u", n_users), _keys("i", n_items), sp.csr_matrix(liked * 1.0),
        sequences,
    )  # fmt: skip


def _figures(previous: VectorTable, new: VectorTable) -> tuple[float, float]:
    """(median overlap@10, median aligned cosine) of ``new`` against ``previous``."""
    report = drift(previous, new, n_queries=500)
    return report["drift.overlap_at_10.median"], 1.0 - report["drift.cosine_distance.median"]


@pytest.fixture(scope="module")
def graph() -> Dataset:
    return Dataset(graph=planted_graph())


@pytest.fixture(scope="module")
def interactions() -> Dataset:
    return Dataset(interactions=low_rank_interactions())


# -- the contract ---------------------------------------------------------------------


class _Cold(Algorithm):
    name = "cold-only"

    def fit(self, dataset: Dataset, progress: object = None) -> Self:
        raise AssertionError("not fitted here")


def test_an_algorithm_that_cannot_warm_start_says_so(graph):
    previous = VectorTable.single_entity("node", ["a"], np.zeros((1, 8), np.float32))
    assert _Cold.supports_warm_start is False
    with pytest.raises(UsageError, match="cannot warm start"):
        _Cold().init_from(previous)
    assert _Cold().init_from(None).warm_start is None


def test_warm_start_flags():
    flags = {name: algorithms.get(name).supports_warm_start for name in algorithms.names()}
    for name in ("spectral", "als", "node2vec", "item2vec", "twhin"):
        assert flags[name] is True, name


def test_init_from_is_kept_until_cleared_and_checks_the_dim(graph):
    previous = Spectral({"dim": 8}).fit(graph).embeddings
    algorithm = Spectral({"dim": 16}).init_from(previous)
    assert algorithm.warm_start is not None and algorithm.warm_start.previous is previous
    with pytest.raises(ValidationError, match="dim 8"):
        algorithm.fit(graph)
    assert algorithm.init_from(None).warm_start is None
    assert algorithm.fit(graph).warm_start_ is None  # cold again


# -- spectral -------------------------------------------------------------------------


def test_spectral_warm_refit_on_unchanged_data_keeps_the_space(graph):
    params = {"dim": 16, "seed": 0}
    previous = Spectral(params).fit(graph).embeddings
    warm = Spectral(params).init_from(previous).fit(graph)
    assert warm.warm_start_["solver"] == "lobpcg"
    assert warm.warm_start_["iterations"] == 0  # the start already spans the answer
    overlap, cosine = _figures(previous, warm.embeddings)
    assert overlap >= 0.99 and cosine >= 0.999


def _grown(graph: Graph, n_edges: int, n_new: int, seed: int = 1) -> Dataset:
    """``graph`` with ``n_edges`` random edges more, and ``n_new`` new nodes of 5 edges."""
    n = graph.n_nodes
    rng = np.random.default_rng(seed)
    src = np.r_[rng.integers(n, size=n_edges), np.repeat(np.arange(n, n + n_new), 5)]
    dst = np.r_[rng.integers(n, size=n_edges), rng.integers(n, size=5 * n_new)]
    extra = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n + n_new, n + n_new))
    grown = sp.block_diag([graph.adjacency, sp.csr_matrix((n_new, n_new))]) + extra + extra.T
    grown = sp.csr_matrix((grown > 0).astype(np.float64))
    grown.setdiag(0)
    grown.eliminate_zeros()
    return Dataset(graph=Graph("node", _keys("n", n + n_new), grown))


def test_spectral_warm_start_tracks_a_small_change_with_new_keys(graph, make):
    params = {"dim": 16, "seed": 0}
    previous = Spectral(params).fit(graph).embeddings
    # a previous version that was aligned (rotated) before it was published
    rotated = VectorTable(previous.entities, previous.keys, previous.vectors @ make.rotation(16))
    dataset = _grown(graph.graph, n_edges=20, n_new=3)
    warm = Spectral(params).init_from(rotated).fit(dataset)
    assert warm.warm_start_["solver"] == "lobpcg", warm.warm_start_
    assert warm.warm_start_["new"] == 3 and warm.warm_start_["iterations"] > 0
    cold = Spectral(params).fit(dataset).embeddings
    overlap, cosine = _figures(cold, warm.embeddings)
    assert overlap >= 0.99 and cosine >= 0.999  # the same eigenvectors as a cold fit

    # without the iterations it needs, the fit falls back to ARPACK: exactly a cold fit
    short = Spectral({**params, "warm_maxiter": 1, "warm_tol": 1e-12}).init_from(rotated)
    fallback = short.fit(dataset)
    assert fallback.warm_start_["solver"] == "arpack"
    assert "warm_tol" in fallback.warm_start_["reason"]
    np.testing.assert_array_equal(fallback.embeddings.vectors, cold.vectors)


def test_spectral_after_a_large_change_goes_straight_to_arpack(graph):
    params = {"dim": 16, "seed": 0}
    previous = Spectral(params).fit(graph).embeddings
    dataset = _grown(graph.graph, n_edges=graph.graph.n_edges // 10, n_new=20)
    warm = Spectral(params).init_from(previous).fit(dataset)
    assert warm.warm_start_["solver"] == "arpack" and warm.warm_start_["iterations"] == 0
    assert "far from" in warm.warm_start_["reason"]
    cold = Spectral(params).fit(dataset).embeddings
    np.testing.assert_array_equal(warm.embeddings.vectors, cold.vectors)


def test_spectral_prone_fits_cold(graph):
    previous = Spectral({"dim": 8, "method": "prone"}).fit(graph).embeddings
    again = Spectral({"dim": 8, "method": "prone"}).init_from(previous).fit(graph)
    assert again.warm_start_["used"] is False
    np.testing.assert_array_equal(again.embeddings.vectors, previous.vectors)


# -- ALS --------------------------------------------------------------------------------

ALS_PARAMS = {"dim": 16, "iterations": 15, "regularization": 1.0, "seed": 0, "n_threads": 1}


def test_als_warm_refit_on_unchanged_data_keeps_the_space(interactions):
    previous = ALS(ALS_PARAMS).fit(interactions).embeddings
    warm = ALS(ALS_PARAMS).init_from(previous).fit(interactions)
    assert warm.warm_start_["matched"] == previous.n_rows
    assert warm.warm_start_["iterations"] < ALS_PARAMS["iterations"]
    overlap, cosine = _figures(previous, warm.embeddings)
    assert overlap >= 0.99 and cosine >= 0.999
    again = ALS(ALS_PARAMS).init_from(previous).fit(interactions).embeddings
    assert again.vectors.tobytes() == warm.embeddings.vectors.tobytes()  # deterministic


def test_als_folds_in_new_keys(interactions):
    inter = interactions.interactions
    # the previous version lacks the last 50 users and 20 items
    previous_full = ALS(ALS_PARAMS).fit(interactions).embeddings
    known = ~(
        ((previous_full.entities == "user") & (previous_full.keys >= "u0450"))
        | ((previous_full.entities == "item") & (previous_full.keys >= "i0230"))
    )
    previous = VectorTable(
        previous_full.entities[known], previous_full.keys[known], previous_full.vectors[known]
    )
    warm = ALS({**ALS_PARAMS, "warm_iterations": 1, "warm_tol": 0}).init_from(previous)
    warm.fit(interactions)
    assert warm.warm_start_["new"] == 70 and warm.warm_start_["folded_in"] == 70
    table = warm.embeddings
    users = table.vectors[table.entities == "user"]
    items = table.vectors[table.entities == "item"]
    # a new user's own items rank high among all items
    scores = users[450:] @ items.T
    liked = inter.matrix[450:].toarray() > 0
    ranks = (-scores).argsort(axis=1).argsort(axis=1)
    assert np.median(ranks[liked]) < 0.2 * inter.n_dst


def test_fold_in_is_implicits_least_squares_solve(interactions):
    from implicit.cpu.als import AlternatingLeastSquares

    weights = confidence_matrix(interactions.interactions.matrix, "bm25", 1.2, 0.75)
    model = AlternatingLeastSquares(
        factors=8, regularization=2.0, alpha=3.0, iterations=2, random_state=0, num_threads=1
    )
    model.fit(weights, show_progress=False)
    expected = model.recalculate_user(np.arange(10), weights[:10])
    got = fold_in((weights[:10] * 3.0).tocsr(), model.item_factors, 2.0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert not fold_in(sp.csr_matrix((2, weights.shape[1])), model.item_factors, 2.0).any()


# -- node2vec, item2vec, twhin: warm drifts less than a cold refit with another seed --------


def test_node2vec_warm_drifts_less_than_a_cold_reseed():
    # 20 small communities: with a few big ones every vector sits on its community's
    # direction, and even cold fits agree on cosine.
    graph = Dataset(graph=planted_graph(n_per_block=50, n_blocks=20))
    params = {
        "dim": 16, "walks_per_node": 10, "walk_length": 40, "window": 5, "epochs": 1,
        "n_threads": 1,
    }  # fmt: skip
    previous = Node2Vec({**params, "seed": 0}).fit(graph).embeddings
    cold = Node2Vec({**params, "seed": 1}).fit(graph).embeddings
    warm = Node2Vec({**params, "seed": 1}).init_from(previous).fit(graph)
    assert warm.warm_start_["matched"] == previous.n_rows
    cold_overlap, cold_cosine = _figures(previous, cold)
    warm_overlap, warm_cosine = _figures(previous, warm.embeddings)
    assert warm_overlap >= cold_overlap
    assert 1 - warm_cosine <= 0.5 * (1 - cold_cosine)


def test_item2vec_warm_drifts_less_than_a_cold_reseed(interactions):
    params = {"dim": 16, "epochs": 10, "window": 5, "sample": 0.0}
    previous = Item2Vec({**params, "seed": 0}).fit(interactions).embeddings
    cold = Item2Vec({**params, "seed": 1}).fit(interactions).embeddings
    warm = Item2Vec({**params, "seed": 1}).init_from(previous).fit(interactions)
    assert warm.warm_start_["matched"] == previous.n_rows
    cold_overlap, cold_cosine = _figures(previous, cold)
    warm_overlap, warm_cosine = _figures(previous, warm.embeddings)
    assert warm_overlap >= cold_overlap
    assert 1 - warm_cosine <= 0.5 * (1 - cold_cosine)


def _multigraph(interactions: Interactions) -> MultiGraph:
    coo = interactions.matrix.tocoo()
    likes = Relation("likes", "user", "item", coo.row, coo.col, np.ones(coo.nnz))
    keys = {"user": interactions.src_keys, "item": interactions.dst_keys}
    return MultiGraph(keys=keys, relations={"likes": likes})


def test_twhin_warm_drifts_less_and_the_pull_holds_it_closer(interactions):
    dataset = Dataset(relations=_multigraph(interactions.interactions))
    params = {
        "dim": 16, "epochs": 4, "batch_size": 256, "n_threads": 1, "device": "cpu",
        "operator": "translation",
    }  # fmt: skip
    first = TwHIN({**params, "seed": 0}).fit(dataset)
    previous = first.embeddings
    cold = TwHIN({**params, "seed": 1}).fit(dataset).embeddings
    warm = TwHIN({**params, "seed": 1}).init_from(previous, first.relation_operators_)
    warm.fit(dataset)
    assert warm.warm_start_ == {
        "used": True, "matched": previous.n_rows, "new": 0, "operators": 1
    }  # fmt: skip
    pulled = TwHIN({**params, "seed": 1, "warm_pull": 1.0}).init_from(previous).fit(dataset)
    cold_cosine = _figures(previous, cold)[1]
    warm_cosine = _figures(previous, warm.embeddings)[1]
    pulled_cosine = _figures(previous, pulled.embeddings)[1]
    assert 1 - warm_cosine <= 0.5 * (1 - cold_cosine)
    assert pulled_cosine > warm_cosine


def test_warm_epochs_shorten_the_fit(interactions):
    params = {"dim": 8, "epochs": 6, "warm_epochs": 2, "sample": 0.0, "seed": 0}
    previous = Item2Vec(params).fit(interactions).embeddings
    from embank.progress import RecordingProgress

    progress = RecordingProgress()
    Item2Vec(params).init_from(previous).fit(interactions, progress)
    assert progress.tasks[0].total == 2


def test_a_new_dataset_row_order_does_not_matter(interactions):
    """Keys are matched by key: a previous table in another row order gives the same fit."""
    previous = ALS(ALS_PARAMS).fit(interactions).embeddings
    order = np.random.default_rng(0).permutation(previous.n_rows)
    shuffled = VectorTable(previous.entities[order], previous.keys[order], previous.vectors[order])
    a = ALS(ALS_PARAMS).init_from(previous).fit(interactions).embeddings
    b = ALS(ALS_PARAMS).init_from(shuffled).fit(interactions).embeddings
    assert a.vectors.tobytes() == b.vectors.tobytes()


# -- new keys ----------------------------------------------------------------------------


def test_neighbour_mean_weighs_known_neighbours_only():
    from embank.algorithms.warm import neighbour_mean

    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]], dtype=np.float32)
    known = np.array([True, True, False])
    links = sp.csr_matrix(np.array([[1.0, 3.0, 9.0], [0.0, 0.0, 1.0]]))
    means, has = neighbour_mean(links, vectors, known)
    np.testing.assert_allclose(means[0], [0.25, 0.75])
    assert has.tolist() == [True, False] and not means[1].any()


def _without(table: VectorTable, drop: np.ndarray) -> VectorTable:
    keep = ~drop
    return VectorTable(table.entities[keep], table.keys[keep], table.vectors[keep])


def test_node2vec_folds_new_nodes_in_from_their_neighbours():
    graph = planted_graph(n_per_block=50, n_blocks=20)
    dataset = Dataset(graph=graph)
    params = {
        "dim": 16, "walks_per_node": 10, "walk_length": 40, "window": 5, "epochs": 1,
        "n_threads": 1, "seed": 0,
    }  # fmt: skip
    full = Node2Vec(params).fit(dataset).embeddings
    new = np.zeros(full.n_rows, dtype=bool)
    new[::50] = True  # one node of each community is new
    warm = Node2Vec({**params, "seed": 1}).init_from(_without(full, new)).fit(dataset)
    assert warm.warm_start_["new"] == 20 and warm.warm_start_["folded_in"] == 20

    def neighbours(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = unit[queries] @ unit.T
        scores[np.arange(len(queries)), queries] = -np.inf
        return np.argsort(-scores, axis=1)[:, :10]

    new_rows = np.flatnonzero(new)
    # a new node lands in its own community as often as in a cold fit ...
    cold_same = (neighbours(full.vectors, new_rows) // 50 == new_rows[:, None] // 50).mean()
    warm_top = neighbours(warm.embeddings.vectors, new_rows)
    assert (warm_top // 50 == new_rows[:, None] // 50).mean() >= cold_same - 0.1
    # ... and new nodes take no more than their share of the other nodes' neighbour lists
    others = neighbours(warm.embeddings.vectors, np.flatnonzero(~new))
    assert new[others].mean() <= 1.5 * new.mean()


def test_item2vec_new_items_do_not_crowd_every_user(interactions):
    params = {"dim": 16, "epochs": 10, "window": 5, "sample": 0.0, "seed": 0}
    full = Item2Vec(params).fit(interactions).embeddings
    new = np.zeros(full.n_rows, dtype=bool)
    new[::10] = True
    warm = Item2Vec({**params, "warm_epochs": 3}).init_from(_without(full, new))
    warm.fit(interactions)
    assert warm.warm_start_["new"] == new.sum()
    vectors = warm.embeddings.vectors
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    seen = interactions.interactions.matrix.toarray() > 0
    users = seen @ unit
    scores = users @ unit.T
    scores[seen] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :10]
    assert new[top].mean() <= 2 * new.mean()  # no more than twice their share
