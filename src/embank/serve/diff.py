"""Drift between two versions for the API and the web UI: :func:`embank.refresh.diff.
diff_versions`, measured once per pair of versions in each worker.

Versions never change, so a diff is fixed by the two version ids and its settings: it is
kept in :meth:`Service.memo` under those, and a request that names the same versions by
another reference (an alias, ``latest``) reuses it. Only the ``ref`` of each side (the
reference as the caller gave it) is the request's own.
"""

from __future__ import annotations

from embank.refresh.diff import DiffResult, diff_versions
from embank.serve.service import Service

__all__ = ["DEFAULT_K", "DEFAULT_N_QUERIES", "served_diff"]

#: as ``embank diff``
DEFAULT_K = 10
DEFAULT_N_QUERIES = 2000


def served_diff(
    service: Service,
    a: str,
    b: str,
    *,
    k: int = DEFAULT_K,
    n_queries: int = DEFAULT_N_QUERIES,
) -> DiffResult:
    """The drift of version ``b`` against version ``a`` (refs like ``NAME@3``, any
    table), memoised per (version ids, ``k``, ``n_queries``).

    Raises :class:`~embank.errors.NotFoundError` for an unknown ref and
    :class:`~embank.errors.ValidationError` when the dimensions differ.
    """
    first, second = service.bank.resolve(a), service.bank.resolve(b)
    key = f"diff:{first.version_id}:{second.version_id}:{k}:{n_queries}"
    measured = service.memo(
        key,
        lambda: diff_versions(service.bank, first.ref, second.ref, k=k, n_queries=n_queries),
    )
    return measured.model_copy(
        update={
            "a": measured.a.model_copy(update={"ref": a}),
            "b": measured.b.model_copy(update={"ref": b}),
        }
    )
