"""The one small dataset every registered algorithm is fitted on, holding every part.

Two communities run through all of it: users u00-u29 / u30-u59 (a planted-partition
graph), each mostly interacting with, liking and describing the first or second half of
the items. Each part's (entity, key) set differs from every other part's, so
the suite can tell from a fitted table which part an algorithm embedded:

- ``graph``: the 60 users;
- ``interactions``: the 60 users x items i00-i29 (the interacted catalogue), with
  one time-ordered sequence per user;
- ``relations``: ``follows`` (user -> user, the graph's edges) and ``likes``
  (user -> item) over the 60 users and all 40 items;
- ``texts``: all 40 items;
- ``features``: the first 50 users (not everyone filled in a profile).

``tiny_parts`` holds each part with two keys, ``empty_parts`` each with none.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embank.data.attributes import Features, Texts
from embank.data.graph import Dataset, Graph
from embank.data.interactions import Interactions
from embank.data.relations import MultiGraph, Relation

N_USERS = 60
N_ITEMS = 40
N_INTERACTED_ITEMS = 30
N_PROFILED_USERS = 50

_TOPICS = (
    ["space", "rocket", "orbit", "galaxy", "alien", "planet", "comet", "star"],
    ["soup", "bread", "pasta", "curry", "salad", "cake", "noodle", "stew"],
)
_FORMS = (["voyage to the", "mystery of the", "last"], ["recipes for", "cooking", "easy"])


def _keys(prefix: str, n: int) -> np.ndarray:
    # zero-padded, so that the bytewise order is the numeric order
    return np.array([f"{prefix}{i:02d}" for i in range(n)], dtype=object)


def _community(n: int) -> np.ndarray:
    return (np.arange(n) >= n // 2).astype(np.int64)


def _planted_graph(rng: np.random.Generator) -> Graph:
    group = _community(N_USERS)
    upper = np.triu(rng.random((N_USERS, N_USERS)), k=1)
    p = np.where(group[:, None] == group[None, :], 0.3, 0.02)
    src, dst = np.nonzero((upper > 0) & (upper < p))
    adjacency = sp.coo_matrix(
        (np.ones(2 * len(src)), (np.r_[src, dst], np.r_[dst, src])), shape=(N_USERS, N_USERS)
    ).tocsr()
    assert adjacency.getnnz(axis=1).min() > 0, "a planted node came out isolated"
    return Graph("user", _keys("u", N_USERS), adjacency)


def _interactions(rng: np.random.Generator) -> Interactions:
    user_group = _community(N_USERS)
    half = N_INTERACTED_ITEMS // 2
    sequences, rows, cols = [], [], []
    for user in range(N_USERS):
        own = rng.choice(half, size=5, replace=False) + half * user_group[user]
        other = rng.integers(N_INTERACTED_ITEMS, size=1)
        sequence = rng.permutation(np.unique(np.r_[own, other])).astype(np.int64)
        sequences.append(sequence)
        rows += [user] * len(sequence)
        cols += sequence.tolist()
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(N_USERS, N_INTERACTED_ITEMS))
    assert matrix.getnnz(axis=0).min() >= 2, "an item has fewer than two interactions"
    return Interactions(
        "user",
        "item",
        _keys("u", N_USERS),
        _keys("i", N_INTERACTED_ITEMS),
        matrix,
        sequences,
    )


def _relations(graph: Graph, rng: np.random.Generator) -> MultiGraph:
    upper = sp.triu(graph.adjacency, k=1).tocoo()
    flip = rng.random(upper.nnz) < 0.5  # each friendship is one follow, either way
    follows = Relation(
        "follows",
        "user",
        "user",
        np.where(flip, upper.col, upper.row).astype(np.int64),
        np.where(flip, upper.row, upper.col).astype(np.int64),
        np.ones(upper.nnz),
    )
    # each user likes four items of its community's half; together they cover every item
    group = _community(N_USERS)
    half = N_ITEMS // 2
    rank = np.arange(N_USERS) % (N_USERS // 2)
    src = np.repeat(np.arange(N_USERS), 4)
    dst = (half * group[src] + (rank[src] + 5 * np.tile(np.arange(4), N_USERS)) % half).astype(
        np.int64
    )
    likes = Relation("likes", "user", "item", src, dst, np.ones(len(src)))
    return MultiGraph(
        keys={"user": _keys("u", N_USERS), "item": _keys("i", N_ITEMS)},
        relations={"follows": follows, "likes": likes},
    )


def _texts(rng: np.random.Generator) -> Texts:
    texts = []
    for group in _community(N_ITEMS):
        words = rng.choice(_TOPICS[group], size=2, replace=False)
        texts.append(f"{rng.choice(_FORMS[group])} {words[0]} and {words[1]}")
    return Texts("item", _keys("i", N_ITEMS), texts)


_FEATURE_GROUPS = {
    "community": ["a", "b"],
    "country": ["de", "fr", "jp", "us"],
    "plan": ["free", "pro", "team"],
}


def _features(rng: np.random.Generator, n: int) -> Features:
    columns: list[str] = []
    groups: dict[str, list[int]] = {}
    blocks = []
    community = _community(N_USERS)[:n]
    for group, values in _FEATURE_GROUPS.items():
        groups[group] = list(range(len(columns), len(columns) + len(values)))
        columns += [f"{group}={value}" for value in values]
        chosen = community if group == "community" else rng.integers(len(values), size=n)
        blocks.append(np.eye(len(values))[chosen])
    for name, values in (
        ("age", rng.normal(35, 10, n) + 5 * community),
        ("n_follows", rng.poisson(8, n)),
    ):
        groups[name] = [len(columns)]
        columns.append(name)
        blocks.append(np.asarray(values, dtype=np.float64)[:, None])
    matrix = sp.csr_matrix(np.hstack(blocks), dtype=np.float32)
    return Features("user", _keys("u", n), matrix, columns, groups)


@pytest.fixture(scope="session")
def contract_dataset() -> Dataset:
    """The shared dataset: every part, about 60 users and 40 items."""
    rng = np.random.default_rng(0)
    graph = _planted_graph(rng)
    return Dataset(
        graph=graph,
        interactions=_interactions(rng),
        relations=_relations(graph, rng),
        texts=_texts(rng),
        features=_features(rng, N_PROFILED_USERS),
    )


@pytest.fixture(scope="session")
def tiny_parts() -> dict[str, object]:
    """Each part with two keys (two users, two items): smaller than dim 8."""
    two = _keys("u", 2)
    pair = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    ones = np.ones(2)
    return {
        "graph": Graph("user", two, pair),
        "interactions": Interactions(
            "user",
            "item",
            two,
            _keys("i", 2),
            sp.csr_matrix(np.ones((2, 2))),
            [np.array([0, 1]), np.array([1, 0])],
        ),
        "relations": MultiGraph(
            keys={"user": two, "item": _keys("i", 2)},
            relations={
                "follows": Relation(
                    "follows", "user", "user", np.array([0]), np.array([1]), ones[:1]
                ),
                "likes": Relation(
                    "likes", "user", "item", np.array([0, 1]), np.array([1, 0]), ones
                ),
            },
        ),
        "texts": Texts("item", _keys("i", 2), ["voyage to the stars", "easy bread"]),
        "features": _features(np.random.default_rng(1), 2),
    }


@pytest.fixture(scope="session")
def empty_parts() -> dict[str, object]:
    """Each part with zero keys and zero rows."""
    none = np.array([], dtype=object)
    no_ids = np.array([], dtype=np.int64)
    features = _features(np.random.default_rng(1), 0)
    return {
        "graph": Graph("user", none, sp.csr_matrix((0, 0))),
        "interactions": Interactions("user", "item", none, none, sp.csr_matrix((0, 0)), []),
        "relations": MultiGraph(
            keys={"user": none, "item": none},
            relations={
                "follows": Relation("follows", "user", "user", no_ids, no_ids, np.zeros(0)),
                "likes": Relation("likes", "user", "item", no_ids, no_ids, np.zeros(0)),
            },
        ),
        "texts": Texts("item", none, []),
        "features": features,
    }
