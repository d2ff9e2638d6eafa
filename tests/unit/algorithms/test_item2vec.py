"""item2vec on small two-group sequences: items only, determinism, fallbacks, bad input."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pydantic
import pytest
import scipy.sparse as sp

from embank.algorithms import algorithms
from embank.algorithms import item2vec as item2vec_module
from embank.algorithms.item2vec import Item2Vec, item_sentences
from embank.data.graph import Dataset
from embank.data.interactions import Interactions
from embank.errors import DataError

# Small and quick; sample=0 because down-sampling is meant for corpora of many tokens.
SMALL = {"dim": 16, "window": 5, "epochs": 30, "sample": 0.0, "seed": 0}


def two_groups(
    n_users: int = 40, n_items: int = 30, per_user: int = 10, seed: int = 5
) -> tuple[Interactions, np.ndarray]:
    """Users of group g see only items of group g, in random order; returns item groups."""
    rng = np.random.default_rng(seed)
    item_group = np.repeat([0, 1], n_items // 2)
    rows, cols, sequences = [], [], []
    for user in range(n_users):
        seen = rng.choice(np.flatnonzero(item_group == user % 2), per_user, replace=False)
        rows += [user] * per_user
        cols += seen.tolist()
        sequences.append(seen)
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))
    interactions = Interactions(
        src_entity="user",
        dst_entity="item",
        src_keys=np.array([f"u{i:02d}" for i in range(n_users)], dtype=object),
        dst_keys=np.array([f"i{i:02d}" for i in range(n_items)], dtype=object),
        matrix=matrix,
        sequences=sequences,
    )
    return interactions, item_group


@pytest.fixture(scope="module")
def data() -> tuple[Interactions, np.ndarray]:
    return two_groups()


def _fit(interactions: Interactions, **params: object) -> Item2Vec:
    return Item2Vec({**SMALL, **params}).fit(Dataset(interactions=interactions))


def _neighbour_purity(vectors: np.ndarray, groups: np.ndarray, k: int = 5) -> float:
    """Share of each item's k nearest items (cosine) that are in its group."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    top = np.argsort(-cosine, axis=1)[:, :k]
    return float((groups[top] == groups[:, None]).mean())


def test_registered_and_deterministic_class():
    assert algorithms.get("item2vec") is Item2Vec
    assert Item2Vec.deterministic is True
    assert Item2Vec().params.n_threads == 1


def test_items_only_one_row_per_key(data):
    interactions, _ = data
    table = _fit(interactions).embeddings
    assert table.n_rows == 30 and table.dim == 16
    assert table.entity_names() == ["item"]
    assert table.keys.tolist() == interactions.dst_keys.tolist()
    assert table.vectors.dtype == np.float32 and np.isfinite(table.vectors).all()


def test_items_of_a_group_are_neighbours(data):
    interactions, item_group = data
    assert _neighbour_purity(_fit(interactions).embeddings.vectors, item_group) > 0.9


def test_deterministic_with_one_thread(data):
    interactions, _ = data
    first = _fit(interactions).embeddings.vectors
    assert np.array_equal(first, _fit(interactions).embeddings.vectors)
    assert not np.array_equal(first, _fit(interactions, seed=1).embeddings.vectors)


def test_without_sequences_uses_each_users_items_shuffled(data):
    interactions, item_group = data
    bare = dataclasses.replace(interactions, sequences=[])
    sentences = item_sentences(bare, seed=0)
    assert len(sentences) == 40
    for user, sentence in enumerate(sentences):
        row = bare.matrix.indices[bare.matrix.indptr[user] : bare.matrix.indptr[user + 1]]
        assert sorted(map(int, sentence)) == sorted(row.tolist())
    assert sentences == item_sentences(bare, seed=0)
    assert sentences != item_sentences(bare, seed=1)
    vectors = _fit(bare).embeddings.vectors
    assert np.array_equal(vectors, _fit(bare).embeddings.vectors)
    assert _neighbour_purity(vectors, item_group) > 0.9


def test_long_sequences_are_cut_not_truncated(data, monkeypatch):
    interactions, _ = data
    monkeypatch.setattr(item2vec_module, "_MAX_SENTENCE", 4)
    long = dataclasses.replace(interactions, sequences=[np.arange(10)])
    assert item_sentences(long, seed=0) == [["0", "1", "2", "3"], ["4", "5", "6", "7"], ["8", "9"]]


def test_items_without_context_keep_a_random_vector(data, caplog):
    interactions, _ = data
    # item 0 is in no sequence, item 1 only in a one-item sequence
    sequences = [s[(s != 0) & (s != 1)] for s in interactions.sequences] + [np.array([1])]
    sparse = dataclasses.replace(interactions, sequences=sequences)
    with caplog.at_level(logging.WARNING, logger="embank.algorithms.item2vec"):
        table = _fit(sparse).embeddings
    assert table.n_rows == 30 and np.isfinite(table.vectors).all()
    assert "2 of 30 items" in caplog.text
    # drawn like gensim's start values: uniform in [-1, 1) / dim
    untrained = table.vectors[[0, 1]]
    assert np.abs(untrained).max() <= 1 / 16
    assert np.abs(table.vectors[2:]).max() > 1 / 16


def test_no_interactions_is_refused(data):
    interactions, _ = data
    empty = dataclasses.replace(
        interactions, matrix=sp.csr_matrix(interactions.matrix.shape), sequences=[]
    )
    with pytest.raises(DataError, match="no interactions"):
        _fit(empty)


def test_needs_interactions():
    with pytest.raises(DataError, match=r"'item2vec' needs data.interactions"):
        Item2Vec().fit(Dataset())


@pytest.mark.parametrize(
    "params", [{"dim": 0}, {"window": 0}, {"n_threads": 0}, {"learning_rate": 2}, {"sg": 1}]
)
def test_invalid_params_are_refused(params):
    with pytest.raises(pydantic.ValidationError):
        Item2Vec(params)


def test_every_param_has_help():
    assert all(field.description for field in Item2Vec.Params.model_fields.values())
