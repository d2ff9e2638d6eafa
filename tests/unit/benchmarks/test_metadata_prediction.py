import numpy as np
import pandas as pd
import pytest

from embank.benchmarks import BenchmarkInputs, benchmarks
from embank.benchmarks.metadata_prediction import MetadataPrediction
from embank.data.attributes import Metadata
from embank.errors import DataError
from embank.vector_table import VectorTable


def _case(informative: bool, n=300, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    centroids = rng.standard_normal((3, 8)) * 3
    vectors = rng.standard_normal((n, 8)) + (centroids[group] if informative else 0)
    keys = np.array([f"u{i}" for i in range(n)], dtype=object)
    table = VectorTable.single_entity("user", keys, vectors)
    frame = pd.DataFrame(
        {
            "key": keys,
            "group": np.array(["a", "b", "c"], dtype=object)[group],
            "age": rng.uniform(10, 70, n),  # numeric, not predicted by default
        }
    )
    return table, BenchmarkInputs(metadata=Metadata("user", frame))


def test_informative_vectors_beat_majority():
    table, inputs = _case(informative=True)
    result = MetadataPrediction({"seed": 0}).run(table, inputs)
    figures = {f.name: f for f in result.figures}
    assert set(figures) == {
        "metadata_prediction.group_accuracy",
        "metadata_prediction.group_macro_f1",
    }
    acc = figures["metadata_prediction.group_accuracy"]
    assert acc.value > 0.9 and acc.baseline < 0.45 and acc.baseline_name == "majority"
    assert acc.details["beats_baseline"] is True and acc.sample_size == 300


def test_noise_does_not_beat_majority():
    table, inputs = _case(informative=False)
    acc = next(
        f for f in MetadataPrediction().run(table, inputs).figures if f.name.endswith("accuracy")
    )
    assert acc.details["beats_baseline"] is False
    assert abs(acc.value - acc.baseline) < 0.1


def test_deterministic_and_registered():
    table, inputs = _case(informative=True)
    first = [f.value for f in MetadataPrediction().run(table, inputs).figures]
    assert first == [f.value for f in MetadataPrediction().run(table, inputs).figures]
    assert benchmarks.get("metadata_prediction") is MetadataPrediction


def test_missing_metadata_and_columns():
    table, inputs = _case(informative=True)
    with pytest.raises(DataError, match=r"needs data.metadata"):
        MetadataPrediction().run(table, BenchmarkInputs())
    with pytest.raises(DataError, match="no categorical column"):
        MetadataPrediction({"columns": ["height"]}).run(table, inputs)


def test_max_rows_scores_a_seeded_sample():
    table, inputs = _case(informative=True, n=400)
    result = MetadataPrediction({"max_rows": 120}).run(table, inputs)
    accuracy = result.figures[0]
    assert accuracy.sample_size == 120
    assert accuracy.value > accuracy.baseline
    again = MetadataPrediction({"max_rows": 120}).run(table, inputs)
    assert [f.value for f in again.figures] == [f.value for f in result.figures]


def test_figures_by_hand():
    """30 rows, 20 'a' and 10 'b', 5 stratified folds: each test fold is 4 a + 2 b.

    Vectors that encode the class score accuracy and macro-F1 1; the majority class ('a')
    scores accuracy 4/6 and macro-F1 (F1_a + F1_b) / 2 = (2*4 / (2*4 + 2) + 0) / 2 = 0.4.
    """
    labels = np.array(["a"] * 20 + ["b"] * 10, dtype=object)
    keys = np.array([f"u{i:02d}" for i in range(30)], dtype=object)
    vectors = np.where(labels == "a", 1.0, -1.0)[:, None] * np.ones((30, 2)) * 3
    vectors = vectors + np.random.default_rng(0).normal(0, 0.1, (30, 2))
    table = VectorTable.single_entity("user", keys, vectors)
    inputs = BenchmarkInputs(metadata=Metadata("user", pd.DataFrame({"key": keys, "c": labels})))
    figures = {f.name: f for f in MetadataPrediction({"Cs": [1.0]}).run(table, inputs).figures}
    accuracy, f1 = (
        figures["metadata_prediction.c_accuracy"],
        figures["metadata_prediction.c_macro_f1"],
    )
    assert (accuracy.value, f1.value) == (1.0, 1.0)
    assert accuracy.baseline == pytest.approx(4 / 6) and f1.baseline == pytest.approx(0.4)
    assert accuracy.details["folds"] == 5 and accuracy.details["beats_baseline"]
