"""A small bank and an in-process client of the HTTP API over it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi", reason='the HTTP API needs "embank[serve]"')

from fastapi.testclient import TestClient

import embank
from embank.serve import ServeSettings, create_app
from embank.vector_table import VectorTable

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
N_USERS = 120
DIM = 8


def user_table(seed: int, n: int = N_USERS, dim: int = DIM) -> VectorTable:
    rng = np.random.default_rng(seed)
    keys = [f"u{i}" for i in range(n)]
    return VectorTable.single_entity("user", keys, rng.standard_normal((n, dim)))


def co_table(seed: int = 7) -> VectorTable:
    """Users and items embedded together (dot product)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 30, 20
    entities = ["user"] * n_users + ["item"] * n_items
    keys = [str(i) for i in range(n_users)] + [str(i) for i in range(n_items)]
    return VectorTable(entities, keys, rng.standard_normal((n_users + n_items, 4)))


def seed_bank(path) -> embank.Bank:
    """demo/users@1 (production) and @2 (latest), cosine; demo/recs@1, user+item, dot."""
    bank = embank.open(path)
    bank.publish(
        "demo/users",
        user_table(1),
        description="Users by their follows",
        owner="cortex",
        tags=["social", "graph"],
        aliases=["production"],
    )
    bank.publish("demo/users", user_table(2))
    bank.publish(
        "demo/recs",
        co_table(),
        metric="dot",
        description="Users and items co-embedded",
        owner="recs",
        tags=["recommendation"],
    )
    return bank


@pytest.fixture
def make_users():
    """``make_users(seed)``: a fresh users table (for a new version)."""
    return user_table


@pytest.fixture
def bank_path(tmp_path):
    path = tmp_path / "bank"
    seed_bank(path).close()
    return path


@pytest.fixture
def bank(bank_path):
    opened = embank.open(bank_path, create=False)
    yield opened
    opened.close()


@pytest.fixture
def settings(tmp_path) -> ServeSettings:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    return ServeSettings(upload_dir=str(uploads))


@pytest.fixture
def client(bank, settings, monkeypatch):
    monkeypatch.setenv("EMBANK_TOKEN", TOKEN)
    with TestClient(create_app(settings, bank=bank)) as test_client:
        yield test_client
