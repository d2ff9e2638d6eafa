"""``embank refresh`` and ``embank diff`` in-process, on two planted communities.

Idempotence per ``--as-of``, a forced refresh that keeps the space, drift gates that
decide the space (``--new-space``, audited), the per-table lock, ``--due`` and ``diff``.
"""

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import embank
from embank.cli import app
from embank.refresh.lock import lock_holder, refresh_lock
from embank.refresh.schedule import due_tables
from embank.store.schema import versions

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _json(*args):
    result = _invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


_WARM = "refresh: {warm_start: true}\n"


@pytest.fixture
def project(tmp_path, write_small_project):
    extra = "description: Two planted communities\nowner: tests\n" + _WARM
    return write_small_project(tmp_path, extra=extra)


def _base_spec(project):
    """The project's spec without its refresh section, to add another one."""
    return (project / "spec.yaml").read_text().replace(_WARM, "")


@pytest.fixture
def bank(project):
    """A bank holding test/small@1, made by `embank run`."""
    bank = project / "bank"
    result = _invoke("run", project / "spec.yaml", "--bank", bank)
    assert result.exit_code == 0, result.output
    return bank


def _n_versions(bank):
    with embank.open(bank) as opened:
        return len(opened.versions("test/small"))


def test_refresh_of_unchanged_data_publishes_nothing_per_as_of(bank):
    result = _invoke("refresh", "test/small", "--bank", bank)
    assert result.exit_code == 0, result.output
    assert "nothing published" in result.output
    assert _n_versions(bank) == 1

    # another logical date is another refresh; the same date again is not
    first = _json("refresh", "test/small", "--as-of", "2026-11-28", "--bank", bank)
    assert first["published"] and first["version"] == 2 and first["space"] == "kept"
    again = _json("refresh", "test/small", "--as-of", "2026-11-28", "--bank", bank)
    assert again["published"] is False and again["outcome"] == "unchanged"
    assert _n_versions(bank) == 2
    with embank.open(bank) as opened:
        entries = [e for e in opened.audit_log("test/small") if e["action"] == "refresh"]
    assert [e["details"]["outcome"] for e in entries] == ["unchanged", "unchanged"]
    assert entries[-1]["details"]["as_of"] == "2026-11-28"


def test_forced_refresh_keeps_the_space_and_stores_drift(bank):
    result = _invoke("refresh", "test/small", "--force", "--bank", bank)
    assert result.exit_code == 0, result.output
    assert "published test/small@2 in the same space" in result.output
    assert "drift.overlap_at_10.median" in result.output

    shown = _json("show", "test/small@2", "--bank", bank)
    first = _json("show", "test/small@1", "--bank", bank)
    assert shown["version"]["space_id"] == first["version"]["space_id"]
    assert first["drift"] is None
    drift = shown["drift"]
    assert drift["space"] == "kept" and drift["previous_version"] == 1
    figures = drift["figures"]
    print("forced refresh on unchanged data:", figures)
    assert figures["drift.coverage.kept"] == 80 and figures["drift.coverage.added"] == 0
    assert figures["drift.overlap_at_10.median"] >= 0.99
    assert figures["drift.cosine_distance.median"] <= 1e-3
    # the same figures are the version's `drift` task figures (compare, charts, gates)
    stored = {f["figure"]: f["value"] for f in shown["benchmarks"] if f["task"] == "drift"}
    assert stored["drift.overlap_at_10.median"] == figures["drift.overlap_at_10.median"]
    lineage = shown["version"]["lineage"]["refresh"]
    assert lineage["alignment"]["residual_after"] <= lineage["alignment"]["residual_before"] + 1e-9
    assert lineage["warm_start"]["requested"] is True

    text = _invoke("show", "test/small@2", "--bank", bank).output
    assert "space kept" in text and "drift.cosine_distance.median" in text


def test_rotation_is_stored_as_an_artifact(bank):
    import numpy as np

    from embank.pipeline.refresh import load_rotation

    assert _invoke("refresh", "test/small", "--force", "--bank", bank).exit_code == 0
    with embank.open(bank) as opened:
        meta = opened.get_artifact("test/small", 2, "alignment")
    rotation = load_rotation(meta)
    assert rotation.shape == (4, 4)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(4), atol=1e-10)


def test_failing_drift_gate_publishes_nothing_unless_new_space(bank, project):
    spec = project / "strict.yaml"
    gate = "drift.overlap_at_10.median > 1.0"
    spec.write_text(_base_spec(project) + f'refresh: {{gates: ["{gate}"]}}\n')
    refused = _invoke("refresh", "test/small", "--spec", spec, "--force", "--bank", bank)
    assert refused.exit_code == 4, refused.output
    assert "drift.overlap_at_10.median" in refused.output and "--new-space" in refused.output
    assert _n_versions(bank) == 1
    with embank.open(bank) as opened:
        (entry,) = [e for e in opened.audit_log("test/small") if e["action"] == "refresh"]
    assert entry["details"]["outcome"] == "gate_failed"

    done = _json("refresh", "test/small", "--spec", spec, "--force", "--new-space", "--bank", bank)
    assert done["published"] and done["space"] == "new"
    with embank.open(bank) as opened:
        spaces = [v.space_id for v in opened.versions("test/small")]
        publish = [e for e in opened.audit_log("test/small") if e["action"] == "publish"][-1]
    assert spaces[0] != spaces[1]
    assert publish["version_number"] == 2 and publish["details"]["new_space"] is True
    assert publish["details"]["failed_drift_gates"][0]["gate"].startswith("drift.overlap")


def test_a_passing_drift_gate_against_the_seed_floor_keeps_the_space(bank, project):
    spec = project / "floor.yaml"
    gate = "drift.overlap_at_10.median >= 0.8 * seed_floor"
    spec.write_text(_base_spec(project) + f'refresh: {{gates: ["{gate}"]}}\n')
    done = _json("refresh", "test/small", "--spec", spec, "--force", "--bank", bank)
    assert done["space"] == "kept", done
    assert done["drift_gates"][0]["passed"] and done["seed_floor"] is not None
    with embank.open(bank) as opened:
        floor = opened.get_artifact("test/small", 2, "seed_floor")
    assert (
        floor["figures"]["drift.overlap_at_10.median"]
        == done["seed_floor"]["drift.overlap_at_10.median"]
    )
    # measured once per spec: the next refresh carries it instead of fitting twice more
    again = _json("refresh", "test/small", "--spec", spec, "--force", "--bank", bank)
    with embank.open(bank) as opened:
        lineage = opened.show("test/small@3").version.lineage["refresh"]
    assert again["seed_floor"] == done["seed_floor"]
    assert lineage["seed_floor"]["measured_now"] is False


def test_lock_refuses_a_concurrent_refresh(bank):
    with embank.open(bank) as opened, refresh_lock(opened, "test/small"):
        assert lock_holder(opened, "test/small") is not None
        refused = _invoke("refresh", "test/small", "--force", "--bank", bank)
        assert refused.exit_code == 5, refused.output
        assert "another refresh of test/small is running" in refused.output
    with embank.open(bank) as opened:
        assert lock_holder(opened, "test/small") is None
    assert _invoke("refresh", "test/small", "--force", "--bank", bank).exit_code == 0


def test_due_selects_tables_whose_schedule_fired_since_their_last_refresh(bank, project):
    spec = project / "daily.yaml"
    spec.write_text(_base_spec(project) + 'refresh: {schedule: "0 3 * * *"}\n')
    assert (
        _invoke("refresh", "test/small", "--spec", spec, "--force", "--bank", bank).exit_code == 0
    )
    with embank.open(bank) as opened:
        created = opened.show("test/small").version.created_at
        next_3am = (created + dt.timedelta(days=1)).replace(
            hour=3, minute=0, second=0, microsecond=0
        )
        assert due_tables(opened, now=next_3am - dt.timedelta(minutes=1)) == [] or (
            created.hour < 3  # published before 03:00: today's run is still due
        )
        found = due_tables(opened, now=next_3am + dt.timedelta(minutes=5))
        assert [d.name for d in found] == ["test/small"]
        assert found[0].due_at == next_3am
        # the CLI's --due uses the clock: move the version back two days to make it due
        with opened.registry.write() as conn:
            conn.execute(sa.update(versions).values(created_at=created - dt.timedelta(days=2)))
    done = _json("refresh", "--due", "--bank", bank)
    assert done["due"] == ["test/small"]
    assert done["refreshes"][0]["outcome"] == "unchanged"  # same data, deterministic
    # that attempt counts as the run for this due time
    assert _json("refresh", "--due", "--bank", bank)["due"] == []


def test_diff_measures_two_versions(bank):
    assert _invoke("refresh", "test/small", "--force", "--bank", bank).exit_code == 0
    result = _json("diff", "test/small@1", "test/small@2", "--bank", bank)
    assert result["same_space"] is True and result["metric"] == "cosine"
    assert result["figures"]["drift.coverage.kept"] == 80
    assert result["figures"]["drift.overlap_at_10.median"] >= 0.99
    text = _invoke("diff", "test/small@1", "test/small@2", "--bank", bank)
    assert text.exit_code == 0 and "drift.eigenspace_overlap" in text.output


def test_refresh_needs_a_name_or_due(bank):
    result = _invoke("refresh", "--bank", bank)
    assert result.exit_code == 2 and "--due" in result.output
    missing = _invoke("refresh", "test/nothing", "--bank", bank)
    assert missing.exit_code == 3 and "embank run" in missing.output


def test_a_stochastic_algorithm_refreshes_every_time_against_its_seed_floor(project):
    """node2vec is not deterministic: no idempotent skip; its seed floor is measured on the
    first refresh (refresh.seed_floor defaults on) and carried after that."""
    spec = project / "walks.yaml"
    walks = "{dim: 8, walks_per_node: 4, walk_length: 20, window: 5, epochs: 1, seed: 0}"
    spec.write_text(
        _base_spec(project).replace(
            "{name: spectral, params: {dim: 4, seed: 0}}", f"{{name: node2vec, params: {walks}}}"
        )
        + "refresh: {warm_start: true}\n"
    )
    bank = project / "bank"
    assert _invoke("run", spec, "--bank", bank).exit_code == 0
    first = _json("refresh", "test/small", "--bank", bank)
    assert first["published"] and first["space"] == "kept"
    assert first["warm_start"]["used"] is True
    floor = first["seed_floor"]
    print("node2vec refresh:", first["drift"], "\nseed floor:", floor)
    assert floor is not None and 0.0 <= floor["drift.overlap_at_10.median"] <= 1.0
    second = _json("refresh", "test/small", "--bank", bank)
    assert second["published"] and second["version"] == 3 and second["seed_floor"] == floor
    shown = _json("show", "test/small@3", "--bank", bank)
    assert shown["drift"]["seed_floor"] == floor
    assert shown["version"]["lineage"]["refresh"]["seed_floor"]["measured_now"] is False


def test_cold_refresh_fits_without_warm_start_and_still_aligns(project):
    spec = project / "walks.yaml"
    walks = "{dim: 8, walks_per_node: 4, walk_length: 20, window: 5, epochs: 1, seed: 0}"
    spec.write_text(
        _base_spec(project)
        .replace(
            "{name: spectral, params: {dim: 4, seed: 0}}", f"{{name: node2vec, params: {walks}}}"
        )
        .replace("dim: 4", "dim: 8")
        + "refresh: {warm_start: true, seed_floor: false}\n"
    )
    other = project / "bank-walks"
    assert _invoke("run", spec, "--bank", other).exit_code == 0
    cold = _json("refresh", "test/small", "--cold", "--bank", other)
    assert cold["warm_start"] == {"requested": False, "used": False}
    assert cold["alignment"] is not None and cold["space"] == "kept"
    assert cold["seed_floor"] is None  # refresh.seed_floor: false and no gate names it
