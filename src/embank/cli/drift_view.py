"""How the CLI shows drift figures: a short table of the headline ones (``refresh``,
``diff``, ``show``); ``--json`` holds them all."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["HEADLINE", "drift_table"]

#: the figures a person reads first; --json and `show --json` hold them all
HEADLINE = (
    "drift.coverage.kept",
    "drift.coverage.added",
    "drift.coverage.dropped",
    "drift.overlap_at_10.median",
    "drift.overlap_at_10.p10",
    "drift.cosine_distance.median",
    "drift.cosine_distance.p90",
    "drift.cosine_distance.p99",
    "drift.procrustes_residual",
    "drift.eigenspace_overlap",
)


def drift_table(figures: dict[str, Any], floor: dict[str, Any] | None = None) -> Table:
    """The headline drift figures (beside the seed floor's, when there is one)."""
    table = Table(box=None, header_style="bold")
    table.add_column("drift figure")
    table.add_column("value", justify="right")
    if floor:
        table.add_column("seed floor", justify="right")
    for name in HEADLINE:
        if name not in figures:
            continue
        row = [name, _fmt(figures[name])]
        if floor:
            row.append(_fmt(floor.get(name)))
        table.add_row(*row)
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 1):
        return f"{int(value)}"
    return f"{float(value):.4f}"
