"""Settings of one HTTP server: where the bank is, which env var holds the token, limits.

Workers started by ``uvicorn --workers N`` are fresh processes; they read their settings
from ``EMBANK_SERVE_SETTINGS`` (JSON of :class:`ServeSettings`, which names the token's
environment variable, never the token itself).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SETTINGS_ENV", "ServeSettings"]

SETTINGS_ENV = "EMBANK_SERVE_SETTINGS"

MIB = 1 << 20
GIB = 1 << 30


class ServeSettings(BaseModel):
    """How ``embank serve`` serves a bank; every field has a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bank: str | None = Field(
        None,
        description="Bank folder or registry URL; else $EMBANK_BANK, ./embank.toml, then ./bank.",
    )
    token_env: str = Field(
        "EMBANK_TOKEN",
        description="Environment variable that holds the bearer token of the write routes; "
        "unset or empty: the server is read-only.",
    )
    max_body_bytes: int = Field(
        MIB, ge=1, description="Largest JSON request body, in bytes (413 beyond)."
    )
    max_upload_bytes: int = Field(
        4 * GIB, ge=1, description="Largest Arrow upload of a publish, in bytes (413 beyond)."
    )
    max_batch_keys: int = Field(
        10_000, ge=1, description="Most keys in one lookup, or excluded in one search (422)."
    )
    max_k: int = Field(1_000, ge=1, description="Most neighbours one search returns (422).")
    upload_dir: str | None = Field(
        None, description="Folder for uploads being received; else the system's temp folder."
    )
    cached_versions: int = Field(
        16,
        ge=1,
        description="Versions kept open per worker (their key index and memory maps); "
        "versions never change, so this cache never goes stale.",
    )

    def token(self) -> str | None:
        """The write token from the environment, or None (read-only)."""
        return os.environ.get(self.token_env) or None

    @classmethod
    def from_env(cls) -> ServeSettings:
        """The settings a worker was started with (defaults when none were passed)."""
        raw = os.environ.get(SETTINGS_ENV)
        return cls.model_validate_json(raw) if raw else cls()
