import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embank.data.select import select
from embank.errors import DataError, EmptySelectionError
from embank.spec.models import DataSpec, SelectSpec


def write_edges(folder, lines, header="src\tdst\tweight"):
    (folder / "e.tsv").write_text("\n".join([header, *lines]) + "\n")


def data(**edges):
    fields = {"entity": "user", "path": "e.tsv", "columns": {"weight": "weight"}, **edges}
    return DataSpec.model_validate({"edges": fields})


def as_dict(graph):
    """{(src key, dst key): weight} of every stored entry."""
    coo = graph.adjacency.tocoo()
    keys = graph.index_to_key
    return {(keys[i], keys[j]): w for i, j, w in zip(coo.row, coo.col, coo.data, strict=True)}


def run(tmp_path, lines, select_spec=None, **edges):
    write_edges(tmp_path, lines)
    return select(data(**edges), select_spec or SelectSpec(), tmp_path).graph


def test_undirected_graph_is_symmetric_csr(tmp_path):
    graph = run(tmp_path, ["a\tb\t2", "b\tc\t1"])
    assert list(graph.index_to_key) == ["a", "b", "c"]
    assert graph.index_to_key.dtype == object
    assert graph.adjacency.dtype == np.float64
    assert graph.adjacency.has_sorted_indices
    assert (graph.adjacency != graph.adjacency.T).nnz == 0
    assert not graph.directed
    assert as_dict(graph) == {("a", "b"): 2, ("b", "a"): 2, ("b", "c"): 1, ("c", "b"): 1}


def test_directed_graph_keeps_direction(tmp_path):
    graph = run(tmp_path, ["a\tb\t1", "b\tc\t1"], directed=True)
    assert graph.directed
    assert as_dict(graph) == {("a", "b"): 1, ("b", "c"): 1}


def test_symmetrise_overrides_directed(tmp_path):
    graph = run(tmp_path, ["a\tb\t1"], SelectSpec(symmetrise=True), directed=True)
    assert not graph.directed
    assert as_dict(graph) == {("a", "b"): 1, ("b", "a"): 1}
    graph = run(tmp_path, ["a\tb\t1"], SelectSpec(symmetrise=False))
    assert as_dict(graph) == {("a", "b"): 1}


def test_self_loops(tmp_path):
    lines = ["a\ta\t5", "a\tb\t1"]
    assert as_dict(run(tmp_path, lines)) == {("a", "b"): 1, ("b", "a"): 1}
    kept = run(tmp_path, lines, SelectSpec(drop_self_loops=False))
    # A self-loop is not doubled by symmetrising.
    assert as_dict(kept) == {("a", "a"): 5, ("a", "b"): 1, ("b", "a"): 1}


@pytest.mark.parametrize(("dedupe", "expected"), [("sum", 7.0), ("max", 4.0), ("first", 3.0)])
def test_dedupe_combines_repeated_edges(tmp_path, dedupe, expected):
    lines = ["a\tb\t3", "a\tb\t4", "x\ty\t1"]
    graph = run(tmp_path, lines, SelectSpec(dedupe=dedupe), directed=True)
    assert as_dict(graph)[("a", "b")] == expected


@pytest.mark.parametrize(("dedupe", "expected"), [("sum", 4.0), ("max", 3.0), ("first", 1.0)])
def test_dedupe_after_symmetrise_stays_symmetric(tmp_path, dedupe, expected):
    graph = run(tmp_path, ["a\tb\t1", "b\ta\t3"], SelectSpec(dedupe=dedupe))
    assert as_dict(graph) == {("a", "b"): expected, ("b", "a"): expected}


def test_unweighted_gives_every_edge_one(tmp_path):
    graph = run(tmp_path, ["a\tb\t3", "b\tc\t7"], SelectSpec(weighted=False))
    assert set(as_dict(graph).values()) == {1.0}
    graph = run(tmp_path, ["a\tb\t3"], columns={})  # no weight column named
    assert set(as_dict(graph).values()) == {1.0}


def test_min_degree_is_one_pass(tmp_path):
    # Degrees: a 3, b 2, c 2, d 1 (distinct neighbours). min_degree 2 drops d; c then has
    # only b and a left but stays, as the filter runs once.
    lines = ["a\tb\t1", "a\tc\t1", "a\td\t1", "b\tc\t1"]
    graph = run(tmp_path, lines, SelectSpec(min_degree=2))
    assert list(graph.index_to_key) == ["a", "b", "c"]
    assert graph.n_edges == 6
    # Repeated edges count once: e has two rows to a but one neighbour.
    graph = run(tmp_path, [*lines, "e\ta\t1", "e\ta\t1"], SelectSpec(min_degree=2))
    assert "e" not in list(graph.index_to_key)


def test_top_n_breaks_ties_by_key(tmp_path):
    # Star around h (degree 4) and a triangle x, y, z (degree 2 each) plus leaves (1).
    lines = ["h\tl1\t1", "h\tl2\t1", "h\tl3\t1", "h\tx\t1", "x\ty\t1", "y\tz\t1", "z\tx\t1"]
    # x has degree 3; y and z tie at 2 and y wins by key.
    graph = run(tmp_path, lines, SelectSpec(top_n=3))
    assert list(graph.index_to_key) == ["h", "x", "y"]
    assert as_dict(graph) == {
        ("h", "x"): 1,
        ("x", "h"): 1,
        ("x", "y"): 1,
        ("y", "x"): 1,
    }


def test_keys_isolated_by_top_n_are_dropped(tmp_path):
    lines = ["a\tb\t1", "a\tc\t1", "d\te\t1", "d\tf\t1", "x\ty\t1"]
    # a and d have degree 2: both kept, but not linked to each other.
    with pytest.raises(EmptySelectionError, match="the top_n step removed the last edge"):
        run(tmp_path, lines, SelectSpec(top_n=2))


def test_vocabulary_is_sorted_bytewise(tmp_path):
    lines = ["é\tz\t1", "Z\ta\t1", "10\t9\t1", "z\t2\t1", "ü\té\t1"]
    graph = run(tmp_path, lines)
    expected = sorted(["é", "z", "Z", "a", "10", "9", "2", "ü"], key=lambda k: k.encode())
    assert list(graph.index_to_key) == expected == ["10", "2", "9", "Z", "a", "z", "é", "ü"]
    assert graph.key_to_index["é"] == 6


def test_integer_ids_are_text_keys(tmp_path):
    pq.write_table(pa.table({"src": [0, 1, 2], "dst": [1, 2, 10]}), tmp_path / "e.parquet")
    spec = DataSpec.model_validate({"edges": {"entity": "user", "path": "e.parquet"}})
    graph = select(spec, SelectSpec(), tmp_path).graph
    assert list(graph.index_to_key) == ["0", "1", "10", "2"]


def test_labels_keep_keys_in_the_graph(tmp_path):
    write_edges(tmp_path, ["a\tb\t1", "b\tc\t1"])
    (tmp_path / "labels.tsv").write_text("node\ttopic\na\tx\na\tx\na\ty\nc\t3\nq\tx\nr\ty\nr\tz\n")
    spec = DataSpec.model_validate(
        {
            "edges": {"entity": "user", "path": "e.tsv"},
            "labels": {
                "entity": "user",
                "path": "labels.tsv",
                "columns": {"key": "node", "label": "topic"},
            },
        }
    )
    dataset = select(spec, SelectSpec(), tmp_path)
    labels = dataset.labels
    assert labels.entity == "user"
    assert labels.n_skipped == 2  # q and r
    assert list(labels.pairs.columns) == ["key", "label"]
    assert labels.pairs.to_dict("records") == [
        {"key": "a", "label": "x"},
        {"key": "a", "label": "y"},
        {"key": "c", "label": "3"},
    ]
    assert labels.label_sets() == {"a": ["x", "y"], "c": ["3"]}
    assert dataset.lineage["labels"]["n_keys_skipped"] == 2
    assert dataset.lineage["labels"]["rows"] == {"read": 7, "distinct_pairs": 6, "kept": 3}


def test_labels_of_another_entity_are_refused(tmp_path):
    write_edges(tmp_path, ["a\tb\t1"])
    (tmp_path / "labels.tsv").write_text("key\tlabel\na\tx\n")
    spec = DataSpec.model_validate(
        {
            "edges": {"entity": "user", "path": "e.tsv"},
            "labels": {"entity": "item", "path": "labels.tsv"},
        }
    )
    with pytest.raises(DataError, match=r"data\.labels: entity 'item' is not embedded by"):
        select(spec, SelectSpec(), tmp_path)


def test_lineage_counts_each_step(tmp_path):
    write_edges(tmp_path, ["a\ta\t1", "a\tb\t1", "b\ta\t1", "b\tc\t1", "c\td\t1"])
    dataset = select(data(), SelectSpec(min_degree=2), tmp_path)
    lineage = dataset.lineage
    assert lineage["edges"]["path"] == "e.tsv"
    assert lineage["edges"]["files"][0]["path"] == str(tmp_path / "e.tsv")
    assert lineage["edges"]["rows"] == {
        "read": 5,
        "after_drop_self_loops": 4,
        "after_symmetrise": 8,
        "after_dedupe": 6,
        "after_min_degree": 2,  # only b and c have two neighbours
    }
    assert lineage["select"]["symmetrise"] is True
    assert lineage["n_nodes"] == 2
    assert lineage["n_edges"] == 2
    json.dumps(lineage)


def test_relative_path_from_another_cwd(tmp_path, monkeypatch):
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    write_edges(spec_dir, ["a\tb\t1"])
    monkeypatch.chdir(tmp_path)
    assert select(data(), SelectSpec(), spec_dir).graph.n_edges == 2


@pytest.mark.parametrize(
    ("lines", "select_spec", "step"),
    [
        (["a\ta\t1", "b\tb\t1"], SelectSpec(), "drop_self_loops"),
        (["a\tb\t1", "c\td\t1"], SelectSpec(min_degree=2), "min_degree"),
        ([], SelectSpec(), None),
    ],
)
def test_empty_selection_names_the_step(tmp_path, lines, select_spec, step):
    with pytest.raises(EmptySelectionError) as error:
        run(tmp_path, lines, select_spec)
    text = str(error.value)
    assert text.startswith(f"selection left no edges: data.edges has {len(lines)} rows, ")
    assert f"min_degree={select_spec.min_degree}" in text
    if step:
        assert text.endswith(f"the {step} step removed the last edge")
    else:
        assert "the source has no rows" in text


def test_source_errors_propagate(tmp_path):
    with pytest.raises(DataError, match=r"data\.edges: no file matches"):
        select(data(), SelectSpec(), tmp_path)


# --- real data ---------------------------------------------------------------------------


@pytest.mark.realdata
def test_blogcatalog_tsv_and_mat_agree(shared_data):
    folder = shared_data / "blogcatalog"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    tsv = DataSpec.model_validate(
        {
            "edges": {
                "entity": "user",
                "path": str(folder / "edges.tsv.gz"),
                "columns": {"src": "src", "dst": "dst", "weight": "weight"},
            },
            "labels": {
                "entity": "user",
                "path": str(folder / "labels.tsv"),
                "columns": {"key": "node", "label": "label"},
            },
        }
    )
    options = SelectSpec(symmetrise=True, drop_self_loops=True, min_degree=1)
    start = time.perf_counter()
    dataset = select(tsv, options, folder)
    elapsed_s = time.perf_counter() - start
    graph = dataset.graph
    assert graph.n_nodes == 10_312
    assert graph.n_edges == 667_966
    assert (graph.adjacency != graph.adjacency.T).nnz == 0
    assert set(np.unique(graph.adjacency.data)) == {1.0}
    assert len(dataset.labels.pairs) == 14_476
    assert dataset.labels.n_skipped == 0
    assert elapsed_s < 30

    mat = DataSpec.model_validate(
        {
            "edges": {"entity": "user", "path": "blogcatalog.mat", "mat_key": "network"},
            "labels": {"entity": "user", "path": "blogcatalog.mat", "mat_key": "group"},
        }
    )
    from_mat = select(mat, options, folder)
    assert list(from_mat.graph.index_to_key) == list(graph.index_to_key)
    assert (from_mat.graph.adjacency != graph.adjacency).nnz == 0
    assert from_mat.labels.pairs.equals(dataset.labels.pairs)
