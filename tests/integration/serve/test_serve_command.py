"""``embank serve`` in-process: what it hands uvicorn, and that it refuses a missing bank."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from embank.cli import app as cli
from embank.serve.settings import SETTINGS_ENV, ServeSettings

uvicorn = pytest.importorskip("uvicorn")
runner = CliRunner()


@pytest.fixture
def started(monkeypatch):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    monkeypatch.setenv(SETTINGS_ENV, "")  # so that what serve sets is undone after
    monkeypatch.delenv(SETTINGS_ENV)
    return calls


def test_serve_starts_uvicorn_with_the_settings(bank_path, started, monkeypatch):
    monkeypatch.setenv("SERVE_TOKEN", "secret-value")
    args = ["--bank", str(bank_path), "--port", "8123", "--workers", "3"]
    done = runner.invoke(cli, ["serve", *args, "--token-env", "SERVE_TOKEN"])
    assert done.exit_code == 0, done.output
    [(app, kwargs)] = started
    assert app == "embank.serve.app:app_from_env"
    assert kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.1", 8123, 3)
    raw = os.environ[SETTINGS_ENV]
    assert "secret-value" not in raw  # the token stays in its own variable
    settings = ServeSettings.model_validate(json.loads(raw))
    assert settings.bank == str(bank_path)
    assert settings.token_env == "SERVE_TOKEN"
    assert settings.token() == "secret-value"


def test_serve_says_when_it_is_read_only(bank_path, started, monkeypatch):
    monkeypatch.delenv("EMBANK_TOKEN", raising=False)
    done = runner.invoke(cli, ["serve", "--bank", str(bank_path)])
    assert done.exit_code == 0
    assert "read-only" in done.output
    assert len(started) == 1


def test_serve_refuses_a_missing_bank_and_creates_none(tmp_path, started):
    missing = tmp_path / "nothing-here"
    done = runner.invoke(cli, ["serve", "--bank", str(missing)])
    assert done.exit_code == 3
    assert "no bank" in done.output
    assert not missing.exists()
    assert started == []


def test_settings_have_help_on_every_field():
    for name, field in ServeSettings.model_fields.items():
        assert field.description, f"ServeSettings.{name} has no description"
