"""Spectral on small planted-partition graphs: shapes, determinism, communities, errors."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from embank.algorithms import algorithms
from embank.algorithms.spectral import Spectral
from embank.data.graph import Dataset, Graph
from embank.errors import EmbankError, ValidationError

METHODS = ["eigen", "prone", "netmf"]


def planted_partition(
    n_per_block: int = 300, p_in: float = 0.08, p_out: float = 0.005, seed: int = 7
) -> tuple[Dataset, np.ndarray]:
    """Two communities of ``n_per_block`` nodes; returns the dataset and each node's block."""
    rng = np.random.default_rng(seed)
    blocks = np.repeat([0, 1], n_per_block)
    n = blocks.size
    probs = np.where(blocks[:, None] == blocks[None, :], p_in, p_out)
    upper = np.triu(rng.random((n, n)) < probs, k=1)
    adjacency = sp.csr_matrix((upper | upper.T).astype(np.float64))
    return _dataset(adjacency), blocks


def _dataset(adjacency: sp.csr_matrix, directed: bool = False) -> Dataset:
    keys = np.array([f"n{i:04d}" for i in range(adjacency.shape[0])], dtype=object)
    return Dataset(
        graph=Graph(entity="node", index_to_key=keys, adjacency=adjacency, directed=directed)
    )


def _community_margin(vectors: np.ndarray, blocks: np.ndarray) -> float:
    """Mean cosine within communities minus mean cosine across them."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = blocks[:, None] == blocks[None, :]
    np.fill_diagonal(same, False)
    across = blocks[:, None] != blocks[None, :]
    return float(cosine[same].mean() - cosine[across].mean())


@pytest.fixture(scope="module")
def graph_and_blocks() -> tuple[Dataset, np.ndarray]:
    # 600 nodes and dim 16 keep eigen on the ARPACK path, not the dense fallback.
    return planted_partition()


@pytest.mark.parametrize("method", METHODS)
def test_shape_dtype_and_keys(method, graph_and_blocks):
    dataset, _ = graph_and_blocks
    table = Spectral({"method": method, "dim": 16}).fit(dataset).embeddings
    assert table.vectors.shape == (600, 16)
    assert table.vectors.dtype == np.float32
    assert np.isfinite(table.vectors).all()
    assert table.keys.tolist() == dataset.graph.index_to_key.tolist()
    assert table.entity_names() == ["node"]


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_is_bit_identical(method, graph_and_blocks):
    dataset, _ = graph_and_blocks
    with threadpool_limits(1):
        first = Spectral({"method": method, "dim": 16, "seed": 3}).fit(dataset).embeddings
        second = Spectral({"method": method, "dim": 16, "seed": 3}).fit(dataset).embeddings
    assert np.array_equal(first.vectors, second.vectors)


def test_eigen_seed_changes_only_the_start_vector(graph_and_blocks):
    # Other seeds may differ bitwise, but the fixed sign convention makes eigen agree closely.
    dataset, _ = graph_and_blocks
    a = Spectral({"dim": 8, "seed": 0}).fit(dataset).embeddings.vectors
    b = Spectral({"dim": 8, "seed": 1}).fit(dataset).embeddings.vectors
    np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_communities_are_separated(method, graph_and_blocks):
    dataset, blocks = graph_and_blocks
    vectors = Spectral({"method": method, "dim": 8}).fit(dataset).embeddings.vectors
    assert _community_margin(vectors, blocks) > 0.3


def test_eigen_sorted_by_eigenvalue_and_signs_fixed(graph_and_blocks):
    dataset, _ = graph_and_blocks
    vectors = Spectral({"dim": 8}).fit(dataset).embeddings.vectors
    norms = np.linalg.norm(vectors, axis=0)  # unit eigenvectors times sqrt(eigenvalue)
    assert np.all(np.diff(norms) <= 1e-6)
    largest = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(8)]
    assert np.all(largest > 0)


def test_unscaled_eigenvectors_are_orthonormal(graph_and_blocks):
    dataset, _ = graph_and_blocks
    vectors = Spectral({"dim": 8, "scale": "none"}).fit(dataset).embeddings.vectors
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(8), atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("tau", [0.0, 1.0])
def test_isolated_nodes_do_not_break_the_fit(method, tau):
    adjacency = sp.lil_matrix((40, 40))
    for i in range(30):  # a ring over nodes 0..29; 30..39 have no edges
        adjacency[i, (i + 1) % 30] = adjacency[(i + 1) % 30, i] = 1.0
    dataset = _dataset(adjacency.tocsr())
    vectors = Spectral({"method": method, "dim": 4, "tau": tau}).fit(dataset).embeddings.vectors
    assert np.isfinite(vectors).all()


def test_directed_graph_is_symmetrised(graph_and_blocks):
    dataset, _ = graph_and_blocks
    upper = sp.triu(dataset.graph.adjacency).tocsr()
    directed = _dataset(upper * 2.0, directed=True)  # (2U + 2U.T) / 2 is the original graph
    a = Spectral({"dim": 8}).fit(directed).embeddings.vectors
    b = Spectral({"dim": 8}).fit(dataset).embeddings.vectors
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_dim_not_below_n_nodes_is_rejected(method):
    dataset, _ = planted_partition(n_per_block=5)
    with pytest.raises(ValidationError, match="dim 10 must be smaller than the number of nodes 10"):
        Spectral({"method": method, "dim": 10}).fit(dataset)


def test_netmf_refuses_large_graphs(monkeypatch, graph_and_blocks):
    import embank.algorithms.spectral as spectral

    monkeypatch.setattr(spectral, "NETMF_MAX_NODES", 100)
    dataset, _ = graph_and_blocks
    with pytest.raises(ValidationError, match="use method eigen") as excinfo:
        Spectral({"method": "netmf", "dim": 8}).fit(dataset)
    assert isinstance(excinfo.value, EmbankError)


@pytest.mark.parametrize(
    "params", [{"unknown": 1}, {"method": "lle"}, {"tau": -1.0}, {"scale": "log"}]
)
def test_bad_params_are_rejected(params):
    with pytest.raises(pydantic.ValidationError):
        Spectral(params)


def test_every_param_has_a_description():
    for name, field in Spectral.Params.model_fields.items():
        assert field.description, name


def test_registered_under_its_name():
    assert algorithms.get("spectral") is Spectral
    assert Spectral.name == "spectral"


def test_reconstruction_scale_rebuilds_the_adjacency_by_dot_product():
    """X X^T = D^1/2 (U L+ U^T) D^1/2 over the top ``dim`` eigenpairs of D^-1/2 A D^-1/2."""
    rng = np.random.default_rng(5)
    upper = sp.random(14, 14, density=0.35, random_state=rng, data_rvs=lambda n: np.ones(n))
    adjacency = sp.csr_matrix(sp.triu(upper, 1) + sp.triu(upper, 1).T)
    adjacency.data[:] = 1.0
    dim, tau = 13, 1.0
    vectors = (
        Spectral({"dim": dim, "scale": "reconstruction", "tau": tau, "seed": 0})
        .fit(_dataset(adjacency))
        .embeddings.vectors.astype(np.float64)
    )
    dense = adjacency.toarray()
    degrees = dense.sum(axis=1) + tau
    values, basis = np.linalg.eigh(dense / np.sqrt(np.outer(degrees, degrees)))
    top = np.argsort(values)[::-1][:dim]
    kept = np.maximum(values[top], 0.0)
    expected = (basis[:, top] * kept) @ basis[:, top].T * np.sqrt(np.outer(degrees, degrees))
    assert np.allclose(vectors @ vectors.T, expected, atol=1e-5)


def test_reconstruction_scale_is_for_the_eigen_method_only():
    with pytest.raises(pydantic.ValidationError, match="reconstruction"):
        Spectral({"method": "prone", "scale": "reconstruction"})
