"""FeatureCompression on a synthetic feature table: shapes, determinism, signal, errors."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import scipy.sparse as sp

from embank.algorithms import algorithms
from embank.algorithms.compress import FeatureCompression, _numeric_columns, _standardized
from embank.data.attributes import Features
from embank.data.graph import Dataset
from embank.errors import DataError, EmptySelectionError, ValidationError

pytest.importorskip("torch")

METHODS = ["autoencoder", "svd"]
FAST = {"dim": 6, "epochs": 15, "hidden": 32}


def synthetic_features(n_rows: int = 600, seed: int = 5) -> Features:
    """A color (5 values), a size (3 values, uneven), a numeric weight that depends on the
    size, a numeric price in the thousands, and 20 one-hot noise columns (tag)."""
    rng = np.random.default_rng(seed)
    color = rng.integers(0, 5, n_rows)
    size = rng.choice(3, n_rows, p=[0.6, 0.3, 0.1])
    weight = size * 2.0 + rng.normal(0, 0.3, n_rows)
    price = rng.normal(5_000, 1_500, n_rows)
    tag = rng.integers(0, 20, n_rows)
    blocks, columns, groups = [], [], {}
    for name, values, n_values in [("color", color, 5), ("size", size, 3), ("tag", tag, 20)]:
        groups[name] = list(range(len(columns), len(columns) + n_values))
        columns += [f"{name}={v}" for v in range(n_values)]
        blocks.append(np.eye(n_values, dtype=np.float32)[values])
    for name, values in [("weight", weight), ("price", price)]:
        groups[name] = [len(columns)]
        columns.append(name)
        blocks.append(values[:, None].astype(np.float32))
    keys = np.array([f"u{i:04d}" for i in range(n_rows)], dtype=object)
    matrix = sp.csr_matrix(np.hstack(blocks))
    return Features(entity="user", keys=keys, matrix=matrix, columns=columns, groups=groups)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset(features=synthetic_features())


@pytest.fixture(scope="module")
def fitted(dataset) -> dict[str, FeatureCompression]:
    return {m: FeatureCompression({**FAST, "method": m}).fit(dataset) for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_shape_dtype_and_keys(method, fitted, dataset):
    table = fitted[method].embeddings
    assert table.vectors.shape == (600, 6)
    assert table.vectors.dtype == np.float32
    assert np.isfinite(table.vectors).all()
    assert table.keys.tolist() == dataset.features.keys.tolist()
    assert table.entity_names() == ["user"]


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_with_one_thread_is_bit_identical(method, fitted, dataset):
    again = FeatureCompression({**FAST, "method": method, "n_threads": 1}).fit(dataset)
    assert np.array_equal(again.embeddings.vectors, fitted[method].embeddings.vectors)


def test_another_seed_gives_other_vectors(fitted, dataset):
    other = FeatureCompression({**FAST, "seed": 1}).fit(dataset).embeddings.vectors
    assert not np.array_equal(other, fitted["autoencoder"].embeddings.vectors)


@pytest.mark.parametrize("method", METHODS)
def test_signal_survives_the_compression(method, fitted):
    report = fitted[method].report_
    groups = report["groups"]
    assert set(groups) == {"color", "size", "tag", "weight", "price"}
    color = groups["color"]
    assert color["kind"] == "categorical" and color["n_classes"] == 5
    assert color["baseline"] < 0.3
    assert color["value"] > color["baseline"] + 0.4, color
    assert groups["size"]["value"] > groups["size"]["baseline"] + 0.2, groups["size"]
    assert groups["weight"]["kind"] == "numeric" and groups["weight"]["value"] > 0.5
    assert report["n_rows_sampled"] == 600 and report["n_test"] == 180
    assert report["reconstruction_mse"] >= 0 and report["reconstruction_r2"] <= 1


def test_autoencoder_learns(fitted):
    losses = fitted["autoencoder"].loss_history_
    assert len(losses) == FAST["epochs"] and losses[-1] < 0.5 * losses[0]


def test_standardize_scales_numeric_columns_only(dataset):
    features = dataset.features
    numeric = _numeric_columns(features)
    assert [features.columns[i] for i in numeric] == ["weight", "price"]
    prepared = _standardized(features.matrix, numeric).toarray()
    np.testing.assert_allclose(prepared[:, numeric].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(prepared[:, numeric].std(axis=0), 1.0, atol=1e-5)
    one_hot = np.setdiff1d(np.arange(len(features.columns)), numeric)
    assert np.array_equal(prepared[:, one_hot], features.matrix.toarray()[:, one_hot])


def test_multi_hot_and_missing_categories_are_reported():
    rng = np.random.default_rng(2)
    n_rows = 300
    genres = (rng.random((n_rows, 4)) < 0.4).astype(np.float32)  # several per row
    kind = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n_rows)]
    kind[:30] = 0  # 30 rows without a kind: their own class
    columns = [f"genre={g}" for g in "abcd"] + [f"kind={k}" for k in "xyz"]
    features = Features(
        entity="item",
        keys=np.array([f"i{i:03d}" for i in range(n_rows)], dtype=object),
        matrix=sp.csr_matrix(np.hstack([genres, kind])),
        columns=columns,
        groups={"genre": [0, 1, 2, 3], "kind": [4, 5, 6]},
    )
    report = FeatureCompression({"method": "svd", "dim": 5}).fit(Dataset(features=features)).report_
    assert report["groups"]["genre"]["kind"] == "multi_hot"
    assert report["groups"]["genre"]["metric"] == "r2" and report["groups"]["genre"]["value"] > 0.3
    assert report["groups"]["kind"]["n_classes"] == 4
    assert report["groups"]["kind"]["value"] > report["groups"]["kind"]["baseline"] + 0.3


def test_missing_features_name_the_spec_section():
    with pytest.raises(DataError, match=r"data\.features"):
        FeatureCompression().fit(Dataset())


def test_no_rows_is_an_empty_selection():
    empty = Features("user", np.array([], dtype=object), sp.csr_matrix((0, 3)), ["a", "b", "c"], {})
    with pytest.raises(EmptySelectionError):
        FeatureCompression({"dim": 2}).fit(Dataset(features=empty))


def test_non_finite_values_are_refused():
    features = synthetic_features(n_rows=20)
    features.matrix.data[features.matrix.data.size - 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        FeatureCompression({"dim": 2}).fit(Dataset(features=features))


@pytest.mark.parametrize("method", METHODS)
def test_dim_above_the_columns_is_refused(method):
    features = synthetic_features(n_rows=50)
    with pytest.raises(ValidationError, match="dim 64 is more than the 30 feature columns"):
        FeatureCompression({"dim": 64, "method": method}).fit(Dataset(features=features))


def test_a_tiny_table_fits_and_reports_without_group_figures():
    features = synthetic_features(n_rows=4)
    fitted = FeatureCompression({"dim": 2, "epochs": 2}).fit(Dataset(features=features))
    assert fitted.embeddings.vectors.shape == (4, 2)
    assert fitted.report_["groups"] == {} and "note" in fitted.report_


@pytest.mark.parametrize(
    "params",
    [{"unknown": 1}, {"method": "pca"}, {"dim": 0}, {"learning_rate": 0}, {"n_threads": 0}],
)
def test_bad_params_are_rejected(params):
    with pytest.raises(pydantic.ValidationError):
        FeatureCompression(params)


def test_every_param_has_a_description():
    for name, field in FeatureCompression.Params.model_fields.items():
        assert field.description, name


def test_registered_under_its_name():
    assert algorithms.get("compress") is FeatureCompression
    assert FeatureCompression.name == "compress"
