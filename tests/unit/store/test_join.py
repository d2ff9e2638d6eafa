"""Point-in-time join: each row gets the vector of the version that was latest at its time."""

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import embank
from embank.errors import MixedSpacesError, NotFoundError, UsageError, ValidationError
from embank.store.join import JoinSummary
from embank.store.schema import alias_history, versions
from embank.vector_table import VectorTable

# When `latest` moved to versions 1, 2, 3 (set in the registry after publishing).
T1, T2, T3 = (dt.datetime(2024, m, 1) for m in (1, 2, 3))
DAY = dt.timedelta(days=1)


def _table(keys, seed):
    rng = np.random.default_rng(seed)
    return VectorTable.single_entity("user", keys, rng.standard_normal((len(keys), 4)))


@pytest.fixture
def bank(tmp_path):
    """demo/t@1 (u0-u9), @2 (u0-u8: u9 dropped), @3 (u0-u9), latest moved at T1, T2, T3."""
    bank = embank.open(tmp_path)
    everyone = [f"u{i}" for i in range(10)]
    bank.publish("demo/t", _table(everyone, 1))
    bank.publish("demo/t", _table(everyone[:9], 2))
    bank.publish("demo/t", _table(everyone, 3))
    with bank.registry.write() as conn:
        for number, when in zip((1, 2, 3), (T1, T2, T3), strict=True):
            conn.execute(
                sa.update(alias_history)
                .where(alias_history.c.alias == "latest", alias_history.c.version_number == number)
                .values(moved_at=when)
            )
    return bank


def _vector(bank, number, key):
    return bank.get(f"demo/t@{number}").vectors([key])[0]


def _same_space(bank, *numbers):
    space = bank.get(f"demo/t@{numbers[0]}").space_id
    with bank.registry.write() as conn:
        conn.execute(
            sa.update(versions).where(versions.c.number.in_(numbers)).values(space_id=space)
        )


def test_each_row_takes_the_version_latest_at_its_time(bank):
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u9", "u9", "u2", "u3", "u4"],
            "ts": [T1 - DAY, T1, T1 + DAY, T2 + DAY, T2, T3 + DAY, T3 - dt.timedelta(seconds=1)],
            "label": range(7),
        },
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    out = bank.join(
        frame, key="user_id", at="ts", table="demo/t", entity="user", allow_mixed_spaces=True
    )
    assert list(out.columns) == ["user_id", "ts", "label", "vector", "version", "space_id"]
    assert list(out.index) == list(frame.index)
    assert out["version"].tolist() == [pd.NA, 1, 1, 2, 2, 3, 2]
    assert str(out["version"].dtype) == "Int64"
    spaces = {n: bank.get(f"demo/t@{n}").space_id for n in (1, 2, 3)}
    assert pd.isna(out["space_id"].iloc[0])
    assert out["space_id"].tolist()[1:] == [spaces[n] for n in (1, 1, 2, 2, 3, 2)]
    vectors = out["vector"].tolist()
    assert vectors[0] is None  # before the first version
    assert vectors[3] is None  # u9 is not in version 2
    for row, (key, number) in enumerate([("u1", 1), ("u9", 1), ("u2", 2), ("u3", 3), ("u4", 2)]):
        got = vectors[[1, 2, 4, 5, 6][row]]
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, _vector(bank, number, key))
    summary = out.attrs["embank_join"]
    assert isinstance(summary, JoinSummary)
    assert (summary.n_rows, summary.n_joined, summary.n_no_version, summary.n_missing_key) == (
        7,
        5,
        1,
        1,
    )
    assert summary.rows_per_version == {1: 2, 2: 3, 3: 1}
    assert summary.space_ids == spaces


def test_time_formats_naive_aware_and_text(bank):
    later = T2 + dt.timedelta(hours=1)  # version 2's window
    aware = pd.Timestamp(later, tz="UTC").tz_convert("America/New_York")
    frames = [
        pd.DataFrame({"k": ["u1"], "ts": pd.Series([later], dtype="datetime64[ns]")}),
        pd.DataFrame({"k": ["u1"], "ts": [aware]}),
        pd.DataFrame({"k": ["u1"], "ts": ["2024-02-01T01:00:00Z"]}),
        pd.DataFrame({"k": ["u1"], "ts": ["2024-01-31T20:00:00-05:00"]}),
        pd.DataFrame({"k": ["u1"], "ts": ["2024-02-01T01:00:00"]}),  # naive text is UTC
    ]
    for frame in frames:
        out = bank.join(frame, key="k", at="ts", table="demo/t")
        assert out["version"].tolist() == [2], frame["ts"].tolist()
    # one second before version 2 moved in at 2024-02-01 00:00 UTC, written in New York time
    ny = pd.DataFrame({"k": ["u1"], "ts": ["2024-01-31T18:59:59-05:00"]})
    assert bank.join(ny, key="k", at="ts", table="demo/t")["version"].tolist() == [1]


def test_null_times_and_keys_are_counted(bank, caplog):
    frame = pd.DataFrame(
        {"k": ["u1", None, "nope", "u2"], "ts": [T2 + DAY, T2 + DAY, T2 + DAY, pd.NaT]}
    )
    with caplog.at_level(logging.WARNING, logger="embank.store.join"):
        out = bank.join(frame, key="k", at="ts", table="demo/t")
    summary = out.attrs["embank_join"]
    assert (summary.n_joined, summary.n_missing_key, summary.n_no_time) == (1, 2, 1)
    assert out["version"].tolist() == [2, 2, 2, pd.NA]
    assert [v is None for v in out["vector"]] == [False, True, True, True]
    assert "3 of 4 row(s) got no vector" in caplog.text


def test_mixed_spaces_refused_unless_allowed(bank):
    frame = pd.DataFrame({"k": ["u1", "u2", "u3"], "ts": [T1 + DAY, T2 + DAY, T3 + DAY]})
    with pytest.raises(MixedSpacesError) as caught:  # a ValidationError, 409 over HTTP
        bank.join(frame, key="k", at="ts", table="demo/t")
    message = str(caught.value)
    assert "allow_mixed_spaces=True" in message
    for number in (1, 2, 3):
        assert f"demo/t@{number} (space {bank.get(f'demo/t@{number}').space_id})" in message
    assert isinstance(caught.value, ValidationError)
    assert caught.value.exit_code == 2 and caught.value.http_status == 409
    out = bank.join(frame, key="k", at="ts", table="demo/t", allow_mixed_spaces=True)
    assert out["version"].tolist() == [1, 2, 3]


def test_one_window_or_one_space_needs_no_flag(bank):
    inside = pd.DataFrame({"k": ["u1", "u5"], "ts": [T2, T3 - DAY]})
    out = bank.join(inside, key="k", at="ts", table="demo/t")
    assert out["version"].tolist() == [2, 2]
    before = pd.DataFrame({"k": ["u1"], "ts": [T1 - DAY]})  # no version at all: no space
    assert bank.join(before, key="k", at="ts", table="demo/t")["vector"].tolist() == [None]
    _same_space(bank, 2, 3)
    across = pd.DataFrame({"k": ["u1", "u1"], "ts": [T2 + DAY, T3 + DAY]})
    out = bank.join(across, key="k", at="ts", table="demo/t")
    assert out["version"].tolist() == [2, 3]
    assert out["space_id"].nunique() == 1


def test_expand_prefix_and_int_keys(tmp_path):
    bank = embank.open(tmp_path)
    keys = ["7", "42"]
    bank.publish("demo/ints", VectorTable.single_entity("node", keys, np.eye(2) + 1))
    frame = pd.DataFrame({"id": [42, 7, 5], "ts": [dt.datetime.now(dt.UTC)] * 3})
    frame["ts"] = frame["ts"] + pd.Timedelta(hours=1)
    out = bank.join(frame, key="id", at="ts", table="demo/ints", prefix="node", expand=True)
    assert list(out.columns) == ["id", "ts", "node_0", "node_1", "node_version", "node_space_id"]
    assert out["node_0"].dtype == np.float32
    np.testing.assert_array_equal(out[["node_0", "node_1"]].to_numpy()[:2], [[1, 2], [2, 1]])
    assert out[["node_0", "node_1"]].iloc[2].isna().all()
    assert out.attrs["embank_join"].n_missing_key == 1


def test_bad_calls(bank, tmp_path):
    frame = pd.DataFrame({"k": ["u1"], "ts": [T2], "vector": [0]})
    with pytest.raises(ValidationError, match="already has column"):
        bank.join(frame, key="k", at="ts", table="demo/t")
    with pytest.raises(ValidationError, match="'when' is not a column"):
        bank.join(frame, key="k", at="when", table="demo/t")
    with pytest.raises(ValidationError, match="holds numbers"):
        bank.join(pd.DataFrame({"k": ["u1"], "ts": [1.7e9]}), key="k", at="ts", table="demo/t")
    with pytest.raises(ValidationError, match="not a time"):
        bank.join(pd.DataFrame({"k": ["u1"], "ts": ["soon"]}), key="k", at="ts", table="demo/t")
    with pytest.raises(NotFoundError, match="no table"):
        bank.join(frame, key="k", at="ts", table="demo/nope", prefix="v")
    with pytest.raises(NotFoundError, match="never had alias 'production'"):
        bank.join(frame, key="k", at="ts", table="demo/t", alias="production", prefix="v")
    rng = np.random.default_rng(0)
    co = VectorTable(
        np.array(["user", "item"], dtype=object),
        np.array(["1", "1"], dtype=object),
        rng.standard_normal((2, 3)),
    )
    bank.publish("demo/co", co)
    now = pd.DataFrame({"k": ["1"], "ts": [pd.Timestamp.now(tz="UTC") + pd.Timedelta("1h")]})
    with pytest.raises(UsageError, match="pass entity"):
        bank.join(now, key="k", at="ts", table="demo/co")
    out = bank.join(now, key="k", at="ts", table="demo/co", entity="item")
    np.testing.assert_array_equal(
        out["vector"].iloc[0], bank.get("demo/co").vectors(["1"], entity="item")[0]
    )
