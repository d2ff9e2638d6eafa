"""RELIABILITY.md: dimension mismatch; NaN / Inf / zero vectors (cosine); duplicate keys;
path traversal in names. Each is refused with a :class:`ValidationError` or
:class:`InvalidNameError` that names the problem, and nothing is written: every registry
row, stored byte and Redis key is as before, and nothing appears outside the bank.

Fixed cases on both stacks, then hypothesis-drawn wrong dimensions and non-finite arrays
on the local bank.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reliability_kit import snapshot
from reliability_workers import TABLE, make_table

from embank.errors import InvalidNameError, ValidationError
from embank.vector_table import VectorTable

DIM = 8


def _one(entity="user", keys=("a", "b"), rows=None, dim=DIM) -> VectorTable:
    vectors = np.ones((len(keys), dim)) if rows is None else np.asarray(rows, dtype=float)
    return VectorTable.single_entity(entity, list(keys), vectors)


def _with(row: list[float]) -> VectorTable:
    return _one(rows=[row, [1.0] * DIM])


_BAD_TABLE_NAMES = [
    "../x",
    "demo/../x",
    "demo/..",
    "%2e%2e%2fx",
    "demo%2f..%2fx",
    "%252e%252e%252f/x",  # double-encoded
    "demo\\..\\x",
    "demo/t\x00",
    "demo/t/../../x",
    "/etc/passwd",
    "demo/\u2024\u2024",  # one dot leaders, which look like dots
    "demo/\uff0e\uff0e",  # fullwidth full stops
    "Demo/t",
    "demo",
    "a/b/c",
]

CASES = [
    pytest.param(TABLE, _one(dim=4), {}, ValidationError, "dimension mismatch", id="dimension"),
    pytest.param(TABLE, _one(), {"metric": "dot"}, ValidationError, "metric mismatch", id="metric"),
    pytest.param(TABLE, _with([np.nan] + [1] * 7), {}, ValidationError, "NaN or Inf", id="nan"),
    pytest.param(TABLE, _with([np.inf] + [1] * 7), {}, ValidationError, "NaN or Inf", id="inf"),
    pytest.param(TABLE, _with([-np.inf] * 8), {}, ValidationError, "NaN or Inf", id="-inf"),
    pytest.param(TABLE, _with([0.0] * 8), {}, ValidationError, "zero vector", id="zero-cosine"),
    pytest.param(
        TABLE, _one(keys=("a", "b", "a")), {}, ValidationError, "duplicate key.*user:a", id="dupe"
    ),
    pytest.param(TABLE, _one(keys=()), {}, ValidationError, "no rows", id="empty"),
    pytest.param(TABLE, _one(), {"aliases": ["Prod"]}, InvalidNameError, "alias", id="alias-case"),
    pytest.param(TABLE, _one(), {"aliases": ["latest"]}, InvalidNameError, "latest", id="latest"),
    pytest.param(TABLE, _one(), {"aliases": ["../x"]}, InvalidNameError, "alias", id="alias-path"),
    pytest.param(TABLE, _one(entity="User"), {}, InvalidNameError, "entity type", id="entity"),
    pytest.param(TABLE, _one(entity="a/../b"), {}, InvalidNameError, "entity type", id="ent-path"),
    pytest.param(TABLE, _one(keys=("a", "b\tc")), {}, InvalidNameError, "tab", id="key-tab"),
    pytest.param(TABLE, _one(keys=("a", "b\nc")), {}, InvalidNameError, "newline", id="key-nl"),
    pytest.param(TABLE, _one(keys=("a", "b\x00")), {}, InvalidNameError, "NUL", id="key-nul"),
    pytest.param(TABLE, _one(keys=("a", "")), {}, InvalidNameError, "1-512", id="key-empty"),
    pytest.param(TABLE, _one(keys=("a", "é" * 257)), {}, InvalidNameError, "1-512", id="key-long"),
    pytest.param(TABLE, _one(keys=("a", "\ud800")), {}, InvalidNameError, "UTF-8", id="surrogate"),
    pytest.param(TABLE, _one(keys=("a", 5)), {}, ValidationError, "not a string", id="key-int"),
    *[
        pytest.param(name, _one(), {}, InvalidNameError, "invalid table name", id=f"table-{i}")
        for i, name in enumerate(_BAD_TABLE_NAMES)
    ],
]


# on PostgreSQL + S3 + Redis, one case of each kind (every case runs on the local bank)
SHARED = {"dimension", "nan", "zero-cosine", "dupe", "alias-path", "key-nul", "table-3"}


def _cases() -> list:
    cases = []
    for case in CASES:
        cases.append(pytest.param("local", *case.values, id=f"local-{case.id}"))
        if case.id in SHARED:
            cases.append(pytest.param("shared", *case.values, id=f"shared-{case.id}"))
    return cases


@pytest.mark.parametrize(
    ("stack", "name", "table", "options", "error", "match"), _cases(), indirect=["stack"]
)
def test_refused_with_nothing_written(stack, tmp_path, name, table, options, error, match):
    bank = stack.open()
    bank.publish(TABLE, make_table(1, dim=DIM))
    before = snapshot(bank)
    around = sorted(os.listdir(tmp_path.parent))
    with pytest.raises(error, match=match):
        bank.publish(name, table, **options)
    assert snapshot(bank) == before
    assert sorted(os.listdir(tmp_path.parent)) == around  # nothing created outside
    assert bank.gc(min_age_s=0) == []


@pytest.fixture
def one_version(local_stack):
    bank = local_stack.open()
    bank.publish(TABLE, make_table(1, dim=DIM))
    return bank, snapshot(bank)


_HYPOTHESIS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_HYPOTHESIS
@given(dim=st.integers(1, 64).filter(lambda d: d != DIM), n=st.integers(1, 20))
def test_any_wrong_dimension_is_refused(one_version, dim, n):
    bank, before = one_version
    table = VectorTable.single_entity("user", [f"k{i}" for i in range(n)], np.ones((n, dim)))
    with pytest.raises(ValidationError, match=f"dimension mismatch.*has dim {DIM}.*have {dim}"):
        bank.publish(TABLE, table)
    assert snapshot(bank) == before


@_HYPOTHESIS
@given(
    vectors=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 30), st.just(DIM)),
        elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
    ).filter(lambda a: not np.isfinite(a).all())
)
def test_any_non_finite_array_is_refused(one_version, vectors):
    bank, before = one_version
    table = VectorTable.single_entity("user", [f"k{i}" for i in range(len(vectors))], vectors)
    for metric in ("cosine", "dot"):
        with pytest.raises(ValidationError, match="NaN or Inf"):
            bank.publish("demo/other", table, metric=metric)
    assert snapshot(bank) == before


@pytest.mark.parametrize("keep", ["first", "last"])
def test_opt_in_dedupe_keeps_one_row_per_key(local_stack, keep):
    """RELIABILITY.md: duplicates are refused unless the publisher opts in to dedupe."""
    bank = local_stack.open()
    rows = [[float(i + 1)] * DIM for i in range(4)]
    table = VectorTable(
        np.array(["user", "user", "item", "user"], dtype=object),
        np.array(["a", "b", "a", "a"], dtype=object),  # item:a is not a repeat of user:a
        rows,
    )
    emb = bank.publish(TABLE, table, duplicates=keep)
    assert emb.n_rows == 3
    kept = 0 if keep == "first" else 3
    np.testing.assert_array_equal(emb.vectors(["a"], entity="user")[0], rows[kept])
    np.testing.assert_array_equal(emb.vectors(["a"], entity="item")[0], rows[2])
    lineage = bank.show(f"{TABLE}@{emb.version}").version.lineage
    assert lineage["duplicates_dropped"] == {"keep": keep, "rows": 1}


def test_unknown_dedupe_choice_is_refused(one_version):
    bank, before = one_version
    with pytest.raises(ValidationError, match="duplicates='keep'"):
        bank.publish(TABLE, _one(), duplicates="keep")
    assert snapshot(bank) == before
