"""Publish gates: ``FIGURE OP NUMBER [* previous|baseline|seed_floor]``.

``@N`` is shorthand for ``_at_N`` (``topic_prediction.macro_f1@50``). A figure name has
two or more dot-separated parts (``drift.overlap_at_10.median``). ``previous`` is the
same figure of the version at the alias the publish moves; with no such version the gate
passes and says so. ``baseline`` is the figure's trivial baseline from the same run.
``seed_floor`` is the same figure in the spec's stored seed floor (drift between two cold
fits that differ only in the seed, :mod:`embank.refresh.seed_floor`); a refresh measures
it when a gate names it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from embank.benchmarks.base import TaskResult
from embank.errors import SpecError

__all__ = ["Gate", "GateOutcome", "evaluate_gates", "parse_gate"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_GATE_RE = re.compile(
    r"^\s*(?P<figure>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_@]*)+)\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?:\s*\*\s*(?P<ref>previous|baseline|seed_floor))?\s*$"
)


@dataclass(frozen=True)
class Gate:
    text: str
    figure: str
    op: str
    number: float
    reference: str | None  # None (absolute), "previous", "baseline" or "seed_floor"


@dataclass(frozen=True)
class GateOutcome:
    gate: Gate
    passed: bool
    value: float | None
    bound: float | None
    message: str


def parse_gate(text: str) -> Gate:
    match = _GATE_RE.match(text)
    if match is None:
        raise SpecError(
            f"gate {text!r} is not 'FIGURE OP NUMBER [* previous|baseline|seed_floor]', "
            "e.g. 'topic_prediction.macro_f1@50 >= 0.27'"
        )
    figure = re.sub(r"@(\d+)", r"_at_\1", match["figure"])
    return Gate(text, figure, match["op"], float(match["number"]), match["ref"])


def evaluate_gates(
    gates: list[str],
    results: list[TaskResult],
    previous: Mapping[str, float] | None,
    seed_floor: Mapping[str, float | None] | None = None,
) -> list[GateOutcome]:
    """Check every gate against this run's figures (and the previous version's, and the
    seed floor's figures for ``* seed_floor`` gates; a gate whose floor figure is missing
    fails and says so)."""
    values = {f.name: f for r in results for f in r.figures}
    outcomes = []
    for gate in map(parse_gate, gates):
        figure = values.get(gate.figure)
        if figure is None:
            known = ", ".join(sorted(values)) or "none (the spec runs no benchmark)"
            outcomes.append(
                GateOutcome(
                    gate,
                    False,
                    None,
                    None,
                    f"{gate.text}: no figure {gate.figure}; figures: {known}",
                )
            )
            continue
        if gate.reference == "previous" and (previous is None or gate.figure not in previous):
            outcomes.append(
                GateOutcome(
                    gate,
                    True,
                    figure.value,
                    None,
                    f"{gate.text}: passes, no previous version to compare",
                )
            )
            continue
        if gate.reference == "baseline" and figure.baseline is None:
            outcomes.append(
                GateOutcome(
                    gate,
                    False,
                    figure.value,
                    None,
                    f"{gate.text}: {gate.figure} has no baseline figure",
                )
            )
            continue
        if gate.reference == "seed_floor" and (seed_floor or {}).get(gate.figure) is None:
            outcomes.append(
                GateOutcome(
                    gate,
                    False,
                    figure.value,
                    None,
                    f"{gate.text}: no seed floor figure {gate.figure} (is the seed floor "
                    "measured? refresh.seed_floor, or a stochastic algorithm)",
                )
            )
            continue
        scale = {
            None: 1.0,
            "seed_floor": (seed_floor or {}).get(gate.figure),
            "previous": (previous or {}).get(gate.figure),
            "baseline": figure.baseline,
        }[gate.reference]
        bound = gate.number * float(scale)  # type: ignore[arg-type]
        passed = _OPS[gate.op](figure.value, bound)
        verdict = "passes" if passed else "FAILED"
        outcomes.append(
            GateOutcome(
                gate,
                passed,
                figure.value,
                bound,
                f"{gate.text}: {verdict}, {gate.figure} = {figure.value:.4f}, bound {bound:.4f}",
            )
        )
    return outcomes
