"""``embank serve``: the HTTP API over a bank, with uvicorn (``embank[serve]``)."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

from embank.errors import MissingExtraError
from embank.store.bank import open_bank

from . import render

__all__ = ["serve"]


def serve(
    bank: Annotated[
        str | None,
        typer.Option(
            "--bank",
            help="Bank folder or registry URL (sqlite:///…, postgresql://…); "
            "else $EMBANK_BANK, ./embank.toml, then ./bank.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it to this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=256, help="Worker processes serving the bank.")
    ] = 1,
    token_env: Annotated[
        str,
        typer.Option(
            help="Environment variable holding the bearer token of the write routes; "
            "unset or empty: read-only."
        ),
    ] = "EMBANK_TOKEN",
    max_upload_bytes: Annotated[
        int, typer.Option(min=1, help="Largest Arrow upload of a publish, in bytes.")
    ] = 4 << 30,
    create: Annotated[
        bool, typer.Option(help="Create an empty bank when none is there (to publish into).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the bank over HTTP: lookups, neighbours, discovery; writes behind a token.

    OpenAPI docs at /docs; see docs/http.md.
    """
    try:
        import uvicorn

        from embank.serve.settings import SETTINGS_ENV, ServeSettings
    except ImportError:
        raise MissingExtraError(
            'embank serve needs the HTTP server: pip install "embank[serve]"'
        ) from None
    open_bank(bank, create=create).close()  # fail here, not in every worker
    settings = ServeSettings(bank=bank, token_env=token_env, max_upload_bytes=max_upload_bytes)
    writable = settings.token() is not None
    if not writable:
        render.err.print(f"read-only: no token in ${token_env}; write routes answer 401/403")
    elif not _loopback(host):
        render.err.print(
            f"listening on {host} with writes enabled: the token travels in clear text "
            "unless a TLS proxy is in front"
        )
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run(
        "embank.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        server_header=False,
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
