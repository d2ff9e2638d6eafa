"""One index per entity type: searches stay within the type and answer in table rows."""

from __future__ import annotations

import numpy as np
import pytest

from embank.ann import EntityIndexes, ExactIndex, Searcher, build_entity_indexes
from embank.errors import NotFoundError, UsageError, ValidationError

from .conftest import clustered

pytest.importorskip("hnswlib")


@pytest.fixture(scope="module")
def table():
    """A co-embedded table: 1,200 users then 2,500 items, as a version stores them."""
    vectors = np.vstack([clustered(1200, seed=3), clustered(2500, seed=4)])
    entities = np.array(["user"] * 1200 + ["item"] * 2500, dtype=object)
    return vectors, entities


@pytest.fixture(scope="module")
def indexes(table):
    vectors, entities = table
    return build_entity_indexes(
        vectors,
        entities,
        "dot",
        kind={"item": "hnswlib", "user": "exact"},
        params={"hnswlib": {"M": 16, "ef_construction": 100}},
        n_queries=200,
    )


def test_items_near_a_user_are_items(table, indexes):
    vectors, _ = table
    users = vectors[:5]
    rows, scores = indexes.search(users, 10, entity="item", ef=300)
    assert ((rows >= 1200) & (rows < 3700)).all()
    want, want_scores = ExactIndex(vectors, "dot").search(users, 10, rows=(1200, 3700))
    assert sum(len(set(a) & set(b)) for a, b in zip(rows, want, strict=True)) >= 49
    np.testing.assert_allclose(np.sort(scores), np.sort(want_scores), rtol=1e-3)
    assert isinstance(indexes["item"], Searcher)
    user_rows, _ = indexes["user"].search(users, 3)
    assert (user_rows < 1200).all()
    assert indexes.reports["item"].entity == "item" and indexes.reports["item"].kind == "hnswlib"
    assert indexes.reports["user"].kind == "exact"


def test_exclude_and_allowed_take_table_rows(table, indexes):
    vectors, _ = table
    first, _ = indexes.search(vectors[:1], 10, entity="item", ef=300)
    seen = [*first[0, :4].tolist(), 0, 5]  # rows of another entity are ignored
    rows, _ = indexes.search(vectors[:1], 10, entity="item", exclude=seen, ef=300)
    assert not set(seen) & set(rows[0].tolist())
    assert list(rows[0, :6]) == list(first[0, 4:10])
    allowed = np.arange(1200, 3700, 2)
    rows, _ = indexes.search(vectors[:3], 5, entity="item", allowed=allowed, ef=300)
    assert ((rows % 2 == 0) & (rows >= 1200)).all()


def test_rows_interleaved_by_entity_map_back():
    vectors = clustered(600)
    entities = np.array(["a", "b", "c"] * 200, dtype=object)
    indexes = build_entity_indexes(vectors, entities, "cosine", n_queries=50)
    for offset, entity in enumerate(["a", "b", "c"]):
        rows, _ = indexes.search(vectors[:4], 7, entity=entity)
        assert (rows % 3 == offset).all()
        want, _ = ExactIndex(vectors, "cosine").search(
            vectors[:4], 7, allowed=np.arange(offset, 600, 3)
        )
        np.testing.assert_array_equal(rows, want)


def test_save_load_round_trip(table, indexes, tmp_path):
    vectors, _ = table
    indexes.save(tmp_path / "index")
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == [
        "indexes.json",
        "item",
        "user",
    ]
    assert {p.name for p in (tmp_path / "index" / "item").iterdir()} == {
        "hnsw.bin",
        "meta.json",
        "rows.npy",
    }
    loaded = EntityIndexes.load(tmp_path / "index")
    assert set(loaded) == {"item", "user"}
    assert loaded.reports == indexes.reports
    for entity in ("item", "user"):
        before = indexes.search(vectors[:6], 10, entity=entity)
        after = loaded.search(vectors[:6], 10, entity=entity)
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])


def test_errors(table, indexes, tmp_path):
    vectors, entities = table
    with pytest.raises(UsageError, match="entity="):
        indexes.search(vectors[:1], 3)
    with pytest.raises(NotFoundError, match="item, user"):
        indexes.search(vectors[:1], 3, entity="movie")
    with pytest.raises(ValidationError, match="one per row"):
        build_entity_indexes(vectors, entities[:10], "dot")
    with pytest.raises(NotFoundError, match=r"indexes\.json"):
        EntityIndexes.load(tmp_path)
