"""Charts of a comparison, drawn by matplotlib as inline SVG (no network needed to view).

One grouped bar chart per task: a group of bars per figure, one bar per ref, and each
ref's trivial baseline drawn as a dark tick across its bar.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from embank.store.models import CompareFigure

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

__all__ = ["PALETTE", "draw_task_chart", "metric_label", "task_chart_svg"]

#: one colour per ref, in order; readable on white and for common colour blindness
PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#64748b"]
_INK = "#1f2937"
_MUTED = "#6b7280"
_GRID = "#e5e7eb"


def metric_label(figure: str) -> str:
    """``topic_prediction.macro_f1_at_50`` -> ``macro_f1@50``."""
    return re.sub(r"_at_(\d+)", r"@\1", figure.partition(".")[2] or figure)


def task_chart_svg(
    figures: Sequence[CompareFigure], labels: Sequence[str], salt: str, title: str = ""
) -> str:
    """An ``<svg>`` element (no XML prolog, width set by CSS) of one task's figures.

    ``labels`` names the refs in order; ``salt`` keeps the element ids of several charts
    on one page apart; ``title`` labels the chart for screen readers.
    """
    import matplotlib

    rc = {
        "svg.fonttype": "none",  # text stays text: sharp, searchable, styled by the page
        "svg.hashsalt": salt,
        **_STYLE,
    }
    with matplotlib.rc_context(rc):
        fig = draw_task_chart(figures, labels)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _inline(buffer.getvalue(), title)


_STYLE = {
    "font.size": 9,
    "axes.edgecolor": _GRID,
    "axes.labelcolor": _MUTED,
    "xtick.color": _MUTED,
    "ytick.color": _MUTED,
    "figure.facecolor": "none",
    "axes.facecolor": "none",
    "savefig.facecolor": "none",
}


def draw_task_chart(figures: Sequence[CompareFigure], labels: Sequence[str]) -> Figure:
    """The grouped bar chart of one task (a matplotlib Figure, no pyplot state)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n_refs = len(labels)
    n_figures = len(figures)
    group = 0.8
    width = group / n_refs
    fig = Figure(figsize=(max(5.0, 1.2 + n_figures * (0.5 + 0.32 * n_refs)), 3.2))
    ax = fig.add_subplot()
    seen: list[float] = []
    for i in range(n_refs):
        color = PALETTE[i % len(PALETTE)]
        xs, heights = [], []
        for j, figure in enumerate(figures):
            x = j - group / 2 + width * (i + 0.5)
            value, baseline = figure.values[i], figure.baselines[i]
            if value is not None:
                xs.append(x)
                heights.append(value)
                seen.append(value)
            if baseline is not None:
                seen.append(baseline)
                ax.hlines(baseline, x - width / 2, x + width / 2, colors=_INK, lw=1.6, zorder=3)
        bars = ax.bar(xs, heights, width * 0.9, color=color, zorder=2)
        if n_refs * n_figures <= 24:
            ax.bar_label(bars, [f"{h:.3f}" for h in heights], padding=2, fontsize=7, color=_INK)
    ax.set_xticks(range(n_figures), [metric_label(f.figure) for f in figures])
    if sum(len(metric_label(f.figure)) for f in figures) > 70:  # labels would collide
        ax.tick_params(axis="x", labelrotation=20)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    low, high = min([0.0, *seen]), max([0.0, *seen])
    span = (high - low) or 1.0
    ax.set_ylim(low - (0.08 * span if low < 0 else 0.0), high + 0.16 * span)
    ax.axhline(0, color=_GRID, linewidth=0.8, zorder=1)
    ax.grid(axis="y", color=_GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="both", length=0)
    handles: list[Artist] = [
        Patch(color=PALETTE[i % len(PALETTE)], label=labels[i]) for i in range(n_refs)
    ]
    if any(b is not None for f in figures for b in f.baselines):
        name = next((f.baseline_name for f in figures if f.baseline_name), None)
        label = f"baseline ({name})" if name else "baseline"
        handles.append(Line2D([], [], color=_INK, linewidth=1.6, label=label))
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=min(len(handles), 5),
        frameon=False,
        fontsize=8,
        handlelength=1.2,
    )
    fig.tight_layout()
    return fig


def _inline(svg: str, title: str) -> str:
    """The bare ``<svg>`` element, scaled by its viewBox to the width of its container."""
    svg = svg[svg.index("<svg") :]
    end = svg.index(">") + 1
    opening = re.sub(r'\s(width|height)="[^"]*"', "", svg[:end])
    view_box = re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) [\d.]+"', opening)
    # Grow with the page up to a quarter past natural size (points -> CSS px), so the
    # text never outgrows the page's own.
    max_px = float(view_box.group(1)) * 4 / 3 * 1.25 if view_box else 900.0
    label = html.escape(title, quote=True)
    attributes = f'class="chart" role="img" aria-label="{label}" style="max-width: {max_px:.0f}px"'
    return opening.replace("<svg", f"<svg {attributes}", 1) + svg[end:]
