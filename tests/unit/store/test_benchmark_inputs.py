"""Benchmark inputs stored with a version: read back equal, checksummed, optional."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import embank
from embank.benchmarks import BenchmarkInputs
from embank.data.attributes import Metadata
from embank.data.graph import Graph, Labels
from embank.data.select import select
from embank.errors import StorageError
from embank.spec.models import DataSpec, HoldoutSpec, SelectSpec
from embank.store import files
from embank.store import inputs as stored
from embank.vector_table import VectorTable


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _table_for(keys_by_entity, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    entities = [e for e, keys in keys_by_entity.items() for _ in keys]
    keys = [k for ks in keys_by_entity.values() for k in ks]
    return VectorTable(
        np.asarray(entities, dtype=object),
        np.asarray(keys, dtype=object),
        rng.standard_normal((len(keys), dim)),
    )


def _assert_csr_equal(a, b):
    a, b = a.tocsr(), b.tocsr()
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@pytest.fixture
def selected(tmp_path):
    """Interactions with times and sessions, a by-user hold-out, and user metadata."""
    rng = np.random.default_rng(3)
    rows = ["user\titem\tw\tts\tsess\n"]
    for u in range(30):
        for n in range(8):
            item = f"i{int(rng.integers(0, 25))}"
            rows.append(f"u{u}\t{item}\t{1 + n % 3}\t{u * 100 + n}\ts{u}-{n // 4}\n")
    rows.append("u0\tonly-once\t1\t99\ts0-9\n")  # an item that may be held out whole
    (tmp_path / "events.tsv").write_text("".join(rows))
    (tmp_path / "users.tsv").write_text(
        "user\tgender\tage\n"
        + "".join(f"u{u}\t{'FM'[u % 2]}\t{18 + u}\n" for u in range(30))
        + "ghost\tF\t40\n"
    )
    (tmp_path / "labels.tsv").write_text(
        "key\tlabel\n" + "".join(f"u{u}\t{'ab'[u % 2]}\n" for u in range(30))
    )
    data = DataSpec.model_validate(
        {
            "interactions": {
                "src": "user",
                "dst": "item",
                "path": "events.tsv",
                "columns": {
                    "src": "user",
                    "dst": "item",
                    "weight": "w",
                    "ts": "ts",
                    "session": "sess",
                },
            },
            "metadata": {
                "entity": "user",
                "path": "users.tsv",
                "columns": {"key": "user"},
                "categorical": ["gender"],
                "numeric": {"age": {"bins": [20, 30, 40]}},
            },
            "labels": {"entity": "user", "path": "labels.tsv"},
        }
    )
    holdout = HoldoutSpec(fraction=0.3, by="user", seed=0)
    return select(data, SelectSpec(dedupe="sum"), tmp_path, holdout=holdout)


def _inputs(dataset):
    return BenchmarkInputs(
        labels=dataset.labels,
        holdout=dataset.holdout,
        interactions=dataset.interactions,
        graph=dataset.graph,
        metadata=dataset.metadata,
    )


def test_interactions_metadata_labels_holdout_come_back_equal(tmp_path, selected):
    inter = selected.interactions
    table = _table_for({"user": list(inter.src_keys), "item": list(inter.dst_keys)})
    emb = embank.open(tmp_path / "bank").publish("demo/co", table, inputs=_inputs(selected))
    back = emb.benchmark_inputs()

    got = back.interactions
    assert (got.src_entity, got.dst_entity) == ("user", "item")
    assert list(got.src_keys) == list(inter.src_keys)
    assert list(got.dst_keys) == list(inter.dst_keys)
    _assert_csr_equal(got.matrix, inter.matrix)
    assert len(got.sequences) == len(inter.sequences) > 0
    for a, b in zip(got.sequences, inter.sequences, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.int64

    assert back.metadata.entity == "user"
    pd.testing.assert_frame_equal(
        back.metadata.frame, selected.metadata.frame.reset_index(drop=True), check_dtype=False
    )
    assert "ghost" not in set(back.metadata.frame["key"])  # only keys the table holds

    assert back.labels.label_sets() == selected.labels.label_sets()
    held = selected.holdout.reset_index(drop=True).astype(str)
    pd.testing.assert_frame_equal(back.holdout.astype(str), held, check_dtype=False)
    assert back.graph is None


def test_item_with_every_pair_held_out_keeps_its_column(tmp_path):
    matrix = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
    from embank.data.interactions import Interactions

    inter = Interactions(
        "user",
        "item",
        np.array(["u1", "u2"], dtype=object),
        np.array(["a", "b", "c"], dtype=object),  # "b" has no training pair
        matrix,
    )
    stored.write_interactions(tmp_path, inter)
    back = stored.read_interactions(tmp_path)
    assert list(back.dst_keys) == ["a", "b", "c"] and back.sequences == []
    _assert_csr_equal(back.matrix, matrix)


def test_graph_round_trip_directed_isolated_and_unicode(tmp_path):
    keys = np.asarray(sorted(["a", "b", "z", "é", "ü", "lonely"], key=str.encode), dtype=object)
    n = len(keys)
    dense = np.zeros((n, n))
    dense[0, 1], dense[1, 0], dense[2, 4], dense[4, 2], dense[5, 0] = 1.0, 2.5, 0.5, 1.0, 3.0
    lonely = list(keys).index("lonely")
    dense[lonely, :] = 0.0
    dense[:, lonely] = 0.0
    graph = Graph("user", keys, sp.csr_matrix(dense), directed=True)
    stored.write_graph(tmp_path, graph)
    back = stored.read_graph(tmp_path)
    assert back.entity == "user" and back.directed is True
    assert list(back.index_to_key) == list(keys)
    _assert_csr_equal(back.adjacency, graph.adjacency)


def test_graph_from_select_comes_back_equal(tmp_path):
    (tmp_path / "edges.tsv").write_text(
        "src\tdst\tw\n" + "".join(f"n{i}\tn{(i * 7) % 23}\t{1 + i % 4}\n" for i in range(60))
    )
    data = DataSpec.model_validate(
        {
            "edges": {
                "entity": "node",
                "path": "edges.tsv",
                "columns": {"src": "src", "dst": "dst", "weight": "w"},
            }
        }
    )
    dataset = select(data, SelectSpec(), tmp_path)
    table = _table_for({"node": list(dataset.graph.index_to_key)})
    emb = embank.open(tmp_path / "bank").publish("demo/g", table, inputs=_inputs(dataset))
    back = emb.benchmark_inputs().graph
    assert list(back.index_to_key) == list(dataset.graph.index_to_key)
    assert back.directed == dataset.graph.directed
    _assert_csr_equal(back.adjacency, dataset.graph.adjacency)
    frame = pd.read_parquet(emb.folder / stored.GRAPH)
    assert list(frame.columns) == ["entity", "src", "dst", "weight", "directed"]
    assert len(frame) == dataset.graph.n_edges  # one row per stored entry


def test_stored_sha256_in_manifest_and_lineage(tmp_path, selected):
    inter = selected.interactions
    table = _table_for({"user": list(inter.src_keys), "item": list(inter.dst_keys)})
    emb = embank.open(tmp_path / "bank").publish(
        "demo/co", table, inputs=_inputs(selected), lineage={"note": "kept"}
    )
    manifest = json.loads((emb.folder / files.MANIFEST).read_text())
    lineage = emb.version_info.lineage
    assert lineage["note"] == "kept"
    names = {
        files.ATTRIBUTES,
        files.HOLDOUT,
        stored.METADATA,
        stored.INTERACTIONS,
        stored.SEQUENCES,
    }
    assert set(lineage["benchmark_inputs"]) == names
    assert set(emb.stored_inputs()) == names
    for name in names:
        digest = _sha256(emb.folder / name)
        assert manifest["files"][name]["sha256"] == digest
        assert lineage["benchmark_inputs"][name]["sha256"] == digest
    assert emb.verify() == []


def test_changed_stored_input_is_refused(tmp_path, selected):
    inter = selected.interactions
    table = _table_for({"user": list(inter.src_keys), "item": list(inter.dst_keys)})
    emb = embank.open(tmp_path / "bank").publish("demo/co", table, inputs=_inputs(selected))
    path = emb.folder / stored.METADATA
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(StorageError, match=r"metadata\.parquet"):
        emb.benchmark_inputs()
    assert emb.verify() == [stored.METADATA]


def test_publish_without_inputs_still_works(tmp_path):
    bank = embank.open(tmp_path)
    table = _table_for({"user": [f"k{i}" for i in range(10)]})
    emb = bank.publish("demo/old", table)
    assert "benchmark_inputs" not in emb.version_info.lineage
    back = emb.benchmark_inputs()
    assert (back.labels, back.holdout, back.graph, back.interactions, back.metadata) == (
        (None,) * 5
    )
    assert emb.stored_inputs() == []
    # labels alone (the old keyword) still land in attributes.parquet, now checksummed
    labels = Labels("user", pd.DataFrame({"key": ["k1", "k2"], "label": ["a", "b"]}))
    again = bank.publish("demo/old", table, labels=labels)
    assert again.labels().label_sets() == {"k1": ["a"], "k2": ["b"]}
    assert list(again.version_info.lineage["benchmark_inputs"]) == [files.ATTRIBUTES]


def test_explicit_labels_take_the_place_of_those_in_inputs(tmp_path):
    table = _table_for({"user": ["a", "b"]})
    mine = Labels("user", pd.DataFrame({"key": ["a"], "label": ["x"]}))
    theirs = Labels("user", pd.DataFrame({"key": ["b"], "label": ["y"]}))
    metadata = Metadata("user", pd.DataFrame({"key": ["a", "b"], "tier": ["gold", "free"]}))
    emb = embank.open(tmp_path).publish(
        "demo/t", table, labels=mine, inputs=BenchmarkInputs(labels=theirs, metadata=metadata)
    )
    back = emb.benchmark_inputs()
    assert back.labels.label_sets() == {"a": ["x"]}
    assert list(back.metadata.frame["tier"]) == ["gold", "free"]


def test_metadata_column_named_entity_does_not_clash(tmp_path):
    frame = pd.DataFrame({"key": ["a", "b"], "entity": ["org", "person"], "n": [1.0, 2.5]})
    stored.write_metadata(tmp_path, Metadata("user", frame))
    back = stored.read_metadata(tmp_path)
    assert back.entity == "user"
    pd.testing.assert_frame_equal(back.frame, frame, check_dtype=False)
