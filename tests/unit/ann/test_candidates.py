"""Batch candidates: shape, ordering, exclusion, and equal to exact top-k."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import embank
from embank.ann.candidates import SCHEMA, candidates, read_pairs
from embank.ann.stored import build_version_index
from embank.vector_table import VectorTable

from .conftest import clustered

N_USERS, N_ITEMS = 150, 90


@pytest.fixture
def embedding(tmp_path):
    vectors = clustered(N_USERS + N_ITEMS, dim=8, seed=2)
    keys = [f"u{i}" for i in range(N_USERS)] + [f"i{i}" for i in range(N_ITEMS)]
    entities = ["user"] * N_USERS + ["item"] * N_ITEMS
    bank = embank.open(tmp_path / "bank")
    table = VectorTable(np.array(entities, object), np.array(keys, object), vectors)
    bank.publish("demo/recs", table, metric="dot", entities=["user", "item"])
    yield bank.get("demo/recs")
    bank.close()


def _brute_force(embedding, k: int, seen: dict[str, set[str]]) -> dict[str, list[str]]:
    """Top-k items per user by numpy, ties by row, skipping ``seen``."""
    matrix = np.asarray(embedding.to_numpy(), dtype=np.float64)
    i_lo, i_hi = embedding.local.entity_ranges["item"]
    u_lo, u_hi = embedding.local.entity_ranges["user"]
    out = {}
    for row in range(u_lo, u_hi):
        user = embedding.keys[row]
        scores = matrix[i_lo:i_hi] @ matrix[row]
        order = np.lexsort((np.arange(i_hi - i_lo), -scores))
        items = [embedding.keys[i_lo + j] for j in order]
        out[user] = [it for it in items if it not in seen.get(user, set())][:k]
    return out


def test_candidates_equal_exact_top_k_in_order_with_exclusions(embedding, tmp_path):
    rng = np.random.default_rng(0)
    pairs = [(f"u{u}", f"i{i}") for u in range(N_USERS) for i in rng.choice(N_ITEMS, 20)]
    seen: dict[str, set[str]] = {}
    for user, item in pairs:
        seen.setdefault(user, set()).add(item)
    exclude = pa.table({"source": [p[0] for p in pairs], "target": [p[1] for p in pairs]})
    out = tmp_path / "c.parquet"
    report = candidates(embedding, "user", "item", 10, out=out, exclude=exclude, chunk=37)
    table = pq.read_table(out)
    assert table.schema.remove_metadata() == SCHEMA
    assert report.n_sources == N_USERS and report.n_rows == table.num_rows == N_USERS * 10
    assert report.index == "exact"
    frame = table.to_pandas()
    want = _brute_force(embedding, 10, seen)
    for user, group in frame.groupby("source", sort=False):
        assert group["rank"].tolist() == list(range(1, 11))
        assert group["target"].tolist() == want[user]
        assert not set(group["target"]) & seen[user]
        assert (np.diff(group["score"].to_numpy()) <= 0).all()
    # sources in the version's row order
    assert frame["source"].drop_duplicates().tolist() == sorted(want)


def test_candidates_through_a_saved_index_find_the_exact_ones(embedding, tmp_path):
    bank = embank.open(embedding.folder.parents[3])
    build_version_index(bank, bank.get("demo/recs"), kind="hnswlib", n_queries=80)
    indexed = bank.get("demo/recs")
    out = tmp_path / "c.parquet"
    report = candidates(indexed, "user", "item", 10, out=out, n_threads=2)
    assert report.index == "hnswlib"
    frame = pq.read_table(out).to_pandas()
    want = _brute_force(indexed, 10, {})
    found = frame.groupby("source")["target"].apply(set)
    recall = np.mean([len(found[u] & set(want[u])) / 10 for u in want])
    assert recall >= 0.95 and len(frame) == N_USERS * 10
    bank.close()


def test_listed_keys_unknown_keys_and_the_same_entity(embedding, tmp_path):
    out = tmp_path / "c.parquet"
    report = candidates(embedding, "user", "user", 5, out=out, keys=["u3", "u1", "nobody", "u3"])
    frame = pq.read_table(out).to_pandas()
    assert report.n_sources == 2 and report.n_unknown_keys == 1
    assert frame["source"].drop_duplicates().tolist() == ["u1", "u3"]
    for user, group in frame.groupby("source"):
        assert len(group) == 5 and user not in set(group["target"])  # never itself
        got = group["target"].tolist()
        assert got == [n.key for n in embedding.neighbors(user, k=5, entity="user", target="user")]


def test_a_source_with_fewer_candidates_than_k_gets_them_all(embedding, tmp_path):
    everything_but_two = [f"i{i}" for i in range(2, N_ITEMS)]
    exclude = pa.table({"source": ["u0"] * len(everything_but_two), "target": everything_but_two})
    out = tmp_path / "c.parquet"
    candidates(embedding, "user", "item", 10, out=out, keys=["u0"], exclude=exclude)
    frame = pq.read_table(out).to_pandas()
    assert sorted(frame["target"]) == ["i0", "i1"] and frame["rank"].tolist() == [1, 2]


def test_pairs_are_read_from_csv_and_parquet(tmp_path):
    (tmp_path / "seen.csv").write_text("user,item\nu1,i2\n7,9\n")
    table = read_pairs(tmp_path / "seen.csv")
    assert table.column_names == ["source", "target"]
    assert table.to_pylist()[1] == {"source": "7", "target": "9"}
    pq.write_table(pa.table({"source": ["u1"], "target": ["i2"]}), tmp_path / "seen.parquet")
    assert read_pairs(tmp_path / "seen.parquet").num_rows == 1
