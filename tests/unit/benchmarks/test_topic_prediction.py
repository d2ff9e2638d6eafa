"""Topic prediction on synthetic labelled vectors: learnable, noise, and bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pydantic
import pytest

from embank.benchmarks import BenchmarkInputs, benchmarks
from embank.benchmarks.topic_prediction import TopicPrediction, score_split, split_indices
from embank.data.graph import Labels
from embank.errors import DataError
from embank.vector_table import VectorTable

N_ROWS, N_LABELS, DIM = 600, 4, 16
FAST = {"train_ratios": [0.5], "splits": 2, "n_jobs": 1}


def _labelled(seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Each key has one topic, a fifth of them a second one."""
    rng = np.random.default_rng(seed)
    keys = [f"u{i:04d}" for i in range(N_ROWS)]
    topic_sets = []
    for _ in keys:
        first = int(rng.integers(N_LABELS))
        topics = {first}
        if rng.random() < 0.2:
            topics.add((first + 1 + int(rng.integers(N_LABELS - 1))) % N_LABELS)
        topic_sets.append(sorted(f"t{t}" for t in topics))
    return keys, topic_sets


def _labels(keys: list[str], topic_sets: list[list[str]], entity: str = "user") -> Labels:
    pairs = [(k, t) for k, topics in zip(keys, topic_sets, strict=True) for t in topics]
    return Labels(entity, pd.DataFrame(pairs, columns=["key", "label"]))


def _informative(topic_sets: list[list[str]], seed: int = 1) -> np.ndarray:
    """Sum of each key's topic centroids plus unit noise: learnable."""
    rng = np.random.default_rng(seed)
    centroids = 3.0 * rng.standard_normal((N_LABELS, DIM))
    vectors = rng.standard_normal((len(topic_sets), DIM))
    for i, topics in enumerate(topic_sets):
        vectors[i] += sum(centroids[int(t[1:])] for t in topics)
    return vectors.astype(np.float32)


def _figures(result) -> dict[str, tuple[float, float | None]]:
    return {f.name: (f.value, f.baseline) for f in result.figures}


@pytest.fixture(scope="module")
def data() -> tuple[VectorTable, BenchmarkInputs]:
    keys, topic_sets = _labelled()
    table = VectorTable.single_entity("user", keys, _informative(topic_sets))
    return table, BenchmarkInputs(labels=_labels(keys, topic_sets))


def test_informative_vectors_score_high_and_beat_random(data) -> None:
    table, inputs = data
    result = TopicPrediction(FAST).run(table, inputs)
    assert result.task == "topic_prediction"
    for figure in result.figures:
        assert figure.value > 0.8, figure
        assert figure.baseline is not None and figure.value > figure.baseline + 0.4
        assert figure.baseline_name == "random"
        assert figure.sample_size == N_ROWS
        assert figure.details["splits"] == 2 and figure.details["train_ratio"] == 0.5
        assert figure.details["std"] >= 0.0


def test_noise_vectors_score_near_random(data) -> None:
    table, inputs = data
    noise = np.random.default_rng(7).standard_normal(table.vectors.shape)
    noisy = VectorTable.single_entity("user", table.keys, noise)
    for figure in TopicPrediction(FAST).run(noisy, inputs).figures:
        assert figure.baseline is not None
        assert abs(figure.value - figure.baseline) < 0.1, figure


def test_figure_names_and_metadata(data) -> None:
    table, inputs = data
    params = {"splits": 1, "n_jobs": 1, "baseline": False, "seed": 3}
    result = TopicPrediction(params).run(table, inputs)
    assert [f.name for f in result.figures] == [
        f"topic_prediction.{metric}_f1_at_{n}"
        for n in (10, 50, 90)
        for metric in ("macro", "micro")
    ]
    assert all(f.baseline is None and f.seed == 3 for f in result.figures)
    assert all(f.run_time_s == result.run_time_s > 0 for f in result.figures)
    assert result.params["train_ratios"] == [0.1, 0.5, 0.9]


def test_same_seed_same_figures_in_one_or_two_processes(data) -> None:
    table, inputs = data
    first = _figures(TopicPrediction(FAST).run(table, inputs))
    assert _figures(TopicPrediction(FAST).run(table, inputs)) == first
    assert _figures(TopicPrediction({**FAST, "n_jobs": 2}).run(table, inputs)) == first
    assert _figures(TopicPrediction({**FAST, "seed": 1}).run(table, inputs)) != first


def test_rows_of_other_entities_are_ignored(data) -> None:
    table, inputs = data
    junk = np.random.default_rng(3).standard_normal(table.vectors.shape).astype(np.float32)
    mixed = VectorTable(
        np.concatenate([np.full(N_ROWS, "item", dtype=object), table.entities]),
        np.concatenate([table.keys, table.keys]),
        np.concatenate([junk, table.vectors]),
    )
    expected = _figures(TopicPrediction(FAST).run(table, inputs))
    assert _figures(TopicPrediction(FAST).run(mixed, inputs)) == expected


def test_labelled_keys_missing_from_the_table_are_counted(data) -> None:
    table, inputs = data
    assert inputs.labels is not None
    ghosts = pd.DataFrame({"key": ["ghost1", "ghost2", "ghost2"], "label": ["t0", "t1", "t2"]})
    labels = dataclasses.replace(inputs.labels, pairs=pd.concat([inputs.labels.pairs, ghosts]))
    result = TopicPrediction(FAST).run(table, BenchmarkInputs(labels=labels))
    assert all(f.details["n_missing_keys"] == 2 for f in result.figures)
    assert all(f.sample_size == N_ROWS for f in result.figures)


def test_missing_or_too_few_labels_raise_data_error(data) -> None:
    table, _ = data
    with pytest.raises(DataError, match=r"needs data\.labels in the spec"):
        TopicPrediction(FAST).run(table, BenchmarkInputs())
    keys = list(table.keys[:50])
    with pytest.raises(DataError, match="2 distinct labels"):
        TopicPrediction(FAST).run(table, BenchmarkInputs(_labels(keys, [["t0"]] * 50)))
    with pytest.raises(DataError, match="labelled rows"):
        other = _labels(keys, [["t0"], ["t1"]] * 25, entity="item")
        TopicPrediction(FAST).run(table, BenchmarkInputs(other))


def test_topics_without_train_positives_do_not_crash() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, 4))
    y = np.zeros((40, 3), dtype=np.int8)
    y[:, 0] = 1  # every row: only positives in train, a constant predictor
    y[:20, 1] = 1
    y[25, 2] = 1  # one row: at most one side of the split has a positive
    for ratio in (0.1, 0.5, 0.9):
        macro, micro = score_split(vectors, y, ratio, seed=0, C=1.0)
        assert 0.0 <= macro <= 1.0 and 0.0 <= micro <= 1.0


def test_registry_and_params() -> None:
    assert benchmarks.get("topic_prediction") is TopicPrediction
    with pytest.raises(pydantic.ValidationError):
        TopicPrediction({"bogus": 1})
    with pytest.raises(pydantic.ValidationError):
        TopicPrediction({"train_ratios": [0.5, 1.0]})
    with pytest.raises(pydantic.ValidationError):
        TopicPrediction({"train_ratios": [0.5, 0.501]})  # both would be ..._at_50
    with pytest.raises(pydantic.ValidationError):
        TopicPrediction({"n_jobs": 0})
    assert TopicPrediction().params.n_jobs == 2


def test_max_rows_scores_a_seeded_sample_and_says_so(data) -> None:
    table, inputs = data
    params = {**FAST, "max_rows": 200}
    result = TopicPrediction(params).run(table, inputs)
    figure = result.figures[0]
    assert figure.sample_size == 200 and figure.details["n_labelled_rows"] == N_ROWS
    assert _figures(TopicPrediction(params).run(table, inputs)) == _figures(result)
    assert figure.value > 0.6  # a sample of learnable vectors is still learnable


def test_f1_by_hand_separable_and_uninformative() -> None:
    """Separable vectors score exactly 1; identical vectors predict the train majority."""
    y = np.zeros((12, 3), dtype=np.int8)
    topic = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    y[np.arange(12), topic] = 1
    separable = np.eye(3, dtype=np.float32)[topic] * 5
    assert score_split(separable, y, 0.5, seed=3, C=1.0) == (1.0, 1.0)

    # All rows alike: each test row gets the topic most common in the train split.
    train, test = split_indices(12, 0.5, seed=3)
    majority = np.bincount(topic[train], minlength=3).argmax()
    hits = int((topic[test] == majority).sum())
    micro = hits / len(test)  # one true and one predicted topic per row
    # the majority topic: precision hits / |test|, recall hits / its test rows; others 0
    f1_majority = 2 * hits / (len(test) + int((topic[test] == majority).sum()))
    macro = f1_majority / 3
    got = score_split(np.ones((12, 3), dtype=np.float32), y, 0.5, seed=3, C=1.0)
    assert got == pytest.approx((macro, micro))
