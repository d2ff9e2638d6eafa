"""The one exception tree of embank.

Every error knows the CLI exit code and the HTTP status it maps to, so the CLI and the
API each translate errors in one place::

    EmbankError                      exit 1, HTTP 500
    ├── UsageError                   exit 2, HTTP 400   bad arguments or values
    │   ├── SpecError                exit 2, HTTP 422   an invalid spec (file, field, allowed)
    │   ├── InvalidNameError         exit 2, HTTP 422   a table, alias, entity name or key
    │   ├── ValidationError          exit 2, HTTP 422   vectors or data that cannot be published
    │   │   └── MixedSpacesError     exit 2, HTTP 409   vectors of two spaces asked to meet
    │   └── MissingExtraError        exit 2, HTTP 501   an optional extra (torch, gensim) is missing
    ├── DataError                    exit 2, HTTP 422   a source that cannot be read or selected
    │   └── EmptySelectionError      exit 2, HTTP 422   selection left nothing to embed
    ├── NotFoundError                exit 3, HTTP 404   table, version, alias, key, bank, file
    │   └── UnknownPluginError       exit 3, HTTP 404   an algorithm or benchmark nobody registered
    ├── GateFailedError              exit 4, HTTP 409   a benchmark gate stopped the publish
    ├── ConflictError                exit 5, HTTP 409   a lock is held, or a conflicting write
    └── StorageError                 exit 1, HTTP 500   the bank's files or registry failed

Messages are one line and say what to do about the problem.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "DataError",
    "EmbankError",
    "EmptySelectionError",
    "GateFailedError",
    "InvalidNameError",
    "MissingExtraError",
    "MixedSpacesError",
    "NotFoundError",
    "SpecError",
    "StorageError",
    "UnknownPluginError",
    "UsageError",
    "ValidationError",
]


class EmbankError(Exception):
    """Base of every error embank raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    @property
    def kind(self) -> str:
        """A stable machine name for the error, used in JSON error bodies."""
        name = type(self).__name__
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class UsageError(EmbankError):
    exit_code = 2
    http_status = 400


class SpecError(UsageError):
    http_status = 422


class InvalidNameError(UsageError):
    http_status = 422


class ValidationError(UsageError):
    http_status = 422


class MixedSpacesError(ValidationError):
    """A call would mix vectors of two versions whose spaces differ (a query vector from
    one space searched in another, rows of several spaces joined): their scores mean
    nothing. 409: the request conflicts with what the bank now serves."""

    http_status = 409


class MissingExtraError(UsageError):
    """A feature needs an optional extra that is not installed; the message names it."""

    http_status = 501


class DataError(EmbankError):
    exit_code = 2
    http_status = 422


class EmptySelectionError(DataError):
    pass


class NotFoundError(EmbankError):
    exit_code = 3
    http_status = 404


class UnknownPluginError(NotFoundError):
    pass


class GateFailedError(EmbankError):
    exit_code = 4
    http_status = 409


class ConflictError(EmbankError):
    exit_code = 5
    http_status = 409


class StorageError(EmbankError):
    exit_code = 1
    http_status = 500
