"""The recommendation task: exact figures on a hand-computed example, and its edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pydantic
import pytest
import scipy.sparse as sp

from embank.benchmarks import benchmarks
from embank.benchmarks.base import BenchmarkInputs
from embank.benchmarks.recommendation import Recommendation, RecommendationParams
from embank.data.interactions import Interactions
from embank.errors import DataError
from embank.vector_table import VectorTable

ITEMS = ["a", "b", "c", "d", "e"]
USERS = ["u1", "u2", "u3"]
TRAIN = {"u1": ["a"], "u2": ["b", "c"], "u3": ["a", "b"]}
HELD_OUT = {"u1": ["b", "d"], "u2": ["e"], "u3": ["d"]}


def interactions_of(train: dict[str, list[str]], items: list[str]) -> Interactions:
    users = sorted(train)
    rows = [users.index(u) for u in users for _ in train[u]]
    cols = [items.index(i) for u in users for i in train[u]]
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(items)))
    return Interactions(
        "user", "item", np.array(users, dtype=object), np.array(items, dtype=object), matrix
    )


def holdout_of(pairs: dict[str, list[str]]) -> pd.DataFrame:
    rows = [("user", u, "item", i) for u, items in pairs.items() for i in items]
    return pd.DataFrame(rows, columns=["src_entity", "src", "dst_entity", "dst"])


def co_embedded(items: dict[str, list[float]], users: dict[str, list[float]]) -> VectorTable:
    entities = ["item"] * len(items) + ["user"] * len(users)
    keys = list(items) + list(users)
    return VectorTable(
        np.array(entities), np.array(keys), np.array([*items.values(), *users.values()])
    )


@pytest.fixture
def tiny() -> tuple[VectorTable, BenchmarkInputs]:
    # Items on a line: u1 and u3 rank a > b > c > d > e, u2 the reverse.
    items = {"a": [5.0, 0.0], "b": [4.0, 0.0], "c": [3.0, 0.0], "d": [2.0, 0.0], "e": [1.0, 0.0]}
    users = {"u1": [1.0, 0.0], "u2": [-1.0, 0.0], "u3": [1.0, 0.0]}
    inputs = BenchmarkInputs(
        holdout=holdout_of(HELD_OUT), interactions=interactions_of(TRAIN, ITEMS)
    )
    return co_embedded(items, users), inputs


def figures(result) -> dict[str, tuple[float, float]]:
    return {f.name: (f.value, f.baseline) for f in result.figures}


def test_registered():
    assert benchmarks.get("recommendation") is Recommendation


def test_hand_computed_figures(tiny):
    table, inputs = tiny
    result = Recommendation({"k": [1, 2]}).run(table, inputs)
    got = figures(result)
    # Rankings after excluding training items, with the held-out items marked *:
    #   u1 (held b, d): b* c d* e    u2 (held e): e* d a    u3 (held d): c d* e
    ideal_2 = 1 + 1 / math.log2(3)
    assert got["recommendation.recall_at_1"][0] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert got["recommendation.recall_at_2"][0] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert got["recommendation.ndcg_at_1"][0] == pytest.approx((1 + 1 + 0) / 3)
    assert got["recommendation.ndcg_at_2"][0] == pytest.approx(
        (1 / ideal_2 + 1 + 1 / math.log2(3)) / 3
    )
    # Popularity (a: 2, b: 2, c: 1, d: 0, e: 0; ties to the first item):
    #   u1: b* c d* e                u2: a d e*             u3: c d* e
    assert got["recommendation.recall_at_1"][1] == pytest.approx((1 / 2 + 0 + 0) / 3)
    assert got["recommendation.recall_at_2"][1] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert got["recommendation.ndcg_at_1"][1] == pytest.approx((1 + 0 + 0) / 3)
    assert got["recommendation.ndcg_at_2"][1] == pytest.approx(
        (1 / ideal_2 + 0 + 1 / math.log2(3)) / 3
    )


def test_figure_metadata(tiny):
    table, inputs = tiny
    result = Recommendation({"seed": 4}).run(table, inputs)
    assert [f.name for f in result.figures] == [
        "recommendation.recall_at_10",
        "recommendation.ndcg_at_10",
        "recommendation.recall_at_50",
        "recommendation.ndcg_at_50",
    ]
    for figure in result.figures:
        assert figure.baseline_name == "popularity"
        assert figure.sample_size == 3 and figure.seed == 4
        assert figure.run_time_s is not None and figure.run_time_s >= 0
        assert figure.details["n_users"] == 3
        assert figure.details["n_items"] == 5
        assert figure.details["n_holdout_pairs"] == 4
        assert figure.details["scoring"] == "co-embedded, dot"
    # k beyond the number of items: every held-out item is found
    assert result.figures[0].value == 1.0
    assert result.params["from"] == "user" and result.params["k"] == [10, 50]


def test_cosine_ignores_vector_length_and_dot_does_not():
    items = {"a": [10.0, 1.0], "b": [0.0, 1.0]}
    users = {"u1": [0.1, 1.0]}
    inputs = BenchmarkInputs(
        holdout=holdout_of({"u1": ["b"]}), interactions=interactions_of({"u1": []}, ["a", "b"])
    )
    table = co_embedded(items, users)
    dot = Recommendation({"k": [1]}).run(table, inputs).figures[0].value
    cosine = Recommendation({"k": [1], "metric": "cosine"}).run(table, inputs).figures[0].value
    assert (dot, cosine) == (0.0, 1.0)


def _reference(
    scores: np.ndarray, train: dict[int, set[int]], held: dict[int, set[int]], k: int
) -> tuple[float, float]:
    """Recall@k and NDCG@k by the definition, one user at a time."""
    recalls, ndcgs = [], []
    for user, relevant in held.items():
        ranked = [i for i in np.argsort(-scores[user], kind="stable") if i not in train[user]][:k]
        gains = [1 / math.log2(rank + 2) for rank, i in enumerate(ranked) if i in relevant]
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
        recalls.append(sum(i in relevant for i in ranked) / len(relevant))
        ndcgs.append(sum(gains) / ideal)
    return float(np.mean(recalls)), float(np.mean(ndcgs))


@pytest.mark.parametrize("item_only", [False, True])
def test_matches_the_definition_on_random_data(item_only):
    rng = np.random.default_rng(0)
    n_users, n_items, dim = 60, 40, 6
    items = [f"i{j:02d}" for j in range(n_items)]
    users = [f"u{j:02d}" for j in range(n_users)]
    train = {u: set(rng.choice(n_items, rng.integers(1, 8), replace=False)) for u in range(n_users)}
    held = {}
    for u in range(n_users):
        free = np.setdiff1d(np.arange(n_items), sorted(train[u]))
        held[u] = set(rng.choice(free, rng.integers(1, 5), replace=False))
    item_vectors = rng.standard_normal((n_items, dim))
    user_vectors = rng.standard_normal((n_users, dim))
    inputs = BenchmarkInputs(
        holdout=holdout_of({users[u]: [items[i] for i in held[u]] for u in held}),
        interactions=interactions_of(
            {users[u]: [items[i] for i in train[u]] for u in train}, items
        ),
    )
    if item_only:
        table = VectorTable.single_entity("item", items, item_vectors)
        unit = item_vectors / np.linalg.norm(item_vectors, axis=1, keepdims=True)
        means = np.array([unit[sorted(train[u])].mean(axis=0) for u in range(n_users)])
        scores = means @ unit.T  # the positive scale of the mean does not change the ranking
    else:
        table = co_embedded(
            dict(zip(items, item_vectors, strict=True)), dict(zip(users, user_vectors, strict=True))
        )
        scores = user_vectors @ item_vectors.T
    got = figures(Recommendation({"k": [5, 10]}).run(table, inputs))
    for k in (5, 10):
        recall, ndcg = _reference(scores, train, held, k)
        assert got[f"recommendation.recall_at_{k}"][0] == pytest.approx(recall, abs=1e-6)
        assert got[f"recommendation.ndcg_at_{k}"][0] == pytest.approx(ndcg, abs=1e-6)
        popularity = np.zeros(n_items)
        for u in train:
            popularity[sorted(train[u])] += 1
        recall, ndcg = _reference(np.tile(popularity, (n_users, 1)), train, held, k)
        assert got[f"recommendation.recall_at_{k}"][1] == pytest.approx(recall, abs=1e-6)
        assert got[f"recommendation.ndcg_at_{k}"][1] == pytest.approx(ndcg, abs=1e-6)


def test_item_only_table_scores_users_by_their_training_items(tiny):
    _, inputs = tiny
    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 0.1], "d": [0.2, 1.0], "e": [2.0, 0.0]}
    table = VectorTable.single_entity("item", list(vectors), np.array(list(vectors.values())))
    result = Recommendation({"k": [1]}).run(table, inputs)
    assert result.figures[0].details["scoring"].startswith("item-only")
    # By cosine to the mean of the unit training vectors (training items excluded):
    #   u1 (a): e c d b, held b, d: miss    u2 (b, c): d a e, held e: miss
    #   u3 (a, b): d c e, held d: hit
    assert result.figures[0].value == pytest.approx((0 + 0 + 1) / 3)


def test_unusable_pairs_and_users_are_counted():
    items = {"a": [1.0], "b": [2.0], "c": [3.0]}
    users = {"u1": [1.0], "u2": [1.0]}  # u3 has no vector
    train = {"u1": ["a"], "u2": ["b"], "u3": ["a"]}
    held = {"u1": ["a", "c", "zz"], "u2": ["b"], "u3": ["c"]}  # a, b: in training; zz: no vector
    inputs = BenchmarkInputs(
        holdout=holdout_of(held), interactions=interactions_of(train, ["a", "b", "c", "zz"])
    )
    result = Recommendation({"k": [1]}).run(co_embedded(items, users), inputs)
    details = result.figures[0].details
    assert details["n_users"] == 1  # only u1 is left
    assert details["n_holdout_pairs_in_training"] == 2
    assert details["n_holdout_items_without_vector"] == 1
    assert details["n_users_skipped_no_vector"] == 1
    assert details["n_users_skipped_no_holdout_left"] == 1
    assert details["n_holdout_pairs"] == 2
    # u1 ranks c first (a is excluded): one of its two held-out items (zz cannot be ranked)
    assert result.figures[0].value == pytest.approx(0.5)


def test_max_users_takes_a_seeded_sample():
    rng = np.random.default_rng(1)
    items = [f"i{j}" for j in range(20)]
    users = [f"u{j:03d}" for j in range(100)]
    train = {u: [items[j] for j in rng.choice(20, 3, replace=False)] for u in users}
    held = {u: [i for i in items if i not in train[u]][:2] for u in users}
    inputs = BenchmarkInputs(holdout=holdout_of(held), interactions=interactions_of(train, items))
    table = co_embedded(
        dict(zip(items, rng.standard_normal((20, 4)), strict=True)),
        dict(zip(users, rng.standard_normal((100, 4)), strict=True)),
    )
    first = Recommendation({"k": [5], "max_users": 30}).run(table, inputs)
    again = Recommendation({"k": [5], "max_users": 30}).run(table, inputs)
    other = Recommendation({"k": [5], "max_users": 30, "seed": 1}).run(table, inputs)
    assert first.figures[0].sample_size == 30
    assert first.figures[0].details["n_users_sampled_out"] == 70
    assert first.figures[0].value == again.figures[0].value
    assert first.figures[0].value != other.figures[0].value


def test_missing_inputs_are_refused(tiny):
    table, inputs = tiny
    with pytest.raises(DataError, match=r"needs holdout: add holdout: \{fraction"):
        Recommendation().run(table, BenchmarkInputs(interactions=inputs.interactions))
    with pytest.raises(DataError, match="needs the training interactions"):
        Recommendation().run(table, BenchmarkInputs(holdout=inputs.holdout))
    with pytest.raises(DataError, match="from 'user' to 'movie' needs interactions of those"):
        Recommendation({"to": "movie"}).run(table, inputs)
    with pytest.raises(DataError, match="no held-out"):
        Recommendation().run(
            table,
            BenchmarkInputs(holdout=inputs.holdout.iloc[:0], interactions=inputs.interactions),
        )


def test_params_parse_from_the_spec_form():
    params = RecommendationParams.model_validate({"k": [10], "from": "user", "to": "item"})
    assert (params.k, params.from_, params.to, params.metric) == ([10], "user", "item", "dot")
    assert RecommendationParams(from_="account").from_ == "account"
    assert Recommendation(params).params.from_ == "user"
    assert RecommendationParams.model_validate({"k": [50, 10]}).k == [10, 50]
    assert all(f.description for f in RecommendationParams.model_fields.values())
    for bad in ({"k": [0]}, {"k": []}, {"k": [10, 10]}, {"metric": "l2"}, {"topk": 3}):
        with pytest.raises(pydantic.ValidationError):
            RecommendationParams.model_validate(bad)
