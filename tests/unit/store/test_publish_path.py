"""The column-wise publish path agrees with its row-by-row definitions.

Key checks over a whole column refuse exactly what :func:`check_key` refuses; the Arrow
sort is the bytewise (entity, key) order; writing from :class:`SortedRows` (no sorted copy
of the vectors) gives the same files and content hash as writing a sorted table; fault
points do nothing unless named.
"""

from __future__ import annotations

import errno

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embank.errors import InvalidNameError
from embank.names import check_key, invalid_keys
from embank.store import faults, files
from embank.vector_table import SortedRows, VectorTable

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], max_codepoint=0x2FFFF)
    | st.sampled_from(["\t", "\n", "\r", "\x00", "é", "漢"]),
    max_size=140,
)


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(_TEXT | st.just("é" * 257) | st.just("é" * 256), max_size=20))
def test_invalid_keys_refuses_what_check_key_refuses(keys):
    mask = invalid_keys(pa.array(keys, pa.string())).to_pylist() if keys else []
    for key, bad in zip(keys, mask, strict=True):
        try:
            check_key(key)
            refused = False
        except InvalidNameError:
            refused = True
        assert bad == refused, key


def test_a_lone_surrogate_is_not_a_key():
    with pytest.raises(InvalidNameError, match="UTF-8"):
        check_key("a\ud800")


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["user", "item", "a_b"]), _TEXT.filter(bool)),
        unique=True,
        max_size=30,
    )
)
def test_arrow_order_is_the_bytewise_order(rows):
    entities = np.array([e for e, _ in rows], dtype=object)
    keys = np.array([k for _, k in rows], dtype=object)
    table = VectorTable(entities, keys, np.arange(len(rows) * 2, dtype=np.float32).reshape(-1, 2))
    ordered = table.sorted()
    want = sorted(rows, key=lambda r: (r[0].encode(), r[1].encode()))
    assert list(zip(ordered.entities, ordered.keys, strict=True)) == want
    assert (table.sort_order() is None) == (rows == want)


def test_sorted_rows_write_what_a_sorted_table_writes(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    keys = np.array([f"k{i}" for i in rng.permutation(n)], dtype=object)
    entities = np.array(rng.choice(["user", "item"], size=n), dtype=object)
    table = VectorTable(entities, keys, rng.standard_normal((n, 300)))  # several blocks
    rows = SortedRows.of(table)
    assert files.content_hash(rows) == files.content_hash(table.sorted())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    from_rows = files.write_version_files(tmp_path / "a", rows, None, None, {})
    from_table = files.write_version_files(tmp_path / "b", table.sorted(), None, None, {})
    assert from_rows == from_table
    assert from_rows["content_hash"] == files.content_hash(table.sorted())
    assert files.verify_manifest(tmp_path / "a") == []
    _, back = files.read_offline(tmp_path / "a")
    assert back.vectors.tobytes() == table.sorted().vectors.tobytes()
    # a rebuild from the Parquet file writes the online files byte for byte again
    rebuilt = tmp_path / "c"
    rebuilt.mkdir()
    stored, again = files.read_offline(tmp_path / "a")
    files.write_online_files(rebuilt, stored, again.vectors)
    for name in (files.ONLINE_KEYS, files.ONLINE_VECTORS):
        assert (rebuilt / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_fault_points_do_nothing_unless_named(monkeypatch):
    monkeypatch.delenv(faults.ENV_POINT, raising=False)
    faults.point("publish:put")
    monkeypatch.setenv(faults.ENV_POINT, "publish:write:*")
    monkeypatch.setenv(faults.ENV_ACTION, "disk_full")
    faults.point("publish:put")  # not matched
    with pytest.raises(OSError) as full:
        faults.point("publish:write:vectors.parquet")
    assert full.value.errno == errno.ENOSPC and "publish:write:vectors.parquet" in str(full.value)
    monkeypatch.setenv(faults.ENV_ACTION, "raise")
    with pytest.raises(faults.InjectedFault, match="publish:write:x"):
        faults.point("publish:write:x")
    monkeypatch.setenv(faults.ENV_ACTION, "explode")
    with pytest.raises(ValueError, match="kill, pause, raise, disk_full"):
        faults.point("publish:write:x")
