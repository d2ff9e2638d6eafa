"""Small helpers every router shares."""

from __future__ import annotations

import re
from collections.abc import Iterable

from embank.errors import InvalidNameError
from embank.names import check_key, check_table_name, key_text
from embank.store.embedding import Embedding

__all__ = ["checked_keys", "served_headers", "table_name"]

_FORBIDDEN = re.compile("[\t\n\r\x00]")


def table_name(ns: str, name: str) -> str:
    """``ns/name`` from the path, checked (422 for anything else, e.g. ``..``)."""
    return check_table_name(f"{ns}/{name}")


def served_headers(embedding: Embedding) -> dict[str, str]:
    """The headers that name the version an answer was served from."""
    return {
        "X-Embank-Version": f"{embedding.name}@{embedding.version}",
        "X-Embank-Space": embedding.space_id,
    }


def checked_keys(raw: Iterable[str | int]) -> list[str]:
    """Keys as text, each 1-512 bytes of UTF-8 without tab, newline or NUL (422 else).

    Checked as one joined string (a per-key :func:`check_key` costs more than the lookup
    of a 1,000-key batch); only a batch that fails is checked key by key, for the message.
    """
    keys = [k if isinstance(k, str) else key_text(k) for k in raw]
    joined = "\x1f".join(keys)
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidNameError("keys must be valid UTF-8 text (no lone surrogates)") from None
    # a character is at most 4 bytes: only keys over 128 characters can pass 512 bytes
    if _FORBIDDEN.search(joined) or any(
        not k or (len(k) > 128 and len(k.encode()) > 512) for k in keys
    ):
        for key in keys:
            check_key(key)
    return keys
