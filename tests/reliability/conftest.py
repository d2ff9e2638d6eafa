"""Fixtures of the reliability tests: a fresh bank of each kind per test.

``local`` is a folder bank (SQLite, version folders, embedded online files); ``shared`` is
PostgreSQL + S3 (moto) + Redis, through the service fixtures of tests/conftest.py (skipped
without them, failed under ``CI=true``). Helpers live in reliability_kit.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the helpers, for this process and the forkserver

from reliability_kit import close_stack, make_stack  # noqa: E402


@pytest.fixture(params=["local", "shared"])
def stack(request, tmp_path, monkeypatch):
    """A fresh bank of each kind (``shared``: PostgreSQL + S3 + Redis)."""
    made = make_stack(request.param, request, tmp_path, monkeypatch)
    yield made
    close_stack(made)


@pytest.fixture
def local_stack(request, tmp_path, monkeypatch):
    """A fresh folder bank."""
    made = make_stack("local", request, tmp_path, monkeypatch)
    yield made
    close_stack(made)
