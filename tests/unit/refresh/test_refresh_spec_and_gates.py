"""The spec's ``refresh:`` section and gates on drift figures (multi-dot names,
``* seed_floor``)."""

import pytest

from embank.benchmarks.base import Figure, TaskResult
from embank.benchmarks.gates import evaluate_gates, parse_gate
from embank.errors import SpecError
from embank.spec.load import validate_spec

BASE = {
    "table": "test/small",
    "data": {"edges": {"entity": "user", "path": "edges.tsv"}},
    "algorithm": {"name": "spectral", "params": {"dim": 4}},
}


def test_refresh_defaults():
    spec = validate_spec(dict(BASE))
    assert spec.refresh.warm_start is False
    assert spec.refresh.align == "procrustes" and spec.refresh.min_support == 50
    assert spec.refresh.schedule is None and spec.refresh.gates == []


def test_top_level_warm_start_and_schedule_mean_the_refresh_fields():
    spec = validate_spec({**BASE, "warm_start": True, "schedule": "0 3 * * *"})
    assert spec.refresh.warm_start is True and spec.refresh.schedule == "0 3 * * *"
    dumped = spec.model_dump(mode="json")
    assert "warm_start" not in dumped and dumped["refresh"]["warm_start"] is True
    with pytest.raises(SpecError, match="give warm_start once"):
        validate_spec({**BASE, "warm_start": True, "refresh": {"warm_start": False}})


@pytest.mark.parametrize("schedule", ["every day", "0 3 * *", "61 * * * *", "0 3 * * * *"])
def test_a_bad_cron_string_is_a_spec_error(schedule):
    with pytest.raises(SpecError, match=r"refresh\.schedule.*cron string of five fields"):
        validate_spec({**BASE, "refresh": {"schedule": schedule}})


def test_drift_gates_belong_under_refresh():
    with pytest.raises(SpecError, match=r"move it to refresh\.gates"):
        validate_spec({**BASE, "gates": ["drift.overlap_at_10.median >= 0.9"]})
    with pytest.raises(SpecError, match="move 'topic_prediction"):
        validate_spec({**BASE, "refresh": {"gates": ["topic_prediction.macro_f1@50 >= 0.2"]}})
    spec = validate_spec(
        {**BASE, "refresh": {"gates": ["drift.overlap_at_10.median >= 0.8 * seed_floor"]}}
    )
    assert spec.refresh.gates == ["drift.overlap_at_10.median >= 0.8 * seed_floor"]


def test_gates_parse_multi_dot_names_and_seed_floor():
    gate = parse_gate("drift.overlap_at_10.support_50_inf.median >= 0.8 * seed_floor")
    assert gate.figure == "drift.overlap_at_10.support_50_inf.median"
    assert gate.reference == "seed_floor" and gate.number == 0.8
    assert parse_gate("topic_prediction.macro_f1@50 >= 0.27").figure == (
        "topic_prediction.macro_f1_at_50"
    )
    with pytest.raises(SpecError, match="seed_floor"):
        parse_gate("drift.overlap_at_10. >= 0.8")


def _drift(value: float) -> list[TaskResult]:
    return [TaskResult("drift", [Figure("drift.overlap_at_10.median", value)], 0.1)]


def test_seed_floor_gates_scale_by_the_floor_figure():
    gate = "drift.overlap_at_10.median >= 0.8 * seed_floor"
    floor = {"drift.overlap_at_10.median": 0.5}
    (passed,) = evaluate_gates([gate], _drift(0.41), None, seed_floor=floor)
    assert passed.passed and passed.bound == pytest.approx(0.4)
    (failed,) = evaluate_gates([gate], _drift(0.39), None, seed_floor=floor)
    assert not failed.passed and "FAILED" in failed.message
    (missing,) = evaluate_gates([gate], _drift(0.9), None, seed_floor=None)
    assert not missing.passed and "no seed floor figure" in missing.message
