"""The link_prediction task: exact figures on hand-computed graphs, sampling, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydantic
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from embank.benchmarks import benchmarks
from embank.benchmarks.base import BenchmarkInputs
from embank.benchmarks.link_prediction import LinkPrediction, _negatives, rank_metrics
from embank.data.graph import Graph
from embank.errors import DataError
from embank.progress import RecordingProgress
from embank.vector_table import VectorTable


def graph_of(nodes: list[str], edges: list[tuple[str, str]], directed: bool = False) -> Graph:
    index = {key: i for i, key in enumerate(nodes)}
    rows = [index[s] for s, _ in edges] + ([] if directed else [index[d] for _, d in edges])
    cols = [index[d] for _, d in edges] + ([] if directed else [index[s] for s, _ in edges])
    n = len(nodes)
    adjacency = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return Graph("user", np.array(nodes, dtype=object), adjacency, directed=directed)


def holdout_of(edges: list[tuple[str, str]], entity: str = "user") -> pd.DataFrame:
    rows = [(entity, s, entity, d) for s, d in edges]
    return pd.DataFrame(rows, columns=["src_entity", "src", "dst_entity", "dst"])


def table_of(vectors: dict[str, list[float]]) -> VectorTable:
    return VectorTable.single_entity("user", list(vectors), np.array(list(vectors.values())))


def figures(result) -> dict[str, tuple[float, float, float]]:
    """{metric: (value, degree baseline, random vectors)}."""
    return {
        f.name.split(".", 1)[1]: (f.value, f.baseline, f.details["random"]) for f in result.figures
    }


# A path a-b-c-d-e for training; a-c and b-d held out. Known pairs: the path and the
# held-out edges, so the non-edges are a-d, a-e, b-e, c-e. Each held-out edge is ranked
# from both ends against every node the asking end has no known edge to:
#   a asks for c against d, e    c asks for a against e
#   b asks for d against e       d asks for b against a
NODES = ["a", "b", "c", "d", "e"]
TRAIN = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]
HELD_OUT = [("a", "c"), ("b", "d")]
VECTORS = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [2.0, 0.0], "d": [1.0, 1.0], "e": [3.0, 0.0]}


@pytest.fixture
def path() -> BenchmarkInputs:
    return BenchmarkInputs(holdout=holdout_of(HELD_OUT), graph=graph_of(NODES, TRAIN))


def test_registered():
    assert benchmarks.get("link_prediction") is LinkPrediction
    assert LinkPrediction.name == "link_prediction"


def test_hand_computed_dot_figures_and_degree_baseline(path):
    result = LinkPrediction({"metric": "dot", "k": 1, "negatives": 3}).run(table_of(VECTORS), path)
    got = figures(result)
    # dot:  a.c = 2 vs a.d = 1, a.e = 3  -> rank 2 (one above)
    #       c.a = 2 vs c.e = 6           -> rank 2
    #       b.d = 1 vs b.e = 0           -> rank 1
    #       d.b = 1 vs d.a = 1           -> a tie: rank (1 + 2) / 2 = 1.5
    assert got["mrr"][0] == pytest.approx((1 / 2 + 1 / 2 + 1 + 1 / 1.5) / 4)
    assert got["hits_at_1"][0] == pytest.approx(1 / 4)
    # AUC over the 5 (positive, negative) pairs: won a-d, b-e; tied d-a; lost a-e, c-e.
    assert got["auc"][0] == pytest.approx((1 + 1 + 0.5) / 5)
    # Degree in training: a 1, b 2, c 2, d 2, e 1; score deg(u) * deg(w):
    #   a: c 2 vs d 2, e 1 -> rank 1.5     c: a 2 vs e 2 -> rank 1.5
    #   b: d 4 vs e 2      -> rank 1       d: b 4 vs a 2 -> rank 1
    assert got["mrr"][1] == pytest.approx((2 / 3 + 2 / 3 + 1 + 1) / 4)
    assert got["hits_at_1"][1] == pytest.approx(2 / 4)
    assert got["auc"][1] == pytest.approx((1.5 + 0.5 + 1 + 1) / 5)


def test_hand_computed_cosine_figures(path):
    got = figures(LinkPrediction({"k": 1, "negatives": 3}).run(table_of(VECTORS), path))
    # cosine: a, c and e point the same way; d and b are 45 degrees from a, c, e or 90.
    #   a: c 1 vs d 0.71, e 1 -> rank 1.5     c: a 1 vs e 1 -> rank 1.5
    #   b: d 0.71 vs e 0      -> rank 1       d: b 0.71 vs a 0.71 -> rank 1.5
    assert got["mrr"][0] == pytest.approx((2 / 3 + 2 / 3 + 1 + 2 / 3) / 4)
    assert got["hits_at_1"][0] == pytest.approx(1 / 4)
    assert got["auc"][0] == pytest.approx((1.5 + 0.5 + 1 + 0.5) / 5)


def test_figure_metadata(path):
    result = LinkPrediction({"seed": 3, "metric": "dot"}).run(table_of(VECTORS), path)
    assert [f.name for f in result.figures] == [
        "link_prediction.mrr",
        "link_prediction.hits_at_10",
        "link_prediction.auc",
    ]
    for figure in result.figures:
        assert figure.baseline_name == "degree"
        assert figure.sample_size == 2 and figure.seed == 3
        assert figure.run_time_s is not None and figure.run_time_s >= 0
        details = figure.details
        assert (details["n_edges"], details["n_rankings"], details["n_holdout_edges"]) == (2, 4, 2)
        assert details["scoring"] == "dot" and details["negatives"] == 100
        assert details["mean_negatives"] == pytest.approx(5 / 4)
        assert 0.0 <= details["random"] <= 1.0
    assert result.params == {
        "seed": 3,
        "negatives": 100,
        "max_edges": 3000,
        "k": 10,
        "metric": "dot",
    }


def test_directed_edges_rank_the_target_against_nodes_the_source_does_not_reach():
    # a -> b -> c -> d -> a and b -> d; a -> c held out. a reaches b (and c), so its
    # negative is d alone, although d -> a is an edge: direction matters.
    graph = graph_of(
        ["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("b", "d")], True
    )
    inputs = BenchmarkInputs(holdout=holdout_of([("a", "c")]), graph=graph)
    table = table_of({"a": [1.0], "b": [5.0], "c": [1.0], "d": [2.0]})
    result = LinkPrediction({"metric": "dot"}).run(table, inputs)
    got = figures(result)
    assert result.figures[0].details["n_rankings"] == 1  # from the source only
    assert got["mrr"][0] == pytest.approx(1 / 2)  # a.c = 1 < a.d = 2
    assert got["auc"][0] == 0.0
    # out-degree(a) 1 times in-degree: c 1, d 2 -> d ranks above c
    assert got["mrr"][1] == pytest.approx(1 / 2)


def _reference(graph: Graph, held: list[tuple[int, int]], scores: np.ndarray, k: int):
    """MRR, Hits@k and AUC by the definition, every non-edge a negative, one loop each."""
    known = set(zip(*graph.adjacency.nonzero(), strict=True)) | set(held)
    if not graph.directed:
        known |= {(v, u) for u, v in known}
    rankings = held if graph.directed else held + [(v, u) for u, v in held]
    reciprocal, hits, won, pairs = [], [], 0.0, 0
    for u, v in rankings:
        negatives = [w for w in range(graph.n_nodes) if w != u and (u, w) not in known]
        above = sum(scores[u, w] > scores[u, v] for w in negatives)
        tied = sum(scores[u, w] == scores[u, v] for w in negatives)
        rank = 1 + above + tied / 2
        reciprocal.append(1 / rank)
        hits.append(rank <= k)
        won += len(negatives) - above - tied / 2
        pairs += len(negatives)
    return np.mean(reciprocal), np.mean(hits), won / pairs


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("metric", ["dot", "cosine"])
def test_matches_the_definition_on_random_graphs(directed, metric):
    rng = np.random.default_rng(1)
    n = 40
    upper = np.triu(rng.random((n, n)) < 0.15, k=1)
    src, dst = np.nonzero(upper)
    if directed:
        flip = rng.random(src.size) < 0.5
        src, dst = np.where(flip, dst, src), np.where(flip, src, dst)
    edges = list(zip(src.tolist(), dst.tolist(), strict=True))
    held = edges[::7]
    train = [e for e in edges if e not in set(held)]
    nodes = [f"n{i:02d}" for i in range(n)]
    graph = graph_of(nodes, [(nodes[s], nodes[d]) for s, d in train], directed)
    if metric == "dot":  # small integers: exact scores, and many of them tie
        vectors = rng.integers(-2, 3, (n, 5)).astype(float)
    else:  # no ties: float32 cosines need not tie where float64 ones do
        vectors = rng.standard_normal((n, 5))
    inputs = BenchmarkInputs(
        holdout=holdout_of([(nodes[s], nodes[d]) for s, d in held]), graph=graph
    )
    table = VectorTable.single_entity("user", nodes, vectors)
    result = LinkPrediction({"metric": metric, "negatives": n, "k": 5}).run(table, inputs)
    got = figures(result)

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scored = unit if metric == "cosine" else vectors
    expected = _reference(graph, held, scored @ scored.T, 5)
    assert [got[m][0] for m in ("mrr", "hits_at_5", "auc")] == pytest.approx(expected, abs=1e-6)
    out_degree = np.diff(graph.adjacency.indptr)
    in_degree = np.bincount(graph.adjacency.indices, minlength=n)
    degree = np.outer(out_degree, in_degree if directed else out_degree).astype(float)
    expected = _reference(graph, held, degree, 5)
    assert [got[m][1] for m in ("mrr", "hits_at_5", "auc")] == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 30),
    density=st.floats(0.0, 1.0),
    n_negatives=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_negatives_are_distinct_unknown_candidates(n, density, n_negatives, seed):
    rng = np.random.default_rng(seed)
    known = sp.csr_matrix((rng.random((n, n)) < density).astype(np.int8))
    candidates = np.flatnonzero(rng.random(n) < 0.8)
    if candidates.size == 0:
        candidates = np.array([0])
    query = rng.choice(candidates, size=8)
    negatives, mask = _negatives(known[query], candidates, query, n_negatives, rng)
    assert negatives.shape == mask.shape == (8, n_negatives)
    dense = known.toarray().astype(bool)
    for u, row, valid in zip(query, negatives, mask, strict=True):
        allowed = {int(w) for w in candidates if w != u and not dense[u, w]}
        chosen = row[valid].tolist()
        assert len(set(chosen)) == len(chosen) == min(len(allowed), n_negatives)
        assert set(chosen) <= allowed
        assert valid.tolist() == sorted(valid.tolist(), reverse=True)  # padding at the end


def test_negatives_are_uniform_over_the_allowed_nodes():
    known = sp.csr_matrix(([1], ([0], [1])), shape=(12, 12))  # 0 knows 1
    query = np.zeros(30_000, dtype=np.int64)
    rng = np.random.default_rng(0)
    negatives, mask = _negatives(known[query], np.arange(12), query, 3, rng)
    assert mask.all()
    counts = np.bincount(negatives.ravel(), minlength=12)
    assert counts[0] == counts[1] == 0
    expected = 30_000 * 3 / 10  # each of the 10 allowed nodes in 3 of 10 draws
    assert np.all(np.abs(counts[2:] - expected) < 0.04 * expected), counts  # ~4.5 sd


def test_rank_metrics_count_ties_as_half():
    positive = np.array([1.0, 1.0, np.nan])
    negative = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 0.0], [0.0, 1.0, 9.0]])
    mask = np.array([[True, True, True], [True, True, False], [True, True, True]])
    got = rank_metrics(positive, negative, mask, k=2)
    ranks = np.array([1 + 1 + 0.5, 1 + 0 + 1, 4.0])  # NaN scores lowest
    assert got["mrr"] == pytest.approx(np.mean(1 / ranks))
    assert got["hits_at_2"] == pytest.approx(1 / 3)
    assert got["auc"] == pytest.approx((1.5 + 1 + 0) / 8)


def test_max_edges_samples_seeded_and_deterministic():
    rng = np.random.default_rng(0)
    n = 200
    upper = np.triu(rng.random((n, n)) < 0.05, k=1)
    src, dst = np.nonzero(upper)
    nodes = [f"n{i:03d}" for i in range(n)]
    edges = [(nodes[s], nodes[d]) for s, d in zip(src, dst, strict=True)]
    inputs = BenchmarkInputs(holdout=holdout_of(edges[::5]), graph=graph_of(nodes, edges[1::5]))
    table = VectorTable.single_entity("user", nodes, rng.standard_normal((n, 8)))
    params = {"max_edges": 50, "negatives": 20, "seed": 7}
    first = LinkPrediction(params).run(table, inputs)
    second = LinkPrediction(params).run(table, inputs)
    assert figures(first) == figures(second)
    details = first.figures[0].details
    assert first.figures[0].sample_size == details["n_edges"] == 50
    assert details["n_edges_sampled_out"] == len(edges[::5]) - 50
    other = LinkPrediction({**params, "seed": 8}).run(table, inputs)
    assert figures(other) != figures(first)


def test_edges_without_vector_or_outside_the_graph_are_skipped_and_counted(path):
    holdout = holdout_of([*HELD_OUT, ("a", "zz"), ("b", "e")])  # zz: not in the graph
    vectors = {key: value for key, value in VECTORS.items() if key != "e"}  # e: no vector
    inputs = BenchmarkInputs(holdout=holdout, graph=path.graph)
    result = LinkPrediction({"metric": "dot", "k": 1}).run(table_of(vectors), inputs)
    details = result.figures[0].details
    assert details["n_edges_skipped_not_in_graph"] == 1
    assert details["n_edges_skipped_no_vector"] == 1
    assert details["n_edges"] == 2 and details["n_holdout_edges"] == 4
    # Without e, and with b-e a known edge, the candidates are a, b, c, d:
    #   a asks for c against d: 2 vs 1 -> rank 1     c asks for a: no negative left
    #   b asks for d: no negative left                d asks for b against a: a tie, 1.5
    assert details["n_rankings_skipped_no_negative"] == 2
    assert figures(result)["mrr"][0] == pytest.approx((1 + 1 / 1.5) / 2)


def test_held_out_edge_that_is_a_training_edge_is_skipped(path):
    inputs = BenchmarkInputs(holdout=holdout_of([*HELD_OUT, ("b", "a")]), graph=path.graph)
    result = LinkPrediction({"metric": "dot"}).run(table_of(VECTORS), inputs)
    assert result.figures[0].details["n_edges_skipped_in_training"] == 1
    assert result.figures[0].details["n_edges"] == 2


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (BenchmarkInputs(graph=graph_of(NODES, TRAIN)), r"needs held-out edges.*by: edge"),
        (BenchmarkInputs(holdout=holdout_of(HELD_OUT)), r"needs the training graph.*data.edges"),
        (
            BenchmarkInputs(holdout=holdout_of(HELD_OUT, "item"), graph=graph_of(NODES, TRAIN)),
            r"no held-out user-user edges",
        ),
    ],
)
def test_missing_inputs_are_refused(inputs, message):
    with pytest.raises(DataError, match=message):
        LinkPrediction().run(table_of(VECTORS), inputs)


def test_no_rankable_edge_and_no_vector_are_refused(path):
    with pytest.raises(DataError, match="none of the 2 held-out edges can be ranked"):
        LinkPrediction().run(table_of({"a": [1.0, 0.0], "b": [0.0, 1.0]}), path)
    items = VectorTable(np.array(["item"]), np.array(["a"]), np.array([[1.0]]))
    with pytest.raises(DataError, match="no rows of entity 'user'"):
        LinkPrediction().run(items, path)


@pytest.mark.parametrize(
    "params", [{"negatives": 0}, {"max_edges": 0}, {"metric": "l2"}, {"k": 0}, {"other": 1}]
)
def test_bad_params_are_rejected(params):
    with pytest.raises(pydantic.ValidationError):
        LinkPrediction(params)


def test_every_param_has_a_description():
    for name, field in LinkPrediction.Params.model_fields.items():
        assert field.description, name


def test_progress_reaches_its_total(path):
    progress = RecordingProgress()
    LinkPrediction().run(table_of(VECTORS), path, progress)
    assert progress.tasks and not progress.unfinished()
