"""Small clustered data for the ANN tests: HNSW and IVF need structure to be judged on."""

from __future__ import annotations

import numpy as np
import pytest


def clustered(n_rows: int, dim: int = 16, n_clusters: int = 30, seed: int = 0) -> np.ndarray:
    """Gaussian clusters with row norms spread over ~10x, so cosine and dot disagree."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, dim)) * 3
    labels = rng.integers(0, n_clusters, n_rows)
    vectors = centers[labels] + rng.standard_normal((n_rows, dim))
    vectors *= rng.lognormal(0.0, 0.6, size=(n_rows, 1))
    return vectors.astype(np.float32)


@pytest.fixture(scope="session")
def vectors() -> np.ndarray:
    return clustered(3000)


@pytest.fixture(scope="session")
def queries(vectors: np.ndarray) -> np.ndarray:
    """40 points near rows of ``vectors``, not rows themselves."""
    rng = np.random.default_rng(1)
    picked = vectors[rng.choice(len(vectors), 40, replace=False)]
    return (picked + 0.3 * rng.standard_normal(picked.shape)).astype(np.float32)
