import pytest

from embank.benchmarks.base import Figure, TaskResult
from embank.benchmarks.gates import evaluate_gates, parse_gate
from embank.errors import SpecError

RESULTS = [
    TaskResult(
        "topic_prediction",
        [
            Figure("topic_prediction.macro_f1_at_50", 0.28, baseline=0.05, baseline_name="random"),
        ],
        run_time_s=1.0,
    )
]


def test_parse_shorthand_and_reference():
    gate = parse_gate("topic_prediction.macro_f1@50 >= 0.98 * previous")
    assert (gate.figure, gate.op, gate.number, gate.reference) == (
        "topic_prediction.macro_f1_at_50",
        ">=",
        0.98,
        "previous",
    )
    for bad in ("macro_f1 >= 1", "topic.x => 1", "topic.x >= 1 * nothing", "topic.x >= "):
        with pytest.raises(SpecError, match="FIGURE OP NUMBER"):
            parse_gate(bad)


def test_absolute_baseline_and_previous():
    out = evaluate_gates(["topic_prediction.macro_f1@50 >= 0.27"], RESULTS, None)
    assert out[0].passed and out[0].bound == 0.27
    out = evaluate_gates(["topic_prediction.macro_f1@50 >= 0.3"], RESULTS, None)
    assert not out[0].passed and "FAILED" in out[0].message and "0.2800" in out[0].message
    out = evaluate_gates(["topic_prediction.macro_f1@50 >= 5 * baseline"], RESULTS, None)
    assert out[0].passed and out[0].bound == pytest.approx(0.25)
    out = evaluate_gates(["topic_prediction.macro_f1@50 >= 0.98 * previous"], RESULTS, None)
    assert out[0].passed and "no previous version" in out[0].message
    previous = {"topic_prediction.macro_f1_at_50": 0.3}
    out = evaluate_gates(["topic_prediction.macro_f1@50 >= 0.98 * previous"], RESULTS, previous)
    assert not out[0].passed and out[0].bound == pytest.approx(0.294)


def test_unknown_figure_fails_and_lists_figures():
    out = evaluate_gates(["link_prediction.mrr >= 0.1"], RESULTS, None)
    assert not out[0].passed
    assert "topic_prediction.macro_f1_at_50" in out[0].message
