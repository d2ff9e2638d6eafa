"""Selection of interactions (with hold-out and sequences), relations, text and tables."""

import textwrap

import numpy as np
import pytest

from embank.data.select import select
from embank.errors import DataError, SpecError
from embank.spec.models import DataSpec, HoldoutSpec, SelectSpec


def _write(folder, name, text):
    (folder / name).write_text(textwrap.dedent(text))


@pytest.fixture
def folder(tmp_path):
    # user u1 sees a, b, c, d, e (times 1..5, a twice); u2 sees a, b; u3 only c
    _write(
        tmp_path,
        "events.tsv",
        """\
        user\titem\tw\tts\tsess
        u1\ta\t1\t1\ts1
        u1\tb\t2\t2\ts1
        u1\tc\t1\t3\ts2
        u1\td\t1\t4\ts2
        u1\te\t1\t5\ts2
        u1\ta\t3\t6\ts2
        u2\ta\t1\t1\ts3
        u2\tb\t1\t2\ts3
        u3\tc\t1\t9\ts4
        """,
    )
    return tmp_path


def _data(**sections):
    return DataSpec.model_validate(sections)


INTERACTIONS = {
    "src": "user",
    "dst": "item",
    "path": "events.tsv",
    "columns": {"src": "user", "dst": "item", "weight": "w", "ts": "ts"},
}


def test_interactions_matrix_keys_and_sequences(folder):
    dataset = select(_data(interactions=INTERACTIONS), SelectSpec(dedupe="sum"), folder)
    inter = dataset.interactions
    assert list(inter.src_keys) == ["u1", "u2", "u3"]
    assert list(inter.dst_keys) == ["a", "b", "c", "d", "e"]
    assert inter.matrix[0, 0] == 4.0  # a twice: 1 + 3
    assert inter.matrix.nnz == 8
    # one sequence per user, items in time order, repeats kept
    items = [[inter.dst_keys[i] for i in seq] for seq in inter.sequences]
    assert items == [["a", "b", "c", "d", "e", "a"], ["a", "b"], ["c"]]
    assert dataset.holdout is None


def test_sessions_make_sequences(folder):
    source = {**INTERACTIONS, "columns": {**INTERACTIONS["columns"], "session": "sess"}}
    inter = select(_data(interactions=source), SelectSpec(), folder).interactions
    items = [[inter.dst_keys[i] for i in seq] for seq in inter.sequences]
    assert items == [["a", "b"], ["c", "d", "e", "a"], ["a", "b"], ["c"]]


def test_same_time_events_keep_source_order_or_a_seeded_shuffle(tmp_path):
    # one user rates ten items in the same second, listed by item id (as MovieLens does)
    rows = "".join(f"u1\ti{i}\t1\t7\n" for i in range(10))
    _write(tmp_path, "same.tsv", "user\titem\tw\tts\n" + rows)
    source = {**INTERACTIONS, "path": "same.tsv"}

    def order(select_spec):
        inter = select(_data(interactions=source), select_spec, tmp_path).interactions
        return [inter.dst_keys[i] for i in inter.sequences[0]]

    assert order(SelectSpec()) == [f"i{i}" for i in range(10)]
    shuffled = order(SelectSpec(ties="shuffle", seed=1))
    assert sorted(shuffled) == sorted(f"i{i}" for i in range(10))
    assert shuffled != [f"i{i}" for i in range(10)]
    assert order(SelectSpec(ties="shuffle", seed=1)) == shuffled
    assert order(SelectSpec(ties="shuffle", seed=2)) != shuffled


@pytest.mark.parametrize("by", ["user", "time", "edge"])
def test_holdout_never_takes_the_last_pair(folder, by):
    holdout = HoldoutSpec(fraction=0.4, by=by, seed=0)
    dataset = select(_data(interactions=INTERACTIONS), SelectSpec(), folder, holdout=holdout)
    held = dataset.holdout
    assert list(held.columns) == ["src_entity", "src", "dst_entity", "dst"]
    assert len(held) >= 1 and set(held["src_entity"]) == {"user"}
    inter = dataset.interactions
    train = {
        (inter.src_keys[r], inter.dst_keys[c]) for r, c in zip(*inter.matrix.nonzero(), strict=True)
    }
    assert not train & set(zip(held["src"], held["dst"], strict=True))  # disjoint
    assert {"u1", "u2", "u3"} <= {s for s, _ in train}  # nobody lost their last pair
    for seq in inter.sequences:  # held-out items are out of the sequences too
        assert len(seq)
    if by == "time":
        # a pair's time is its latest event: a (6) and e (5) are u1's latest two of five
        assert set(held[held["src"] == "u1"]["dst"]) == {"a", "e"}


def test_items_seen_only_in_the_holdout_get_no_vector(tmp_path):
    # u1 alone rates z; holding out u1's latest pair (by time) leaves z with no training pair
    _write(
        tmp_path,
        "e.tsv",
        """\
        user\titem\tw\tts
        u1\ta\t1\t1
        u1\tb\t1\t2
        u1\tz\t1\t3
        u2\ta\t1\t1
        """,
    )
    source = {**INTERACTIONS, "path": "e.tsv"}
    holdout = HoldoutSpec(fraction=0.34, by="time", seed=0)
    dataset = select(_data(interactions=source), SelectSpec(), tmp_path, holdout=holdout)
    inter = dataset.interactions
    assert list(dataset.holdout["dst"]) == ["z"]
    assert list(inter.dst_keys) == ["a", "b"] and inter.matrix.shape == (2, 2)
    assert dataset.lineage["interactions"]["rows"]["dst_only_in_holdout"] == 1
    items = [[inter.dst_keys[i] for i in seq] for seq in inter.sequences]
    assert items == [["a", "b"], ["a"]]


def test_holdout_needs_interactions(folder):
    _write(folder, "edges.tsv", "src\tdst\nx\ty\n")
    with pytest.raises(SpecError, match=r"holdout needs data.interactions"):
        select(
            _data(edges={"entity": "user", "path": "edges.tsv"}),
            SelectSpec(),
            folder,
            holdout=HoldoutSpec(fraction=0.2),
        )


def test_holdout_by_time_needs_ts(folder):
    source = {**INTERACTIONS, "columns": {"src": "user", "dst": "item"}}
    with pytest.raises(SpecError, match=r"columns.ts"):
        select(
            _data(interactions=source),
            SelectSpec(),
            folder,
            holdout=HoldoutSpec(fraction=0.2, by="time"),
        )


def test_relations_share_entity_vocabularies(folder):
    _write(folder, "follows.tsv", "a\tb\nu1\tu2\nu2\tu9\nu2\tu9\n")
    relations = {
        "follows": {
            "src": "user",
            "dst": "user",
            "path": "follows.tsv",
            "columns": {"src": "a", "dst": "b"},
        },
        "likes": {
            "src": "user",
            "dst": "item",
            "path": "events.tsv",
            "columns": {"src": "user", "dst": "item"},
        },
    }
    graph = select(_data(relations=relations), SelectSpec(), folder).relations
    assert list(graph.keys["user"]) == ["u1", "u2", "u3", "u9"]
    assert list(graph.keys["item"]) == ["a", "b", "c", "d", "e"]
    follows = graph.relations["follows"]
    assert follows.n_edges == 2  # the repeat is deduped
    assert [graph.keys["user"][i] for i in follows.src] == ["u1", "u2"]
    assert [graph.keys["user"][i] for i in follows.dst] == ["u2", "u9"]
    assert graph.relations["likes"].n_edges == 8


def test_text_and_tables(folder):
    _write(folder, "items.tsv", "item\ttitle\nb\tBeta\na\tAlpha\n")
    _write(folder, "users.tsv", "user\tage\tgender\nu2\t30\tF\nu1\t17\tM\nu3\t60\tF\n")
    data = _data(
        interactions={**INTERACTIONS},
        text={"entity": "item", "path": "items.tsv", "columns": {"key": "item", "text": "title"}},
        features={
            "entity": "user",
            "path": "users.tsv",
            "columns": {"key": "user"},
            "categorical": ["gender"],
            "numeric": {"age": None},
        },
        metadata={
            "entity": "user",
            "path": "users.tsv",
            "columns": {"key": "user"},
            "categorical": ["gender"],
            "numeric": {"age": {"bins": [18, 50]}},
        },
    )
    dataset = select(data, SelectSpec(), folder)
    assert list(dataset.texts.keys) == ["a", "b"] and dataset.texts.texts == ["Alpha", "Beta"]
    features = dataset.features
    assert list(features.keys) == ["u1", "u2", "u3"]
    assert features.columns == ["gender=F", "gender=M", "age"]
    np.testing.assert_array_equal(features.matrix.toarray(), [[0, 1, 17], [1, 0, 30], [1, 0, 60]])
    assert features.groups == {"gender": [0, 1], "age": [2]}
    meta = dataset.metadata.frame
    assert list(meta["age"]) == ["<18", "[18,50)", ">=50"]
    assert list(meta["gender"]) == ["M", "F", "F"]


def test_duplicate_text_keys_refused(folder):
    _write(folder, "items.tsv", "item\ttitle\na\tOne\na\tTwo\n")
    data = _data(
        text={"entity": "item", "path": "items.tsv", "columns": {"key": "item", "text": "title"}}
    )
    with pytest.raises(DataError, match=r"data.text: keys appear more than once, e.g. \['a'\]"):
        select(data, SelectSpec(), folder)


def test_bad_numbers_and_times_named(folder):
    _write(folder, "users.tsv", "user\tage\nu1\told\n")
    data = _data(
        features={
            "entity": "user",
            "path": "users.tsv",
            "columns": {"key": "user"},
            "numeric": {"age": None},
        }
    )
    with pytest.raises(DataError, match=r"data.features: column 'age' holds 'old'"):
        select(data, SelectSpec(), folder)
    _write(folder, "ev.tsv", "user\titem\tts\nu1\ta\tyesterday\n")
    source = {
        "src": "user",
        "dst": "item",
        "path": "ev.tsv",
        "columns": {"src": "user", "dst": "item", "ts": "ts"},
    }
    with pytest.raises(DataError, match=r"data.interactions: column 'ts' holds 'yesterday'"):
        select(_data(interactions=source), SelectSpec(), folder)


def test_nothing_to_embed_is_a_spec_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give one of edges, interactions"):
        DataSpec.model_validate({})
