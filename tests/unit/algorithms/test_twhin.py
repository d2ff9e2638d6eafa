"""TwHIN on small synthetic multi-relation graphs: communities, operators, determinism, errors."""

from __future__ import annotations

import logging

import numpy as np
import pydantic
import pytest
import scipy.sparse as sp
import torch
from threadpoolctl import threadpool_limits

from embank.algorithms import NotFittedError, algorithms
from embank.algorithms.twhin import TwHIN, _in_batch_scores
from embank.data.graph import Dataset, Graph
from embank.data.interactions import Interactions
from embank.data.relations import MultiGraph, Relation
from embank.errors import DataError, ValidationError

N_USERS, N_ITEMS = 80, 40
FAST = {"dim": 16, "epochs": 10, "batch_size": 128, "n_threads": 1, "device": "cpu"}


def _keys(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}{i:03d}" for i in range(n)], dtype=object)


def _relation(name: str, src_entity: str, dst_entity: str, pairs: np.ndarray) -> Relation:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return Relation(name, src_entity, dst_entity, pairs[:, 0], pairs[:, 1], np.ones(len(pairs)))


def two_communities(seed: int = 0) -> tuple[MultiGraph, np.ndarray, np.ndarray]:
    """Users follow users and like items mostly inside their own half.

    Returns the graph and each user's and each item's community.
    """
    rng = np.random.default_rng(seed)
    user_block = np.arange(N_USERS) % 2
    item_block = np.arange(N_ITEMS) % 2

    def edges(n_dst: int, dst_block: np.ndarray, per_user: int) -> np.ndarray:
        pairs = []
        for user in range(N_USERS):
            inside = rng.random(per_user) < 0.9
            block = np.where(inside, user_block[user], 1 - user_block[user])
            for b in block:
                pairs.append((user, rng.choice(np.flatnonzero(dst_block == b))))
        return np.array(pairs)

    follows = edges(N_USERS, user_block, 8)
    follows = follows[follows[:, 0] != follows[:, 1]]
    likes = edges(N_ITEMS, item_block, 6)
    graph = MultiGraph(
        keys={"user": _keys("u", N_USERS), "item": _keys("i", N_ITEMS)},
        relations={
            "follows": _relation("follows", "user", "user", follows),
            "likes": _relation("likes", "user", "item", likes),
        },
    )
    return graph, user_block, item_block


def _margin(vectors: np.ndarray, blocks: np.ndarray) -> float:
    """Mean cosine within communities minus mean cosine across them."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = blocks[:, None] == blocks[None, :]
    np.fill_diagonal(same, False)
    return float(cosine[same].mean() - cosine[blocks[:, None] != blocks[None, :]].mean())


def _rows(table, entity: str) -> np.ndarray:
    return table.vectors[table.entities == entity]


@pytest.fixture(scope="module")
def graph_and_blocks():
    return two_communities()


def test_registered_under_its_name():
    assert algorithms.get("twhin") is TwHIN


def test_table_covers_every_entity_in_order(graph_and_blocks):
    graph, _, _ = graph_and_blocks
    table = TwHIN(FAST).fit(Dataset(relations=graph)).embeddings
    assert table.vectors.shape == (N_USERS + N_ITEMS, 16)
    assert table.vectors.dtype == np.float32
    assert np.isfinite(table.vectors).all()
    assert table.entities.tolist() == ["item"] * N_ITEMS + ["user"] * N_USERS
    assert table.keys.tolist() == [*_keys("i", N_ITEMS), *_keys("u", N_USERS)]


def test_planted_communities_are_recovered(graph_and_blocks):
    graph, user_block, item_block = graph_and_blocks
    params = {**FAST, "operator": "diagonal", "relation_operators": {"likes": "translation"}}
    table = TwHIN(params).fit(Dataset(relations=graph)).embeddings
    assert _margin(_rows(table, "user"), user_block) > 0.3
    assert _margin(_rows(table, "item"), item_block) > 0.3


@pytest.mark.parametrize("operator", ["identity", "diagonal", "translation"])
@pytest.mark.parametrize("comparator", ["dot", "cosine"])
@pytest.mark.parametrize("loss", ["softmax", "ranking"])
def test_every_operator_comparator_and_loss_trains(operator, comparator, loss, graph_and_blocks):
    graph, user_block, _ = graph_and_blocks
    params = {**FAST, "operator": operator, "comparator": comparator, "loss": loss}
    algorithm = TwHIN(params).fit(Dataset(relations=graph))
    vectors = algorithm.embeddings.vectors
    assert np.isfinite(vectors).all()
    assert _margin(_rows(algorithm.embeddings, "user"), user_block) > 0.2
    assert np.isfinite(algorithm.loss_)
    for name in ("follows", "likes"):
        stored = algorithm.relation_operators_[name]
        assert stored["operator"] == operator
        assert len(stored["params"]) == (0 if operator == "identity" else 16)
        assert np.isfinite(stored["params"]).all()
    if operator == "diagonal":  # learned, so no longer the ones it started from
        assert algorithm.relation_operators_["likes"]["params"] != [1.0] * 16


@pytest.mark.parametrize("uniform_negatives", [0, 50])
def test_in_batch_negatives_train_alone_or_mixed(uniform_negatives, graph_and_blocks):
    # 128-edge batches in groups of 50 leave a padded last group
    graph, user_block, item_block = graph_and_blocks
    params = {**FAST, "batch_negatives": 50, "uniform_negatives": uniform_negatives}
    table = TwHIN(params).fit(Dataset(relations=graph)).embeddings
    assert _margin(_rows(table, "user"), user_block) > 0.3
    assert _margin(_rows(table, "item"), item_block) > 0.2


def test_in_batch_scores_pair_each_edge_with_its_group_only():
    rng = np.random.default_rng(0)
    src = torch.from_numpy(rng.normal(size=(7, 4)))
    dst = torch.from_numpy(rng.normal(size=(7, 4)))
    by_dst, by_src = _in_batch_scores(src, dst, group=3)  # groups {0,1,2} {3,4,5} {6}
    assert by_dst.shape == by_src.shape == (7, 3)
    full = (src @ dst.T).numpy()
    for i in range(7):
        start = i // 3 * 3
        for column in range(3):
            j = start + column
            if j == i or j >= 7:
                assert by_dst[i, column] == by_src[i, column] == float("-inf")
            else:
                assert by_dst[i, column].item() == pytest.approx(full[i, j])
                assert by_src[i, column].item() == pytest.approx(full[j, i])


def test_operators_are_stored_per_relation(graph_and_blocks):
    graph, _, _ = graph_and_blocks
    params = {**FAST, "epochs": 1, "relation_operators": {"likes": "translation"}}
    stored = TwHIN(params).fit(Dataset(relations=graph)).relation_operators_
    assert stored["follows"] == {
        "operator": "identity",
        "src_entity": "user",
        "dst_entity": "user",
        "params": [],
    }
    assert stored["likes"]["operator"] == "translation"
    assert (stored["likes"]["src_entity"], stored["likes"]["dst_entity"]) == ("user", "item")


def test_unknown_relation_in_overrides_is_refused(graph_and_blocks):
    graph, _, _ = graph_and_blocks
    with pytest.raises(ValidationError, match=r"rates.*known relations: follows, likes"):
        TwHIN({**FAST, "relation_operators": {"rates": "diagonal"}}).fit(Dataset(relations=graph))


def test_same_seed_is_bit_identical_with_one_thread(graph_and_blocks):
    graph, _, _ = graph_and_blocks
    params = {**FAST, "epochs": 3, "operator": "diagonal", "seed": 5}
    first = TwHIN(params).fit(Dataset(relations=graph))
    second = TwHIN(params).fit(Dataset(relations=graph))
    assert np.array_equal(first.embeddings.vectors, second.embeddings.vectors)
    assert first.relation_operators_ == second.relation_operators_
    other = TwHIN({**params, "seed": 6}).fit(Dataset(relations=graph))
    assert not np.array_equal(first.embeddings.vectors, other.embeddings.vectors)


def test_default_workers_follow_a_one_thread_limit(graph_and_blocks):
    # n_threads 0 means torch's thread count, which threadpoolctl lowers
    graph, _, _ = graph_and_blocks
    params = {key: value for key, value in FAST.items() if key != "n_threads"}
    with threadpool_limits(1):
        first = TwHIN({**params, "epochs": 2}).fit(Dataset(relations=graph)).embeddings
        second = TwHIN({**params, "epochs": 2}).fit(Dataset(relations=graph)).embeddings
    assert np.array_equal(first.vectors, second.vectors)


def test_small_chunks_and_weights_train_too(graph_and_blocks):
    graph, user_block, _ = graph_and_blocks
    params = {**FAST, "chunk_edges": 100, "weighted": True}
    table = TwHIN(params).fit(Dataset(relations=graph)).embeddings
    assert _margin(_rows(table, "user"), user_block) > 0.3


def test_several_workers_train_side_by_side(graph_and_blocks):
    # HOGWILD workers: not bit-reproducible, but as good
    graph, user_block, item_block = graph_and_blocks
    table = TwHIN({**FAST, "n_threads": 2}).fit(Dataset(relations=graph)).embeddings
    assert _margin(_rows(table, "user"), user_block) > 0.3
    assert _margin(_rows(table, "item"), item_block) > 0.3


def test_thread_setting_is_restored(graph_and_blocks):
    graph, _, _ = graph_and_blocks
    before = torch.get_num_threads()
    TwHIN({**FAST, "epochs": 1, "n_threads": 1}).fit(Dataset(relations=graph))
    assert torch.get_num_threads() == before


def test_graph_fallback_is_one_relation_over_one_entity():
    rng = np.random.default_rng(1)
    blocks = np.repeat([0, 1], 50)
    probs = np.where(blocks[:, None] == blocks[None, :], 0.2, 0.01)
    upper = np.triu(rng.random((100, 100)) < probs, k=1)
    adjacency = sp.csr_matrix((upper | upper.T).astype(np.float64))
    graph = Graph(entity="node", index_to_key=_keys("n", 100), adjacency=adjacency)
    algorithm = TwHIN(FAST).fit(Dataset(graph=graph))
    table = algorithm.embeddings
    assert table.entity_names() == ["node"]
    assert table.keys.tolist() == _keys("n", 100).tolist()
    assert list(algorithm.relation_operators_) == ["edge"]
    assert _margin(table.vectors, blocks) > 0.3


def test_interactions_fallback_co_embeds_both_sides():
    # users 0-19 like items 0-9, users 20-39 like items 10-19
    rows, cols = [], []
    for user in range(40):
        for item in range(10):
            if (user + item) % 3:
                rows.append(user)
                cols.append(item + 10 * (user >= 20))
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(40, 20))
    interactions = Interactions("user", "item", _keys("u", 40), _keys("i", 20), matrix)
    algorithm = TwHIN(FAST).fit(Dataset(interactions=interactions))
    table = algorithm.embeddings
    assert table.entity_names() == ["item", "user"]
    assert table.n_rows == 60
    assert list(algorithm.relation_operators_) == ["interacts"]
    assert _margin(_rows(table, "user"), np.repeat([0, 1], 20)) > 0.3
    assert _margin(_rows(table, "item"), np.repeat([0, 1], 10)) > 0.3


def test_relations_win_over_the_other_parts(graph_and_blocks):
    graph, _, _ = graph_and_blocks
    adjacency = sp.csr_matrix(np.ones((3, 3)))
    other = Graph(entity="node", index_to_key=_keys("n", 3), adjacency=adjacency)
    table = TwHIN({**FAST, "epochs": 1}).fit(Dataset(graph=other, relations=graph)).embeddings
    assert table.entity_names() == ["item", "user"]


def test_missing_input_names_data_relations():
    with pytest.raises(DataError, match=r"data\.relations"):
        TwHIN(FAST).fit(Dataset())


def test_entity_without_edges_keeps_a_small_finite_vector():
    graph, _, _ = two_communities()
    keys = {**graph.keys, "tag": _keys("t", 5)}  # tags have keys but no relation
    table = TwHIN(FAST).fit(Dataset(relations=MultiGraph(keys, graph.relations))).embeddings
    tags = _rows(table, "tag")
    assert tags.shape == (5, 16) and np.isfinite(tags).all()
    assert np.abs(tags).max() < 0.01  # still at its N(0, 0.001^2) start
    assert np.abs(_rows(table, "user")).max() > 0.01


def test_relation_without_edges_is_skipped_with_a_warning(graph_and_blocks, caplog):
    graph, _, _ = graph_and_blocks
    empty = _relation("blocks", "user", "user", np.empty((0, 2)))
    relations = {**graph.relations, "blocks": empty}
    with caplog.at_level(logging.WARNING):
        algorithm = TwHIN({**FAST, "epochs": 1}).fit(
            Dataset(relations=MultiGraph(graph.keys, relations))
        )
    assert "'blocks' has no edges" in caplog.text
    assert "blocks" not in algorithm.relation_operators_


def test_no_edges_at_all_is_refused():
    graph = MultiGraph(
        keys={"user": _keys("u", 3)},
        relations={"follows": _relation("follows", "user", "user", np.empty((0, 2)))},
    )
    with pytest.raises(DataError, match="nothing to train on"):
        TwHIN(FAST).fit(Dataset(relations=graph))


@pytest.mark.parametrize(
    ("relation", "message"),
    [
        (_relation("follows", "user", "group", [[0, 1]]), "dst entity 'group' has no keys"),
        (_relation("follows", "user", "user", [[0, 3]]), r"dst ids must lie in \[0, 3\)"),
        (
            Relation("follows", "user", "user", np.array([0]), np.array([1]), np.array([-1.0])),
            "negative or not finite",
        ),
        (
            Relation("follows", "user", "user", np.array([0]), np.array([1]), np.array([np.nan])),
            "negative or not finite",
        ),
        (
            Relation("follows", "user", "user", np.array([0]), np.array([1]), np.array([np.inf])),
            "has 1 edge weights that are negative or not finite",
        ),
    ],
)
def test_unusable_edges_are_refused(relation, message):
    graph = MultiGraph(keys={"user": _keys("u", 3)}, relations={"follows": relation})
    with pytest.raises(DataError, match=message):
        TwHIN(FAST).fit(Dataset(relations=graph))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused(graph_and_blocks):
    graph, _, _ = graph_and_blocks
    with pytest.raises(ValidationError, match="no GPU"):
        TwHIN({**FAST, "device": "cuda"}).fit(Dataset(relations=graph))


def test_unfitted_result_raises():
    with pytest.raises(NotFittedError):
        _ = TwHIN().embeddings


@pytest.mark.parametrize(
    "params",
    [
        {"unknown": 1},
        {"dim": 0},
        {"epochs": 0},
        {"batch_size": 0},
        {"learning_rate": 0},
        {"operator": "bilinear"},
        {"relation_operators": {"likes": "complex"}},
        {"comparator": "l2"},
        {"loss": "logistic"},
        {"margin": -1},
        {"uniform_negatives": -1},
        {"batch_negatives": 0, "uniform_negatives": 0},
        {"chunk_edges": 0},
        {"device": "tpu"},
        {"n_threads": -1},
    ],
)
def test_bad_params_are_rejected(params):
    with pytest.raises(pydantic.ValidationError):
        TwHIN(params)


def test_every_param_has_a_description():
    for name, field in TwHIN.Params.model_fields.items():
        assert field.description, name
