"""Recall measurement, tuning to a target, the report, and build_index end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embank.ann import (
    EXACT_BELOW_ROWS,
    ExactIndex,
    HnswlibIndex,
    IndexReport,
    build_index,
    choose_kind,
    index_kinds,
    measure_recall,
    tune,
)
from embank.errors import MissingExtraError, UnknownPluginError, ValidationError
from embank.progress import RecordingProgress

pytest.importorskip("hnswlib")


class FixedAnswers:
    """An 'index' that returns given rows: recall of known answers, worked by hand."""

    kind = "fixed"
    knob = None
    metric = "dot"

    def __init__(self, rows: np.ndarray, n_rows: int, dim: int) -> None:
        self.rows, self.n_rows, self.dim = rows, n_rows, dim
        self.params: dict = {}

    def search(self, queries, k, **_):
        return self.rows[:, :k], np.zeros(self.rows[:, :k].shape, np.float32)


def test_recall_matches_brute_force(vectors, queries):
    exact = ExactIndex(vectors, "dot")
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    answers = truth.copy()
    rng = np.random.default_rng(0)
    n_wrong = rng.integers(0, 6, len(queries))  # replace the last n_wrong of each answer
    for i, n in enumerate(n_wrong):
        if n:
            answers[i, 10 - n :] = np.setdiff1d(np.arange(len(vectors)), truth[i])[:n]
    answers[0, 9] = -1  # a missing answer is a miss
    n_wrong[0] = max(n_wrong[0], 1)
    recall = measure_recall(FixedAnswers(answers, *vectors.shape), exact, queries, k=10)
    assert recall == pytest.approx(1 - n_wrong.mean() / 10)


def test_recall_counts_ties_with_the_kth_row():
    vectors = np.array([[3.0, 0], [2.0, 0], [1.0, 0], [1.0, 0], [0.0, 1]], np.float32)
    exact = ExactIndex(vectors, "dot")
    query = np.array([[1.0, 0]], np.float32)
    # rows 2 and 3 tie for third place: either one is right
    for third in (2, 3):
        index = FixedAnswers(np.array([[0, 1, third]]), 5, 2)
        assert measure_recall(index, exact, query, k=3) == 1.0
    assert measure_recall(FixedAnswers(np.array([[0, 1, 4]]), 5, 2), exact, query, k=3) == (
        pytest.approx(2 / 3)
    )


def test_tune_reaches_target_with_the_smallest_setting(vectors):
    index = HnswlibIndex.build(vectors, "cosine", {"M": 4, "ef_construction": 16})
    exact = ExactIndex(vectors, "cosine")
    report = tune(index, exact, target=0.98, n_queries=300, build_s=1.5)
    assert report.reached_target and report.recall_at_10 >= 0.98
    assert index.ef == report.ef  # the index keeps the chosen setting
    assert measure_recall(index, exact, vectors[:300], exclude=[{i} for i in range(300)]) > 0.9
    tried = dict(report.steps)
    assert tried[report.ef] >= 0.98
    assert all(recall < 0.98 for value, recall in tried.items() if value < report.ef)
    assert report.n_queries == 300 and report.build_s == 1.5
    assert report.query_ms > 0 and report.queries_per_s > 0
    assert IndexReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_tune_reports_a_missed_target(vectors):
    index = HnswlibIndex.build(vectors, "cosine", {"M": 2, "ef_construction": 8})
    index.knob_bounds = lambda k: (k, k)  # type: ignore[method-assign]
    report = tune(index, ExactIndex(vectors, "cosine"), target=1.0, n_queries=200)
    assert report.ef == 10 and report.recall_at_10 < 1.0
    assert not report.reached_target


def test_tune_refuses_mismatched_indexes(vectors):
    index = HnswlibIndex.build(vectors[:100], "cosine")
    with pytest.raises(ValidationError, match="same rows"):
        tune(index, ExactIndex(vectors, "cosine"))
    with pytest.raises(ValidationError, match="target"):
        tune(index, ExactIndex(vectors[:100], "cosine"), target=1.5)


def test_choose_kind():
    assert choose_kind(EXACT_BELOW_ROWS - 1) == "exact"
    assert choose_kind(EXACT_BELOW_ROWS) == "hnswlib"
    pytest.importorskip("faiss")
    assert choose_kind(EXACT_BELOW_ROWS, memory_tight=True) == "ivfpq"


def test_build_index_auto_tunes_and_reports_progress(vectors):
    progress = RecordingProgress()
    index, report = build_index(vectors, "dot", target_recall=0.9, n_queries=200, progress=progress)
    assert index.kind == "exact" and report.recall_at_10 == 1.0 and report.reached_target
    assert progress.tasks and not progress.unfinished()

    params = {"hnswlib": {"M": 8, "ef_construction": 32}}
    monkey_small = {"kind": "hnswlib", "params": params["hnswlib"]}
    index, report = build_index(
        vectors, "cosine", target_recall=0.95, n_queries=200, progress=progress, **monkey_small
    )
    assert report.kind == "hnswlib" and report.recall_at_10 >= 0.95
    assert report.params == {"M": 8, "ef_construction": 32, "ef": report.ef, "seed": 0}
    assert not progress.unfinished()


def test_build_index_errors(vectors, monkeypatch):
    with pytest.raises(UnknownPluginError, match="hnswlib"):
        build_index(vectors, "cosine", kind="annoy")
    with pytest.raises(ValidationError, match="metric"):
        build_index(vectors, "l2")
    with pytest.raises(ValidationError, match="n x dim"):
        build_index(vectors[0], "dot")
    with pytest.raises(ValidationError, match="M"):
        build_index(vectors, "dot", kind="hnswlib", params={"M": 0})
    monkeypatch.setitem(__import__("sys").modules, "faiss", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"embank\[faiss\]"):
        build_index(vectors, "dot", kind="ivfpq")
    assert choose_kind(10**6, memory_tight=True) == "hnswlib"


def test_registry_knows_the_built_in_kinds():
    assert {"exact", "hnswlib", "faiss-hnsw", "ivfpq"} <= set(index_kinds.names())


def test_every_kind_param_has_help():
    for name in index_kinds.names():
        for field_name, field in index_kinds.get(name).Params.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"
