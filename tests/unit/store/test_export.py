"""Exports other tools read: Parquet types, word2vec text, the TensorBoard projector folder.

The CLI's export command (npy shape, w2v header) is covered in tests/integration/test_cli.py.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import embank
from embank.data.graph import Labels
from embank.errors import UsageError, ValidationError
from embank.store import export as export_module
from embank.store.export import EXPORT_FORMATS, export
from embank.vector_table import VectorTable


def _table(n=40, dim=6, seed=0, entity="user"):
    rng = np.random.default_rng(seed)
    return VectorTable.single_entity(
        entity, [f"k{i}" for i in range(n)], rng.standard_normal((n, dim))
    )


def _co_table():
    rng = np.random.default_rng(1)
    return VectorTable(
        np.array(["user"] * 3 + ["item"] * 2, dtype=object),
        np.array(["u1", "u2", "u3", "i1", "i2"], dtype=object),
        rng.standard_normal((5, 3)),
    )


def test_export_formats_is_the_one_list():
    assert EXPORT_FORMATS == ("parquet", "npy", "w2v", "projector")


def test_parquet_vectors_are_fixed_size_float32(tmp_path):
    emb = embank.open(tmp_path / "bank").publish("demo/t", _table(dim=6))
    (path,) = export(emb, "parquet", tmp_path / "out" / "v.parquet")
    read = pq.read_table(path)
    vector_type = read.schema.field("vector").type
    assert vector_type == pa.list_(pa.float32(), 6)
    assert isinstance(vector_type, pa.FixedSizeListType)
    assert vector_type.value_type == pa.float32() and vector_type.list_size == 6
    assert read.column("key").to_pylist() == list(emb.keys)
    flat = read.column("vector").combine_chunks().flatten().to_numpy()
    np.testing.assert_array_equal(flat.reshape(-1, 6), emb.to_numpy())


def test_w2v_streams_in_batches_with_the_same_text(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    scales = 10.0 ** rng.integers(-6, 6, size=(50, 4))
    table = VectorTable.single_entity(
        "user", [f"k{i}" for i in range(50)], rng.standard_normal((50, 4)) * scales
    )
    emb = embank.open(tmp_path / "bank").publish("demo/t", table)
    monkeypatch.setattr(export_module, "_BATCH_VALUES", 28)  # 7 rows per batch
    (path,) = export(emb, "w2v", tmp_path / "v.txt")
    matrix = emb.to_numpy()
    want = [f"{emb.n_rows} {emb.dim}"] + [
        f"{e}:{k} " + " ".join(f"{x:.8g}" for x in matrix[i])
        for i, (e, k) in enumerate(zip(emb.entities, emb.keys, strict=True))
    ]
    assert path.read_text(encoding="utf-8") == "\n".join(want) + "\n"


def test_w2v_refuses_whitespace_and_leaves_no_file(tmp_path):
    table = VectorTable.single_entity(
        "user", ["a b", "ok", "c\u00a0d"], np.eye(3, dtype=np.float32) + 1
    )
    emb = embank.open(tmp_path / "bank").publish("demo/t", table)
    out = tmp_path / "v.txt"
    with pytest.raises(ValidationError, match=r"2 key.*whitespace"):
        export(emb, "w2v", out)
    assert [p.name for p in tmp_path.iterdir()] == ["bank"]  # no v.txt, no .v.txt.partial


def test_projector_files_rows_and_metadata(tmp_path):
    emb = embank.open(tmp_path / "bank").publish("demo/co", _co_table())
    written = export(emb, "projector", tmp_path / "proj")
    assert [p.name for p in written] == ["vectors.tsv", "metadata.tsv"]
    vectors = (tmp_path / "proj" / "vectors.tsv").read_text().splitlines()
    metadata = (tmp_path / "proj" / "metadata.tsv").read_text().splitlines()
    assert len(vectors) == emb.n_rows and len(metadata) == emb.n_rows + 1
    assert metadata == ["entity\tkey", "item\ti1", "item\ti2", "user\tu1", "user\tu2", "user\tu3"]
    parsed = np.array([[float(x) for x in line.split("\t")] for line in vectors], np.float32)
    np.testing.assert_allclose(parsed, emb.to_numpy(), rtol=1e-7)
    assert sorted(p.name for p in (tmp_path / "proj").iterdir()) == [
        "metadata.tsv",
        "vectors.tsv",
    ]


def test_projector_labels_joined_and_escaped(tmp_path):
    labels = Labels(
        "user",
        pd.DataFrame(
            {"key": ["k1", "k1", "k2", "k3"], "label": ["b", "a", "tab\there", "new\nline\\"]}
        ),
    )
    emb = embank.open(tmp_path / "bank").publish("demo/t", _table(n=5), labels=labels)
    export(emb, "projector", tmp_path / "proj")
    lines = (tmp_path / "proj" / "metadata.tsv").read_text().split("\n")
    assert lines[0] == "entity\tkey\tlabel"
    assert lines[1:-1] == [
        "user\tk0\t",
        "user\tk1\ta|b",
        "user\tk2\ttab\\there",
        "user\tk3\tnew\\nline\\\\",
        "user\tk4\t",
    ]
    assert all(line.count("\t") == 2 for line in lines[:-1])


def test_unknown_format_lists_the_known_ones(tmp_path):
    emb = embank.open(tmp_path / "bank").publish("demo/t", _table())
    with pytest.raises(UsageError, match="parquet, npy, w2v, projector"):
        export(emb, "xls", tmp_path / "x")
