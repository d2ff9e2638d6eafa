"""Fixtures shared by every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder: ``$EMBANK_DATA``, else ``<repo root>/../shared/data``.

    Skips the test when the folder is missing, except under ``CI=true``, where it fails.
    """
    folder = Path(os.environ.get("EMBANK_DATA") or REPO_ROOT.parent / "shared" / "data")
    if not folder.is_dir():
        message = f"shared data folder {folder} not found; set EMBANK_DATA"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def blogcatalog_bank(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bank holding demo/blogcatalog@1, made once per session by the real CLI."""
    import subprocess
    import sys

    bank = tmp_path_factory.mktemp("blogcatalog") / "bank"
    env = {**os.environ, "EMBANK_DATA": str(shared_data)}
    command = [
        sys.executable,
        "-m",
        "embank",
        "run",
        str(REPO_ROOT / "examples" / "blogcatalog.yaml"),
        "--bank",
        str(bank),
        "--json",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return bank
