"""The HTTP API (``embank serve``): FastAPI over one bank; needs ``embank[serve]``.

Modules: ``app`` (factory), ``routes/`` (one router per area), ``models`` (bodies),
``auth`` (bearer token), ``limits`` (body size, caps), ``errors`` (one error shape),
``formats`` (Arrow and raw float32 answers; numpy and pyarrow only), ``admin`` (what the
bank does not offer yet), ``settings``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embank.serve.settings import ServeSettings

if TYPE_CHECKING:
    from embank.serve.app import create_app

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI is imported only when the app is asked for, so that formats and settings
    # work without the serve extra.
    if name == "create_app":
        from embank.serve.app import create_app

        return create_app
    raise AttributeError(name)
