"""Drift figures on hand-made cases, the chunked exact search, and the seed floor."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from embank.data.graph import Dataset, Graph
from embank.errors import ValidationError
from embank.refresh import (
    DriftReport,
    drift,
    eigenspace_overlap,
    neighbors,
    seed_floor,
    support_from_dataset,
)
from embank.refresh.neighbors import top_k
from embank.vector_table import VectorTable


def _noisy(table: VectorTable, scale: float, seed: int = 1) -> VectorTable:
    noise = np.random.default_rng(seed).standard_normal(table.vectors.shape).astype(np.float32)
    return VectorTable(table.entities, table.keys, table.vectors + scale * noise)


def test_identical_tables_do_not_drift(table):
    support = np.arange(table.n_rows) % 100
    report = drift(table, table, support)
    assert report["drift.coverage.kept"] == table.n_rows
    assert report["drift.coverage.added"] == report["drift.coverage.dropped"] == 0
    assert report["drift.coverage.kept_fraction"] == 1.0
    assert report["drift.coverage.node.kept"] == table.n_rows
    assert report["drift.overlap_at_10.median"] == 1.0
    assert report["drift.overlap_at_10.p10"] == 1.0
    assert report["drift.overlap_at_10.n_queries"] == 2000
    assert report["drift.cosine_distance.median"] == pytest.approx(0.0, abs=1e-7)
    assert report["drift.cosine_distance.p99"] == pytest.approx(0.0, abs=1e-7)
    assert report["drift.procrustes_residual"] == pytest.approx(0.0, abs=1e-6)
    assert report["drift.eigenspace_overlap"] == pytest.approx(1.0, abs=1e-9)
    buckets = ["support_0_1", "support_1_5", "support_5_50", "support_50_inf"]
    counts = [report[f"drift.overlap_at_10.{b}.n"] for b in buckets]
    assert sum(counts) == 2000 and all(count > 0 for count in counts)
    assert report["drift.overlap_at_10.support_50_inf.median"] == 1.0


def test_coverage_counts_added_and_dropped_keys_per_entity(make):
    previous = VectorTable(
        np.array(["item"] * 30 + ["user"] * 50, dtype=object),
        np.concatenate([make.keys(30), make.keys(50)]),
        make.clustered(80, 8),
    )
    # 5 items dropped, 3 added; 10 users dropped, none added; rows reordered
    items = np.r_[np.arange(5, 30)]
    users = np.arange(30, 70)
    rows = np.r_[users[::-1], items]
    entities = np.concatenate([previous.entities[rows], ["item"] * 3]).astype(object)
    keys = np.concatenate([previous.keys[rows], ["new0", "new1", "new2"]]).astype(object)
    vectors = np.vstack([previous.vectors[rows], make.clustered(3, 8, seed=4)])
    report = drift(previous, VectorTable(entities, keys, vectors))
    assert report["drift.coverage.item.kept"] == 25
    assert report["drift.coverage.item.added"] == 3
    assert report["drift.coverage.item.dropped"] == 5
    assert report["drift.coverage.user.kept"] == 40
    assert report["drift.coverage.user.added"] == 0
    assert report["drift.coverage.user.dropped"] == 10
    assert report["drift.coverage.kept"] == 65
    assert report["drift.coverage.kept_fraction"] == pytest.approx(65 / 80)
    # the kept rows are unchanged, whatever their order
    assert report["drift.overlap_at_10.median"] == 1.0
    assert report["drift.cosine_distance.p99"] == pytest.approx(0.0, abs=1e-7)


def test_drift_grows_with_noise(table):
    reports = [drift(table, _noisy(table, scale), n_queries=500) for scale in (0.05, 0.2, 0.8)]
    overlap = [r["drift.overlap_at_10.median"] for r in reports]
    cosine = [r["drift.cosine_distance.median"] for r in reports]
    residual = [r["drift.procrustes_residual"] for r in reports]
    eigen = [r["drift.eigenspace_overlap"] for r in reports]
    assert overlap[0] > overlap[1] > overlap[2]
    assert 0 < cosine[0] < cosine[1] < cosine[2]
    assert residual[0] < residual[1] < residual[2]
    assert eigen[0] >= eigen[1] >= eigen[2]


def test_a_rotated_copy_drifts_only_before_alignment(table, make):
    rotated = VectorTable(table.entities, table.keys, table.vectors @ make.rotation(table.dim))
    report = drift(table, rotated, n_queries=300)
    assert report["drift.overlap_at_10.median"] == 1.0  # neighbours ignore rotations
    assert report["drift.cosine_distance.median"] < 1e-6  # measured after aligning
    assert report["drift.procrustes_residual"] < 1e-6
    assert report["drift.procrustes_residual_unaligned"] > 0.5
    assert report["drift.eigenspace_overlap"] == pytest.approx(1.0, abs=1e-9)


def test_eigenspace_overlap_ignores_invertible_maps_and_sees_other_spaces(make):
    x = make.clustered(500, 8).astype(np.float64)
    mixing = np.random.default_rng(2).standard_normal((8, 8)) + 3 * np.eye(8)
    assert eigenspace_overlap(x, x @ mixing) == pytest.approx(1.0, abs=1e-9)
    unrelated = np.random.default_rng(3).standard_normal((500, 8))
    assert eigenspace_overlap(x, unrelated) < 0.1


def test_figure_names_fit_gates_and_the_report_is_json(table):
    support = {key: 10 for key in table.keys}
    report = drift(table, _noisy(table, 0.1), support, k=5, n_queries=100, seed=3)
    segment = re.compile(r"^[a-z][a-z0-9_]*$")
    for name in report.figures:
        assert name.startswith("drift.") and all(segment.match(s) for s in name.split(".")), name
    assert "drift.overlap_at_5.median" in report.figures
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert DriftReport.from_dict(json.loads(text)) == report
    assert report.settings["k"] == 5 and report.settings["seed"] == 3
    with pytest.raises(KeyError, match=r"drift\.coverage\.kept"):
        report["drift.nope"]


def test_the_sample_is_seeded(table):
    noisy = _noisy(table, 0.3)
    first = drift(table, noisy, n_queries=200, seed=7)
    assert drift(table, noisy, n_queries=200, seed=7).figures == first.figures
    assert drift(table, noisy, n_queries=200, seed=8).figures != first.figures


def test_bad_arguments_are_refused(table):
    with pytest.raises(ValidationError, match="metric"):
        drift(table, table, metric="l2")
    with pytest.raises(ValidationError, match="dim"):
        drift(table, VectorTable.single_entity("node", table.keys, table.vectors[:, :4]))


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_chunked_top_k_is_exact(make, monkeypatch, metric):
    vectors = make.clustered(700, 6, seed=11)
    candidates = np.random.default_rng(0).permutation(700)[:650]
    queries = np.array([0, 3, 100, 649])
    monkeypatch.setattr(neighbors, "_MAX_SCORES", 200)  # many small chunks
    got = top_k(vectors, candidates, queries, 7, metric)
    x = vectors[candidates].astype(np.float64)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    scores = x[queries] @ x.T
    scores[np.arange(len(queries)), queries] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(got, expected)


def test_support_from_a_graph_counts_edges_per_key(make):
    import scipy.sparse as sp

    adjacency = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=float))
    graph = Graph("node", np.array(["a", "b", "c"], dtype=object), adjacency)
    table = VectorTable.single_entity("node", ["c", "a", "z"], np.zeros((3, 2), np.float32))
    np.testing.assert_array_equal(support_from_dataset(Dataset(graph=graph), table), [1, 2, 0])


def test_seed_floor_compares_two_cold_fits(table):
    def fit(dataset, seed):
        return _noisy(table, 0.2, seed=seed)

    floor = seed_floor(fit, Dataset(), seeds=(0, 1), n_queries=200)
    assert floor.settings["seeds"] == [0, 1]
    assert 0 < floor["drift.cosine_distance.median"] < 0.1
    assert floor["drift.overlap_at_10.median"] < 1.0
    with pytest.raises(ValidationError, match="two different seeds"):
        seed_floor(fit, Dataset(), seeds=(1, 1))


def test_support_from_interactions_and_relations_counts_per_entity():
    import scipy.sparse as sp

    from embank.data.interactions import Interactions
    from embank.data.relations import MultiGraph, Relation

    users = np.array(["u1", "u2"], dtype=object)
    items = np.array(["i1", "i2", "i3"], dtype=object)
    matrix = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 3.0, 0.0]]))
    table = VectorTable(
        np.array(["item"] * 3 + ["user"] * 2, dtype=object),
        np.concatenate([items, users]),
        np.zeros((5, 2), np.float32),
    )
    inter = Interactions("user", "item", users, items, matrix)
    np.testing.assert_array_equal(
        support_from_dataset(Dataset(interactions=inter), table), [1, 2, 0, 2, 1]
    )
    likes = Relation("likes", "user", "item", np.array([0, 0, 1]), np.array([2, 2, 0]), np.ones(3))
    follows = Relation("follows", "user", "user", np.array([0]), np.array([1]), np.ones(1))
    relations = MultiGraph({"user": users, "item": items}, {"likes": likes, "follows": follows})
    np.testing.assert_array_equal(
        support_from_dataset(Dataset(relations=relations), table), [1, 0, 2, 3, 2]
    )
