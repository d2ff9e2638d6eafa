"""Edge hold-out for graphs: share, last edges kept, both directions gone, seeds, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from embank.data.edge_holdout import hold_out_edges
from embank.data.graph import Graph
from embank.data.select import select
from embank.errors import SpecError
from embank.spec.models import DataSpec, HoldoutSpec, SelectSpec

EDGE = HoldoutSpec(fraction=0.3, by="edge", seed=0)


def write_ring_with_chords(folder, n=30):
    """A ring of n nodes plus chords i -> i + 7: 2n undirected edges, every degree 4."""
    lines = ["src\tdst\tweight"]
    for i in range(n):
        lines.append(f"k{i:02d}\tk{(i + 1) % n:02d}\t{i + 1}")
        lines.append(f"k{i:02d}\tk{(i + 7) % n:02d}\t1")
    (folder / "e.tsv").write_text("\n".join(lines) + "\n")


def edges_spec(**edges):
    fields = {"entity": "user", "path": "e.tsv", "columns": {"weight": "weight"}, **edges}
    return DataSpec.model_validate({"edges": fields})


def entries(adjacency: sp.csr_matrix, keys: np.ndarray) -> dict[tuple[str, str], float]:
    coo = adjacency.tocoo()
    return {(keys[i], keys[j]): w for i, j, w in zip(coo.row, coo.col, coo.data, strict=True)}


def test_select_holds_out_edges_of_a_graph(tmp_path):
    write_ring_with_chords(tmp_path)
    full = select(edges_spec(), SelectSpec(), tmp_path).graph
    dataset = select(edges_spec(), SelectSpec(), tmp_path, holdout=EDGE)
    graph, held = dataset.graph, dataset.holdout

    assert list(held.columns) == ["src_entity", "src", "dst_entity", "dst"]
    assert set(held["src_entity"]) == set(held["dst_entity"]) == {"user"}
    assert len(held) == round(0.3 * 60) == 18
    assert (held["src"] < held["dst"]).all()  # one row per undirected edge
    assert held.equals(held.sort_values(["src", "dst"]).reset_index(drop=True))
    # the vocabulary is unchanged and every node keeps an edge
    assert graph.index_to_key.tolist() == full.index_to_key.tolist()
    assert np.diff(graph.adjacency.indptr).min() >= 1
    assert graph.adjacency.has_sorted_indices
    assert (graph.adjacency != graph.adjacency.T).nnz == 0
    # held-out edges are gone in both directions; everything else is kept, weights too
    training = entries(graph.adjacency, graph.index_to_key)
    before = entries(full.adjacency, full.index_to_key)
    pairs = set(zip(held["src"], held["dst"], strict=True))
    gone = pairs | {(d, s) for s, d in pairs}
    assert not gone & set(training)
    assert training == {pair: w for pair, w in before.items() if pair not in gone}

    lineage = dataset.lineage
    assert lineage["edges"]["holdout"] == {
        "fraction": 0.3,
        "by": "edge",
        "seed": 0,
        "n_edges": 60,
        "n_wanted": 18,
        "n_held_out": 18,
    }
    assert lineage["n_edges"] == graph.n_edges == full.n_edges - 2 * 18


def test_seeded_and_reproducible(tmp_path):
    write_ring_with_chords(tmp_path)

    def held(seed):
        holdout = HoldoutSpec(fraction=0.3, by="edge", seed=seed)
        frame = select(edges_spec(), SelectSpec(), tmp_path, holdout=holdout).holdout
        return list(zip(frame["src"], frame["dst"], strict=True))

    assert held(0) == held(0)
    assert held(0) != held(1)


def test_directed_graph_keeps_direction(tmp_path):
    write_ring_with_chords(tmp_path)
    dataset = select(edges_spec(directed=True), SelectSpec(), tmp_path, holdout=EDGE)
    graph, held = dataset.graph, dataset.holdout
    assert graph.directed and len(held) == 18
    training = set(entries(graph.adjacency, graph.index_to_key))
    pairs = set(zip(held["src"], held["dst"], strict=True))
    assert not pairs & training
    assert len(training) == 60 - 18  # the reverse of a held-out edge was never an edge
    ring = {f"k{i:02d}": f"k{(i + 1) % 30:02d}" for i in range(30)}
    chord = {f"k{i:02d}": f"k{(i + 7) % 30:02d}" for i in range(30)}
    assert all(ring[s] == d or chord[s] == d for s, d in pairs)  # as given, not reversed


def test_fraction_is_cut_short_rather_than_take_a_last_edge(tmp_path):
    (tmp_path / "e.tsv").write_text("src\tdst\tweight\na\tb\t1\nb\tc\t1\nc\td\t1\n")
    holdout = HoldoutSpec(fraction=0.9, by="edge", seed=0)
    dataset = select(edges_spec(), SelectSpec(), tmp_path, holdout=holdout)
    counts = dataset.lineage["edges"]["holdout"]
    assert (counts["n_edges"], counts["n_wanted"]) == (3, 3)
    # a path a-b-c-d: only b-c can go (a and d have one edge each)
    assert counts["n_held_out"] == len(dataset.holdout) <= 1
    assert np.diff(dataset.graph.adjacency.indptr).min() >= 1


def test_self_loops_are_never_held_out():
    adjacency = sp.csr_matrix(np.array([[1.0, 1, 1], [1, 0, 1], [1, 1, 1]]))
    graph = Graph("user", np.array(["a", "b", "c"], dtype=object), adjacency)
    for seed in range(10):
        spec = HoldoutSpec(fraction=0.5, by="edge", seed=seed)
        training, held, lineage = hold_out_edges(graph, spec)
        assert lineage["n_edges"] == 3  # a-b, a-c, b-c
        assert (held["src"] != held["dst"]).all()
        assert training.adjacency[0, 0] == training.adjacency[2, 2] == 1.0


@st.composite
def graphs(draw):
    n = draw(st.integers(2, 25))
    directed = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    dense = rng.random((n, n)) < draw(st.floats(0.05, 0.9))
    np.fill_diagonal(dense, False)
    if not directed:
        dense = np.triu(dense, 1)
        dense = dense | dense.T
    keys = np.array([f"n{i:02d}" for i in range(n)], dtype=object)
    adjacency = sp.csr_matrix(dense.astype(float) * rng.integers(1, 5, (n, n)))
    if not directed:
        adjacency = sp.csr_matrix(np.maximum(adjacency.toarray(), adjacency.toarray().T))
    return Graph("user", keys, adjacency, directed=directed)


@settings(max_examples=60, deadline=None)
@given(graph=graphs(), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 100))
def test_property_no_node_loses_its_last_edge(graph, fraction, seed):
    spec = HoldoutSpec(fraction=fraction, by="edge", seed=seed)
    training, held, lineage = hold_out_edges(graph, spec)
    dense, trained = graph.adjacency.toarray(), training.adjacency.toarray()
    touched = (dense != 0).any(axis=0) | (dense != 0).any(axis=1)
    still = (trained != 0).any(axis=0) | (trained != 0).any(axis=1)
    assert np.array_equal(touched, still)
    n_edges = int((dense != 0).sum()) // (1 if graph.directed else 2)
    assert lineage["n_edges"] == n_edges
    assert lineage["n_wanted"] == round(fraction * n_edges)
    assert len(held) == lineage["n_held_out"] <= lineage["n_wanted"]
    # the hold-out takes what it asked for unless only kept edges were left
    index = {key: i for i, key in enumerate(graph.index_to_key)}
    src = held["src"].map(index).to_numpy(int)
    dst = held["dst"].map(index).to_numpy(int)
    assert (trained[src, dst] == 0).all() and (dense[src, dst] != 0).all()
    if not graph.directed:
        assert (src < dst).all() and (trained[dst, src] == 0).all()
    removed = dense.copy()
    removed[src, dst] = 0
    if not graph.directed:
        removed[dst, src] = 0
    assert np.array_equal(removed, trained)  # nothing else changed
    assert training.index_to_key is graph.index_to_key


def test_fraction_is_respected_on_a_larger_graph():
    rng = np.random.default_rng(0)
    n = 2000
    upper = sp.triu(sp.random(n, n, density=0.01, random_state=rng, format="csr"), k=1)
    upper.data[:] = 1.0
    adjacency = (upper + upper.T).tocsr()
    keys = np.array([f"n{i:04d}" for i in range(n)], dtype=object)
    graph = Graph("user", keys, adjacency)
    _, held, lineage = hold_out_edges(graph, HoldoutSpec(fraction=0.1, by="edge", seed=0))
    assert lineage["n_held_out"] == lineage["n_wanted"] == round(0.1 * upper.nnz) == len(held)


@pytest.mark.parametrize("by", ["user", "time"])
def test_by_user_or_time_on_a_graph_names_the_allowed_value(tmp_path, by):
    write_ring_with_chords(tmp_path)
    with pytest.raises(SpecError, match=r"by: edge only: set holdout: \{fraction: 0.2, by: edge"):
        select(edges_spec(), SelectSpec(), tmp_path, holdout=HoldoutSpec(fraction=0.2, by=by))
    with pytest.raises(SpecError, match="by: edge"):
        hold_out_edges(
            Graph("user", np.array(["a", "b"], dtype=object), sp.csr_matrix(np.eye(2)[::-1])),
            HoldoutSpec(fraction=0.2, by=by),
        )


def test_holdout_without_edges_or_interactions_is_refused(tmp_path):
    (tmp_path / "t.tsv").write_text("key\ttext\na\thello\n")
    data = DataSpec.model_validate({"text": {"entity": "item", "path": "t.tsv"}})
    with pytest.raises(SpecError, match=r"data.interactions .* or data.edges \(by: edge\)"):
        select(data, SelectSpec(), tmp_path, holdout=EDGE)


def test_interactions_take_the_holdout_when_both_are_given(tmp_path):
    write_ring_with_chords(tmp_path)
    (tmp_path / "i.tsv").write_text("user\titem\nk00\tx\nk00\ty\nk01\tx\nk01\ty\n")
    data = DataSpec.model_validate(
        {
            "edges": {"entity": "user", "path": "e.tsv"},
            "interactions": {
                "src": "user",
                "dst": "item",
                "path": "i.tsv",
                "columns": {"src": "user", "dst": "item"},
            },
        }
    )
    holdout = HoldoutSpec(fraction=0.5, by="user", seed=0)
    dataset = select(data, SelectSpec(), tmp_path, holdout=holdout)
    assert set(dataset.holdout["dst_entity"]) == {"item"}
    assert "holdout" not in dataset.lineage["edges"]
