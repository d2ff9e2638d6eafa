"""Small clustered tables for the refresh tests."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from embank.vector_table import VectorTable


def clustered(n: int, dim: int, seed: int = 0, n_clusters: int = 20) -> np.ndarray:
    """``n`` float32 vectors around ``n_clusters`` random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    members = centres[rng.integers(n_clusters, size=n)]
    return (members + 0.4 * rng.standard_normal((n, dim))).astype(np.float32)


def random_rotation(dim: int, seed: int = 1) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def keys(n: int, prefix: str = "k") -> np.ndarray:
    return np.array([f"{prefix}{i:05d}" for i in range(n)], dtype=object)


@pytest.fixture(scope="module")
def table() -> VectorTable:
    """2,000 clustered rows of dim 32, one entity."""
    return VectorTable.single_entity("node", keys(2000), clustered(2000, 32))


@pytest.fixture(scope="session")
def make() -> SimpleNamespace:
    """The helpers above, for tests: ``make.clustered``, ``make.rotation``, ``make.keys``."""
    return SimpleNamespace(clustered=clustered, rotation=random_rotation, keys=keys)
