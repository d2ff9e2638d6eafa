"""ALS on small two-group interactions: the co-embedded table, determinism, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pydantic
import pytest
import scipy.sparse as sp

from embank.algorithms import algorithms
from embank.algorithms.als import ALS, confidence_matrix
from embank.data.graph import Dataset
from embank.data.interactions import Interactions
from embank.errors import DataError

# Tiny data needs far less regularisation than MovieLens' default of 30.
SMALL = {"dim": 8, "regularization": 0.1, "iterations": 10, "seed": 0}


def two_groups(
    n_users: int = 40, n_items: int = 30, per_user: int = 8, seed: int = 3
) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Users of group g interact only with items of group g; returns the groups too."""
    rng = np.random.default_rng(seed)
    user_group = np.repeat([0, 1], n_users // 2)
    item_group = np.repeat([0, 1], n_items // 2)
    rows, cols, sequences = [], [], []
    for user, group in enumerate(user_group):
        liked = rng.choice(np.flatnonzero(item_group == group), per_user, replace=False)
        rows += [user] * per_user
        cols += liked.tolist()
        sequences.append(liked)
    weights = rng.integers(1, 6, len(rows)).astype(np.float64)
    matrix = sp.csr_matrix((weights, (rows, cols)), shape=(n_users, n_items))
    interactions = Interactions(
        src_entity="user",
        dst_entity="item",
        src_keys=np.array([f"u{i:02d}" for i in range(n_users)], dtype=object),
        dst_keys=np.array([f"i{i:02d}" for i in range(n_items)], dtype=object),
        matrix=matrix,
        sequences=sequences,
    )
    return interactions, user_group, item_group


@pytest.fixture(scope="module")
def data() -> tuple[Interactions, np.ndarray, np.ndarray]:
    return two_groups()


def _fit(interactions: Interactions, **params: object) -> ALS:
    return ALS({**SMALL, **params}).fit(Dataset(interactions=interactions))


def test_registered_under_its_name():
    assert algorithms.get("als") is ALS


def test_one_table_with_users_and_items(data):
    interactions, _, _ = data
    table = _fit(interactions).embeddings
    assert table.n_rows == 40 + 30 and table.dim == 8
    assert table.vectors.dtype == np.float32 and np.isfinite(table.vectors).all()
    # entity blocks in bytewise order ("item" < "user"), keys sorted within each
    assert table.entities.tolist() == ["item"] * 30 + ["user"] * 40
    assert table.keys[:30].tolist() == interactions.dst_keys.tolist()
    assert table.keys[30:].tolist() == interactions.src_keys.tolist()
    assert table.sorted().keys.tolist() == table.keys.tolist()


def test_users_score_their_own_group_highest(data):
    interactions, user_group, item_group = data
    table = _fit(interactions).embeddings
    items, users = table.vectors[:30], table.vectors[30:]
    scores = users @ items.T  # dot(user, item) is the model's score
    top = np.argsort(-scores, axis=1)[:, :10]
    assert (item_group[top] == user_group[:, None]).mean() > 0.95


@pytest.mark.parametrize("confidence", ["bm25", "log", "linear", "none"])
def test_every_confidence_scaling_fits(data, confidence):
    interactions, user_group, item_group = data
    table = _fit(interactions, confidence=confidence).embeddings
    scores = table.vectors[30:] @ table.vectors[:30].T
    assert np.isfinite(table.vectors).all()
    assert (item_group[np.argmax(scores, axis=1)] == user_group).all()


def test_deterministic_for_a_seed_and_thread_count_independent(data):
    interactions, _, _ = data
    first = _fit(interactions, n_threads=1).embeddings.vectors
    assert np.array_equal(first, _fit(interactions, n_threads=1).embeddings.vectors)
    assert np.array_equal(first, _fit(interactions, n_threads=2).embeddings.vectors)
    assert not np.array_equal(first, _fit(interactions, seed=1).embeddings.vectors)


def test_confidence_matrix_values():
    matrix = sp.csr_matrix(np.array([[0.0, 2.0, 0.0, 0, 0, 0], [3.0, 0.0, 1.0, 0, 0, 0]]))
    assert confidence_matrix(matrix, "linear").toarray().tolist() == matrix.toarray().tolist()
    assert np.allclose(confidence_matrix(matrix, "log").toarray(), np.log1p(matrix.toarray()))
    none = confidence_matrix(matrix, "none")
    assert none.dtype == np.float32 and none.data.tolist() == [1.0, 1.0, 1.0]
    bm25 = confidence_matrix(matrix, "bm25")
    assert bm25.shape == (2, 6) and bm25.nnz == 3 and (bm25.data > 0).all()
    # idf is per user: the user with one item weighs more on it than the one with two
    assert bm25[0, 1] > bm25[1, 0] > 0


def test_negative_weights_are_refused(data):
    interactions, _, _ = data
    matrix = interactions.matrix.copy()
    matrix.data[0] = -1.0
    bad = dataclasses.replace(interactions, matrix=matrix)
    with pytest.raises(DataError, match="negative weight"):
        _fit(bad)


def test_non_finite_weights_are_refused(data):
    interactions, _, _ = data
    matrix = interactions.matrix.copy()
    matrix.data[0] = np.nan
    with pytest.raises(DataError, match="finite"):
        _fit(dataclasses.replace(interactions, matrix=matrix))


def test_a_user_with_no_positive_weight_gets_a_finite_vector(data):
    interactions, _, _ = data
    matrix = interactions.matrix.tolil()
    matrix[0, :] = 0.0  # explicit zeros only: the user has nothing to learn from
    matrix = matrix.tocsr()
    table = _fit(dataclasses.replace(interactions, matrix=matrix)).embeddings
    assert table.n_rows == 70 and np.isfinite(table.vectors).all()
    user0 = table.vectors[table.row_of("user", "u00")]
    assert np.linalg.norm(user0) < 0.1 * np.linalg.norm(table.vectors[30:], axis=1).mean()


def test_empty_interactions_are_refused(data):
    interactions, _, _ = data
    empty = sp.csr_matrix(interactions.matrix.shape)
    with pytest.raises(DataError, match="no interactions"):
        _fit(dataclasses.replace(interactions, matrix=empty))


def test_one_entity_relation_is_refused(data):
    interactions, _, _ = data
    follows = dataclasses.replace(interactions, dst_entity="user")
    with pytest.raises(DataError, match="both 'user'"):
        _fit(follows)


def test_needs_interactions():
    with pytest.raises(DataError, match=r"'als' needs data.interactions"):
        ALS().fit(Dataset())


@pytest.mark.parametrize(
    "params",
    [{"dim": 0}, {"alpha": 0}, {"regularization": -1}, {"confidence": "tfidf"}, {"factors": 8}],
)
def test_invalid_params_are_refused(params):
    with pytest.raises(pydantic.ValidationError):
        ALS(params)


def test_defaults_are_the_tuned_ones():
    p = ALS().params
    assert (p.dim, p.iterations, p.confidence, p.regularization, p.alpha) == (
        64,
        15,
        "bm25",
        30.0,
        1.0,
    )
    assert all(field.description for field in ALS.Params.model_fields.values())
