"""``embank diff A B``: key coverage and drift between two versions, measured on the fly.

The same figures a refresh stores (:func:`embank.refresh.drift.drift`: coverage,
overlap@10, aligned cosine drift, Procrustes residual, eigenspace overlap), for any two
versions of one table, or of two tables of one dimension. No support counts are at hand
here, so the rotation behind the cosine figures is fitted on every shared key.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from embank.refresh.drift import drift
from embank.store.embedding import Embedding

if TYPE_CHECKING:
    from embank.store.bank import Bank

__all__ = ["DiffResult", "DiffSide", "diff_versions"]


class DiffSide(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: str = Field(description="The reference as given, e.g. demo/blogcatalog@2.")
    table: str = Field(description="Table name.")
    version: int = Field(description="Version number the reference resolved to.")
    space_id: str = Field(description="The version's space.")
    n_rows: int = Field(description="Rows (entity, key) in the version.")
    created_at: dt.datetime = Field(description="When the version was published.")


class DiffResult(BaseModel):
    """``embank diff A B --json``: B measured against A."""

    model_config = ConfigDict(frozen=True)

    a: DiffSide = Field(description="The base version (the 'previous' of the figures).")
    b: DiffSide = Field(description="The version compared with it.")
    same_space: bool = Field(description="Whether both versions share a space_id.")
    metric: str = Field(description="Similarity the neighbour overlap was searched with.")
    figures: dict[str, float | int | None] = Field(
        description="Drift figures, drift.<measure>[.<part>].<statistic> (docs/refresh.md)."
    )
    settings: dict[str, Any] = Field(description="How the figures were measured.")


def diff_versions(
    bank: Bank, a: str, b: str, *, k: int = 10, n_queries: int = 2000, seed: int = 0
) -> DiffResult:
    """Drift of version ``b`` against version ``a`` (refs like ``NAME@3``).

    Raises :class:`~embank.errors.NotFoundError` for an unknown ref and
    :class:`~embank.errors.ValidationError` when the dimensions differ.
    """
    first, second = bank.get(a), bank.get(b)
    report = drift(
        first.to_vector_table(),
        second.to_vector_table(),
        k=k,
        n_queries=n_queries,
        seed=seed,
        metric=first.metric,
    )
    return DiffResult(
        a=_side(a, first),
        b=_side(b, second),
        same_space=first.space_id == second.space_id,
        metric=first.metric,
        figures=report.figures,
        settings=report.settings,
    )


def _side(ref: str, embedding: Embedding) -> DiffSide:
    return DiffSide(
        ref=ref,
        table=embedding.name,
        version=embedding.version,
        space_id=embedding.space_id,
        n_rows=embedding.n_rows,
        created_at=embedding.version_info.created_at,
    )
