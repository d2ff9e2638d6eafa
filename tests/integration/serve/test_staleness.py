"""Each table's age and last refresh outcome: in /metrics at scrape time, in `embank ls`
(and ls --json), and in GET /tables."""

from __future__ import annotations

import datetime as dt
import json
import re

from typer.testing import CliRunner

from embank.cli import app
from embank.store.registry import utcnow

runner = CliRunner()


def _gauges(text: str, name: str) -> dict[tuple[str, ...], float]:
    """``{(table[, outcome]): value}`` of one metric in Prometheus text."""
    found = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            key = tuple(labels[n] for n in ("table", "outcome") if n in labels)
            found[key] = float(match.group(2))
    return found


def _record_refresh(bank, table: str, version: int, outcome: str, at: dt.datetime) -> None:
    """A refresh that published nothing, as `embank refresh` records it."""
    with bank.registry.write() as conn:
        bank.registry.audit(conn, "refresh", "ops", at, table, version, outcome=outcome)


def test_metrics_show_each_tables_age_and_last_refresh(client, bank, make_users):
    before = utcnow()
    _record_refresh(bank, "demo/recs", 1, "gate_failed", before)
    text = client.get("/metrics").text
    ages = _gauges(text, "embank_table_age_seconds")
    assert set(ages) == {("demo/recs",), ("demo/users",)}
    assert all(0 <= age < 120 for age in ages.values())
    last = _gauges(text, "embank_table_last_refresh")
    assert last == {("demo/recs", "gate_failed"): 1.0, ("demo/users", "unknown"): 1.0}
    finished = _gauges(text, "embank_table_last_refresh_timestamp_seconds")
    assert finished == {("demo/recs",): before.timestamp()}
    # computed at each scrape: a refresh that publishes shows at the next one
    bank.publish("demo/users", make_users(5), audit={"refresh": {"as_of": None}})
    again = _gauges(client.get("/metrics").text, "embank_table_last_refresh")
    assert again[("demo/users", "published")] == 1.0
    assert ("demo/users", "unknown") not in again


def test_ls_shows_age_and_last_refresh_and_its_json_matches_the_api(client, bank, bank_path):
    _record_refresh(bank, "demo/users", 2, "unchanged", utcnow())
    listed = runner.invoke(app, ["ls", "--bank", str(bank_path)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "age" in listed.output and "refresh" in listed.output
    users = next(line for line in listed.output.splitlines() if "demo/users" in line)
    assert re.search(r"\b\d+s\b", users) and "unchanged" in users
    recs = next(line for line in listed.output.splitlines() if "demo/recs" in line)
    assert "unknown" in recs
    body = json.loads(runner.invoke(app, ["ls", "--bank", str(bank_path), "--json"]).stdout)
    by_name = {t["name"]: t for t in body}
    assert by_name["demo/users"]["last_refresh"]["outcome"] == "unchanged"
    assert by_name["demo/users"]["last_refresh"]["version"] == 2
    published = dt.datetime.fromisoformat(by_name["demo/users"]["latest_published_at"])
    assert published == bank.get("demo/users").version_info.created_at
    assert body == client.get("/tables").json()
