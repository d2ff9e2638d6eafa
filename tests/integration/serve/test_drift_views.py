"""Drift in the table detail JSON and on the table page: figures of task ``drift`` and the
refresh's lineage, per version, and versions whose space changed marked."""

from __future__ import annotations

import re

from embank.benchmarks.base import Figure, TaskResult

FIGURES = {
    "drift.coverage.kept": 118.0,
    "drift.coverage.added": 2.0,
    "drift.coverage.dropped": 0.0,
    "drift.overlap_at_10.median": 0.9,
    "drift.overlap_at_10.p10": 0.7,
    "drift.cosine_distance.median": 0.012,
    "drift.cosine_distance.p90": 0.034,
    "drift.cosine_distance.p99": 0.081,
    "drift.procrustes_residual": 0.15,
}


def _refreshed(bank, make_users, *, seed: int, space: str, figures=FIGURES):
    """A version as a refresh publishes it: drift figures and lineage["refresh"]."""
    latest = bank.get("demo/users")
    result = TaskResult("drift", [Figure(n, v) for n, v in figures.items()], 0.1)
    lineage = {
        "refresh": {
            "previous_version": latest.version,
            "alignment": {"residual_before": 1.3, "residual_after": 0.125},
            "space": space,
        }
    }
    return bank.publish(
        "demo/users",
        make_users(seed),
        results=[result],
        lineage=lineage,
        space_id=latest.space_id if space == "kept" else None,
    )


def test_table_detail_has_the_drift_of_each_refreshed_version(client, bank, make_users):
    kept = _refreshed(bank, make_users, seed=3, space="kept")
    moved = _refreshed(bank, make_users, seed=4, space="new", figures={"drift.coverage.kept": 120})
    detail = client.get("/tables/demo/users").json()
    drift = {d["version"]: d for d in detail["drift"]}
    assert sorted(drift) == [kept.version, moved.version] == [3, 4]  # v1, v2 were not refreshed
    three = drift[3]
    assert three["figures"] == FIGURES
    assert (three["previous_version"], three["residual"], three["space"]) == (2, 0.125, "kept")
    assert three["space_changed"] is False and three["space_id"] == kept.space_id
    four = drift[4]
    assert four["space"] == "new" and four["space_changed"] is True
    assert four["figures"] == {"drift.coverage.kept": 120.0}


def test_a_table_never_refreshed_has_no_drift(client):
    assert client.get("/tables/demo/recs").json()["drift"] == []


def test_the_table_page_shows_drift_and_marks_new_spaces(client, bank, make_users):
    page = client.get("/t/demo/users").text
    assert "Drift from the previous version" not in page
    # v2 is already a new space against v1 (two fits)
    assert len(re.findall(r'class="chip warn new-space"', page)) == 1
    _refreshed(bank, make_users, seed=3, space="kept")
    _refreshed(bank, make_users, seed=4, space="new")
    page = client.get("/t/demo/users").text
    assert "Drift from the previous version" in page
    section = page[page.index('id="drift-h"') : page.index('id="lineage-h"')]
    row = re.search(r'<tr data-version="3">(.*?)</tr>', section, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert [c.strip() for c in cells[:10]] == [
        "v3", "v2", "118", "2", "0", "0.900", "0.700", "0.012", "0.034", "0.081",
    ]  # fmt: skip
    assert cells[10].strip() == "0.125" and ">kept<" in cells[11]
    assert ">new<" in re.search(r'<tr data-version="4">(.*?)</tr>', section, re.S).group(1)
    assert len(re.findall(r'class="chip warn new-space"', page)) == 2  # v2 and v4
