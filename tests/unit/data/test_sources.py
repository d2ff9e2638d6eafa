import gzip
import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.io
import scipy.sparse as sp

from embank.data.sources import (
    file_fingerprints,
    read_source,
    source_files,
    source_format,
    source_lineage,
)
from embank.errors import DataError
from embank.spec.models import EdgesSource, LabelsSource

EDGES = {"src": "src", "dst": "dst", "weight": "weight"}


def edges(**fields):
    return EdgesSource(entity="user", **fields)


def labels(**fields):
    return LabelsSource(entity="user", **fields)


def rows(table):
    return table.to_pylist()


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Run from a folder other than the spec's, so relative paths must not use the cwd."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


# --- formats ---------------------------------------------------------------------------


def test_tsv_with_header_renames_to_our_columns(tmp_path):
    (tmp_path / "follows.tsv").write_text("follower\tfollowee\tw\nalice\tbob\t2.5\nbob\tcarol\t1\n")
    table = read_source(
        edges(path="follows.tsv"),
        tmp_path,
        {"src": "follower", "dst": "followee", "weight": "w"},
    )
    assert table.column_names == ["src", "dst", "weight"]
    assert table.schema.types == [pa.string(), pa.string(), pa.float64()]
    assert rows(table) == [
        {"src": "alice", "dst": "bob", "weight": 2.5},
        {"src": "bob", "dst": "carol", "weight": 1.0},
    ]


def test_only_wanted_columns_come_back(tmp_path):
    (tmp_path / "e.tsv").write_text("src\tdst\tweight\textra\n1\t2\t3\tx\n")
    table = read_source(edges(path="e.tsv"), tmp_path, {"dst": "dst", "src": "src"})
    assert rows(table) == [{"dst": "2", "src": "1"}]


def test_csv_delimiter_is_sniffed(tmp_path):
    (tmp_path / "e.csv").write_text("a;b\nx;y\nu;v\n")
    table = read_source(edges(path="e.csv"), tmp_path, {"src": "a", "dst": "b"})
    assert rows(table) == [{"src": "x", "dst": "y"}, {"src": "u", "dst": "v"}]


def test_format_tsv_splits_on_tabs_whatever_the_extension(tmp_path):
    (tmp_path / "e.txt").write_text("src\tdst\na,b\tc d\n")
    table = read_source(edges(path="e.txt", format="tsv"), tmp_path, {"src": "src", "dst": "dst"})
    assert rows(table) == [{"src": "a,b", "dst": "c d"}]


def test_text_ids_are_kept_as_written(tmp_path):
    (tmp_path / "e.tsv").write_text("src\tdst\n007\t0\n1.0\t2\n")
    table = read_source(edges(path="e.tsv"), tmp_path, {"src": "src", "dst": "dst"})
    assert rows(table) == [{"src": "007", "dst": "0"}, {"src": "1.0", "dst": "2"}]


def test_gzip_tsv(tmp_path):
    with gzip.open(tmp_path / "e.tsv.gz", "wt") as handle:
        handle.write("src\tdst\tweight\n0\t1\t1\n1\t2\t3\n")
    table = read_source(edges(path="e.tsv.gz"), tmp_path, EDGES)
    assert source_format(edges(path="e.tsv.gz")) == "tsv"
    assert rows(table) == [
        {"src": "0", "dst": "1", "weight": 1.0},
        {"src": "1", "dst": "2", "weight": 3.0},
    ]


def test_parquet_integer_ids_become_decimal_text(tmp_path):
    pq.write_table(
        pa.table({"a": [0, 10, -3], "b": [1.0, 2.0, 30.0], "w": [1, 2, 3]}),
        tmp_path / "e.parquet",
    )
    table = read_source(edges(path="e.parquet"), tmp_path, {"src": "a", "dst": "b", "weight": "w"})
    assert table.schema.types == [pa.string(), pa.string(), pa.float64()]
    assert rows(table) == [
        {"src": "0", "dst": "1", "weight": 1.0},
        {"src": "10", "dst": "2", "weight": 2.0},
        {"src": "-3", "dst": "30", "weight": 3.0},
    ]


def test_fractional_ids_are_refused(tmp_path):
    pq.write_table(pa.table({"src": [1.0, 2.5], "dst": [1, 2]}), tmp_path / "e.parquet")
    with pytest.raises(DataError, match=r"column 'src' holds the number 2\.5 at row 2"):
        read_source(edges(path="e.parquet"), tmp_path, {"src": "src", "dst": "dst"})


def test_json_lines(tmp_path):
    (tmp_path / "e.jsonl").write_text('{"s": 1, "d": "x", "w": 0.5}\n{"s": 2, "d": "y", "w": 2}\n')
    table = read_source(edges(path="e.jsonl"), tmp_path, {"src": "s", "dst": "d", "weight": "w"})
    assert rows(table) == [
        {"src": "1", "dst": "x", "weight": 0.5},
        {"src": "2", "dst": "y", "weight": 2.0},
    ]


def test_glob_reads_every_matching_file_in_name_order(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(pa.table({"src": ["c"], "dst": ["d"]}), parts / "p2.parquet")
    pq.write_table(pa.table({"src": ["a"], "dst": ["b"]}), parts / "p1.parquet")
    table = read_source(edges(path="parts/*.parquet"), tmp_path, {"src": "src", "dst": "dst"})
    assert rows(table) == [{"src": "a", "dst": "b"}, {"src": "c", "dst": "d"}]


def test_mat_edges_and_labels(tmp_path):
    network = sp.csc_matrix(np.array([[0, 1, 0], [1, 0, 2.5], [0, 2.5, 0]]))
    group = sp.csc_matrix(np.array([[1, 0], [0, 1], [1, 1]]))
    scipy.io.savemat(tmp_path / "g.mat", {"network": network, "group": group})

    table = read_source(edges(path="g.mat"), tmp_path, EDGES)
    assert table.schema.types == [pa.string(), pa.string(), pa.float64()]
    assert rows(table) == [
        {"src": "0", "dst": "1", "weight": 1.0},
        {"src": "1", "dst": "0", "weight": 1.0},
        {"src": "1", "dst": "2", "weight": 2.5},
        {"src": "2", "dst": "1", "weight": 2.5},
    ]
    pairs = read_source(labels(path="g.mat"), tmp_path, {"key": "key", "label": "label"})
    assert rows(pairs) == [
        {"key": "0", "label": "0"},
        {"key": "1", "label": "1"},
        {"key": "2", "label": "0"},
        {"key": "2", "label": "1"},
    ]


def test_mat_missing_variable(tmp_path):
    scipy.io.savemat(tmp_path / "g.mat", {"adj": sp.csc_matrix(np.eye(2))})
    with pytest.raises(DataError) as error:
        read_source(edges(path="g.mat"), tmp_path, EDGES)
    assert str(error.value) == (
        f"data.edges: variable 'network' not in {tmp_path / 'g.mat'} (variables: adj); "
        "set data.edges.mat_key"
    )


def test_labels_are_text(tmp_path):
    (tmp_path / "labels.tsv").write_text("node\tlabel\n0\t20\n0\t3\n")
    table = read_source(labels(path="labels.tsv"), tmp_path, {"key": "node", "label": "label"})
    assert table.schema.types == [pa.string(), pa.string()]
    assert rows(table) == [{"key": "0", "label": "20"}, {"key": "0", "label": "3"}]


# --- relative paths ----------------------------------------------------------------------


def test_relative_path_resolves_against_base_dir(tmp_path, elsewhere):
    spec_dir = tmp_path / "specs"
    (spec_dir / "data").mkdir(parents=True)
    (spec_dir / "data" / "e.tsv").write_text("src\tdst\nright\tfile\n")
    (elsewhere / "data").mkdir()
    (elsewhere / "data" / "e.tsv").write_text("src\tdst\nwrong\tfile\n")
    table = read_source(edges(path="data/e.tsv"), spec_dir, {"src": "src", "dst": "dst"})
    assert rows(table) == [{"src": "right", "dst": "file"}]


def test_sql_over_a_relative_glob_resolves_against_base_dir(tmp_path, elsewhere):
    spec_dir = tmp_path / "specs"
    (spec_dir / "follows").mkdir(parents=True)
    pq.write_table(
        pa.table({"follower": [1, 2], "followee": [2, 3]}), spec_dir / "follows/a.parquet"
    )
    pq.write_table(pa.table({"follower": [3], "followee": [1]}), spec_dir / "follows/b.parquet")
    # A same-named file under the working directory must not shadow the spec's.
    (elsewhere / "follows").mkdir()
    pq.write_table(pa.table({"follower": [99], "followee": [98]}), elsewhere / "follows/a.parquet")
    (spec_dir / "extra.csv").write_text("a,b\n7,8\n")
    (elsewhere / "extra.csv").write_text("a,b\n70,80\n")

    source = edges(
        sql="SELECT follower AS src, followee AS dst FROM 'follows/*.parquet' "
        "WHERE follower < 3\n"
        "UNION ALL SELECT a, b FROM read_csv(['extra.csv'], header = true)  -- trailing comment"
    )
    table = read_source(source, spec_dir, {"src": "src", "dst": "dst"})
    assert sorted(map(tuple, (r.values() for r in rows(table)))) == [
        ("1", "2"),
        ("2", "3"),
        ("7", "8"),
    ]
    assert source_files(source, spec_dir) == [
        spec_dir / "extra.csv",
        spec_dir / "follows/a.parquet",
        spec_dir / "follows/b.parquet",
    ]


def test_sql_parameters_are_bound(tmp_path):
    (tmp_path / "e.csv").write_text("src,dst,day\na,b,1\nb,c,5\n")
    source = edges(sql="SELECT src, dst FROM 'e.csv' WHERE day <= $as_of")
    table = read_source(source, tmp_path, {"src": "src", "dst": "dst"}, params={"as_of": 3})
    assert rows(table) == [{"src": "a", "dst": "b"}]
    # Values the query does not use are not passed to it.
    plain = edges(sql="SELECT src, dst FROM 'e.csv'")
    assert (
        read_source(plain, tmp_path, {"src": "src", "dst": "dst"}, params={"as_of": 3}).num_rows
        == 2
    )
    with pytest.raises(DataError, match=r"data.edges.sql uses \$as_of but no value was given"):
        read_source(source, tmp_path, {"src": "src", "dst": "dst"})


# --- lineage -----------------------------------------------------------------------------


def test_fingerprints_hash_each_matched_file(tmp_path):
    (tmp_path / "a.tsv").write_text("src\tdst\nx\ty\n")
    (tmp_path / "b.tsv").write_text("src\tdst\ny\tz\n")
    source = edges(path="*.tsv")
    files = source_files(source, tmp_path)
    assert files == [tmp_path / "a.tsv", tmp_path / "b.tsv"]
    prints = file_fingerprints(files)
    content = (tmp_path / "a.tsv").read_bytes()
    assert prints[0] == {
        "path": str(tmp_path / "a.tsv"),
        "sha256": hashlib.sha256(content).hexdigest(),
        "bytes": len(content),
    }
    lineage = source_lineage(source, tmp_path)
    assert lineage["path"] == "*.tsv"
    assert lineage["format"] == "tsv"
    assert lineage["files"] == prints
    json.dumps(lineage)


def test_sql_lineage_hashes_the_query(tmp_path):
    (tmp_path / "e.csv").write_text("src,dst\na,b\n")
    sql = "SELECT src, dst FROM 'e.csv'"
    lineage = source_lineage(edges(sql=sql), tmp_path)
    assert lineage["sql"] == sql
    assert lineage["sql_sha256"] == hashlib.sha256(sql.encode()).hexdigest()
    assert [f["path"] for f in lineage["files"]] == [str(tmp_path / "e.csv")]


# --- errors ------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as error:
        read_source(edges(path="nope/*.tsv"), tmp_path, EDGES)
    assert str(error.value) == f"data.edges: no file matches {tmp_path / 'nope/*.tsv'}"


def test_remote_path_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"^data\.edges: s3://b/e\.parquet is not a local path"):
        read_source(edges(path="s3://b/e.parquet"), tmp_path, EDGES)


def test_missing_column(tmp_path):
    (tmp_path / "e.tsv").write_text("src\tdst\tweight\n1\t2\t1\n")
    with pytest.raises(DataError) as error:
        read_source(edges(path="e.tsv"), tmp_path, {"src": "src", "dst": "dst2"})
    assert str(error.value) == (
        f"data.edges: column 'dst2' not in {tmp_path / 'e.tsv'} (columns: src, dst, weight); "
        "set data.edges.columns.dst"
    )


def test_missing_column_of_a_query_and_of_labels(tmp_path):
    with pytest.raises(DataError, match=r"not in the result of data.edges.sql \(columns: a, b\)"):
        read_source(edges(sql="SELECT 1 AS a, 2 AS b"), tmp_path, {"src": "src", "dst": "b"})
    (tmp_path / "l.tsv").write_text("node\tlabel\n1\tx\n")
    with pytest.raises(
        DataError, match=r"^data.labels: column 'key' .*set data.labels.columns.key$"
    ):
        read_source(labels(path="l.tsv"), tmp_path, {"key": "key", "label": "label"})


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT src, dst FROM no_such_table", "Table with name no_such_table does not exist"),
        ("SELEC src FROM x", 'syntax error at or near "SELEC"'),
        ("SELECT * FROM 'missing/*.parquet'", "No files found"),
        ("CREATE TABLE t AS SELECT 1", "give one SELECT query"),
        ("SELECT 1 AS src, 2 AS dst; SELECT 3", "give one SELECT query, not 2"),
    ],
)
def test_bad_sql(tmp_path, sql, message):
    with pytest.raises(DataError) as error:
        read_source(edges(sql=sql), tmp_path, {"src": "src", "dst": "dst"})
    text = str(error.value)
    assert text.startswith("error in data.edges.sql: ")
    assert message in text
    assert "\n" not in text


def test_non_numeric_weight(tmp_path):
    (tmp_path / "e.tsv").write_text("src\tdst\tw\na\tb\t1\nb\tc\theavy\n")
    with pytest.raises(DataError) as error:
        read_source(edges(path="e.tsv"), tmp_path, {"src": "src", "dst": "dst", "weight": "w"})
    assert str(error.value) == (
        f"data.edges: weight 'heavy' in column 'w' at line 3 of {tmp_path / 'e.tsv'} "
        "is not a number"
    )


def test_null_keys_are_counted(tmp_path):
    (tmp_path / "e.tsv").write_text("src\tdst\na\tb\n\tc\nd\t\n\te\n")
    with pytest.raises(DataError) as error:
        read_source(edges(path="e.tsv"), tmp_path, {"src": "src", "dst": "dst"})
    assert str(error.value) == (
        f"data.edges: 2 rows have no src (column 'src' is empty), "
        f"the first at line 3 of {tmp_path / 'e.tsv'}"
    )


def test_key_with_a_tab(tmp_path):
    (tmp_path / "e.csv").write_text('src,dst\na,b\n"bad\tkey",c\n')
    with pytest.raises(DataError) as error:
        read_source(edges(path="e.csv"), tmp_path, {"src": "src", "dst": "dst"})
    text = str(error.value)
    assert text.startswith("data.edges: invalid key 'bad\\tkey': keys may not hold tab")
    assert f"column 'src', line 3 of {tmp_path / 'e.csv'}; 1 invalid in all" in text


@pytest.mark.parametrize(
    ("key", "reason"),
    [("", "keys are 1-512 bytes"), ("é" * 257, "keys are 1-512 bytes"), ("a\x00b", "NUL")],
)
def test_keys_that_break_the_rules(tmp_path, key, reason):
    pq.write_table(pa.table({"src": ["ok", key], "dst": ["x", "y"]}), tmp_path / "e.parquet")
    with pytest.raises(DataError, match=reason) as error:
        read_source(edges(path="e.parquet"), tmp_path, {"src": "src", "dst": "dst"})
    assert f"row 2 of {tmp_path / 'e.parquet'}" in str(error.value)


def test_longest_key_is_fine(tmp_path):
    key = "é" * 256  # 512 bytes
    pq.write_table(pa.table({"src": [key], "dst": ["x"]}), tmp_path / "e.parquet")
    table = read_source(edges(path="e.parquet"), tmp_path, {"src": "src", "dst": "dst"})
    assert table.column("src")[0].as_py() == key
