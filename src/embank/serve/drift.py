"""Drift of each version against the one before it, for the table detail and its page.

A refresh stores its drift figures as benchmark figures of task ``drift`` (names
``drift.<measure>[.<part>].<statistic>``, :func:`embank.refresh.drift`) and its alignment
and space decision in ``lineage["refresh"]``; a fold-in patch keeps its parent's space.
Both are read here as they are found: a version with neither has no drift entry, and a
missing figure is simply absent. One registry read gets the figures of every version.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from embank.serve.models import VersionDrift
from embank.store.bank import Bank
from embank.store.models import VersionInfo
from embank.store.schema import benchmark_results

__all__ = ["drift_by_version", "drift_figures"]

PREFIX = "drift."


def drift_figures(bank: Bank, name: str) -> dict[int, dict[str, float]]:
    """Each version's ``drift.*`` figures (each figure's latest benchmark run)."""
    with bank.registry.read() as conn:
        table_id = bank.registry.require_table(conn, name).id
        rows = conn.execute(
            sa.select(
                benchmark_results.c.version_number,
                benchmark_results.c.figure,
                benchmark_results.c.value,
                benchmark_results.c.run,
            )
            .where(
                benchmark_results.c.table_id == table_id,
                benchmark_results.c.figure.like(f"{PREFIX}%"),
            )
            .order_by(benchmark_results.c.run)
        ).all()
    found: dict[int, dict[str, float]] = {}
    for row in rows:  # later runs replace earlier ones
        found.setdefault(int(row.version_number), {})[row.figure] = float(row.value)
    return found


def drift_by_version(bank: Bank, name: str, versions: list[VersionInfo]) -> list[VersionDrift]:
    """A :class:`VersionDrift` for every version with drift figures or a refresh record,
    oldest first; ``space_changed`` compares each version's space with the one before."""
    figures = drift_figures(bank, name)
    ordered = sorted(versions, key=lambda v: v.number)
    found = []
    for before, version in zip([None, *ordered[:-1]], ordered, strict=True):
        lineage = version.lineage or {}
        refresh: dict[str, Any] = lineage.get("refresh") or {}
        if not isinstance(refresh, dict):
            refresh = {}
        own = figures.get(version.number, {})
        if not own and not refresh:
            continue
        alignment = refresh.get("alignment") if isinstance(refresh.get("alignment"), dict) else {}
        residual = (alignment or {}).get("residual_after", own.get("drift.procrustes_residual"))
        previous = refresh.get("previous_version")
        if previous is None and before is not None:
            previous = before.number
        found.append(
            VersionDrift(
                version=version.number,
                previous_version=previous,
                space_id=version.space_id,
                space_changed=None if before is None else before.space_id != version.space_id,
                space=refresh.get("space") if isinstance(refresh.get("space"), str) else None,
                residual=float(residual) if isinstance(residual, int | float) else None,
                figures=own,
            )
        )
    return found
