"""The table page's "Drift from the previous version" section, from
:func:`embank.serve.drift.drift_by_version`: one row per refreshed version, and which
versions changed space (marked in the versions table); and the compare page's drift
between any two versions of a table, from the API's diff (:mod:`embank.serve.diff`)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from embank.refresh.diff import DiffResult
from embank.serve.drift import drift_by_version
from embank.store.bank import Bank
from embank.store.models import VersionInfo

__all__ = ["COLUMNS", "COMPARE_FIGURES", "diff_section", "drift_section"]

#: (heading, figure name, tooltip) of the columns, in the order shown
COLUMNS = (
    ("kept", "drift.coverage.kept", "keys in both versions"),
    ("added", "drift.coverage.added", "keys only in this version"),
    ("dropped", "drift.coverage.dropped", "keys only in the previous version"),
    ("overlap@10 median", "drift.overlap_at_10.median", "share of each key's 10 neighbours kept"),
    ("overlap@10 p10", "drift.overlap_at_10.p10", "the 10 % of keys that kept the fewest"),
    ("cos dist median", "drift.cosine_distance.median", "1 - cos to the key's previous vector"),
    ("cos dist p90", "drift.cosine_distance.p90", ""),
    ("cos dist p99", "drift.cosine_distance.p99", ""),
)


#: the headline columns the compare page shows of a diff
COMPARE_FIGURES = (
    "drift.coverage.kept",
    "drift.coverage.added",
    "drift.coverage.dropped",
    "drift.overlap_at_10.median",
    "drift.cosine_distance.median",
    "drift.cosine_distance.p90",
)


def diff_section(result: DiffResult) -> dict[str, Any]:
    """The compare page's drift of B against A (measured with ``k`` 10, as the page asks):
    ``columns`` and formatted ``values`` of :data:`COMPARE_FIGURES`, ``same_space``, and
    how many keys the overlap was measured over."""
    columns = [c for c in COLUMNS if c[1] in COMPARE_FIGURES]
    return {
        "columns": columns,
        "values": [_text(result.figures.get(figure), figure) for _, figure, _ in columns],
        "same_space": result.same_space,
        "n_queries": result.figures.get("drift.overlap_at_10.n_queries"),
        "seed": result.settings.get("seed"),
    }


def drift_section(bank: Bank, name: str, versions: list[VersionInfo]) -> dict[str, Any]:
    """``drift_columns``, ``drift_rows`` (newest first) and ``space_changed`` (version
    numbers whose space differs from the version before) for the table page."""
    entries = drift_by_version(bank, name, versions)
    ordered = sorted(versions, key=lambda v: v.number)
    changed = {v.number for before, v in pairwise(ordered) if before.space_id != v.space_id}
    rows = []
    for entry in reversed(entries):
        rows.append(
            {
                "version": entry.version,
                "previous": entry.previous_version,
                "values": [_text(entry.figures.get(figure), figure) for _, figure, _ in COLUMNS],
                "residual": _text(entry.residual),
                "space": entry.space or ("new" if entry.space_changed else "kept"),
                "space_changed": bool(entry.space_changed),
            }
        )
    return {"drift_columns": COLUMNS, "drift_rows": rows, "space_changed": changed}


def _text(value: float | None, figure: str = "") -> str:
    """Key counts as whole numbers; shares and distances always with three decimals, so a
    column does not mix ``1`` and ``0.900``."""
    if value is None:
        return "–"
    if figure.startswith("drift.coverage.") and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3f}"
