"""When a table is due (cron, UTC) and the per-table refresh lock."""

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest

import embank
from embank.errors import ConflictError, SpecError
from embank.refresh.lock import lock_holder, lock_key, refresh_lock
from embank.refresh.schedule import due_tables, is_due, last_due_time
from embank.vector_table import VectorTable

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_is_due_after_each_cron_time():
    daily = "0 3 * * *"
    assert last_due_time(daily, at(29, 3)) == at(29, 3)  # the due time itself counts
    assert last_due_time(daily, at(29, 2, 59)) == at(28, 3)
    assert is_due(daily, at(28, 4), at(29, 3, 1))
    assert not is_due(daily, at(29, 3, 1), at(29, 9))
    assert not is_due(daily, at(28, 4), at(29, 2))
    assert is_due(daily, None, at(29, 2))  # never refreshed
    # naive times are UTC
    assert is_due(daily, dt.datetime(2026, 11, 28, 4), dt.datetime(2026, 11, 29, 3, 1))
    with pytest.raises(SpecError):
        is_due("not cron", None, at(29, 3))


def _publish(bank, name: str, schedule: str | None) -> None:
    rng = np.random.default_rng(0)
    keys = np.array([f"k{i}" for i in range(20)], dtype=object)
    table = VectorTable.single_entity("user", keys, rng.standard_normal((20, 4)).astype("f4"))
    spec = {"refresh": {"schedule": schedule}} if schedule else {}
    bank.publish(name, table, spec=spec)


def test_due_tables_picks_scheduled_tables_not_refreshed_since_their_due_time(tmp_path):
    with embank.open(tmp_path / "bank") as bank:
        _publish(bank, "test/daily", "0 3 * * *")
        _publish(bank, "test/hourly", "0 * * * *")
        _publish(bank, "test/never", None)
        created = bank.show("test/daily").version.created_at
        next_hour = created.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        assert due_tables(bank, now=created) == []
        names = [d.name for d in due_tables(bank, now=next_hour + dt.timedelta(minutes=1))]
        assert "test/hourly" in names and "test/never" not in names
        later = [d.name for d in due_tables(bank, now=created + dt.timedelta(days=1))]
        assert later == ["test/daily", "test/hourly"]


def test_the_lock_refuses_a_second_holder_and_is_released(tmp_path):
    with embank.open(tmp_path / "bank") as bank:
        with refresh_lock(bank, "test/t") as token:
            held = lock_holder(bank, "test/t")
            assert held["token"] == token and held["table"] == "test/t"
            refused = pytest.raises(ConflictError, match="another refresh of test/t is running")
            with refused, refresh_lock(bank, "test/t"):
                pass
            with refresh_lock(bank, "test/other"):  # one lock per table
                pass
        assert lock_holder(bank, "test/t") is None


def test_a_lock_of_a_dead_process_or_past_its_expiry_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with embank.open(tmp_path / "bank") as bank:
        with refresh_lock(bank, "test/t"):
            pass
        import socket

        future = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat()
        past = (dt.datetime.now(UTC) - dt.timedelta(seconds=1)).isoformat()
        for record in (
            {"host": socket.gethostname(), "pid": int(dead.stdout), "expires_at": future},
            {"host": "elsewhere", "pid": 1, "expires_at": past},
        ):
            with bank.registry.write() as conn:
                bank.registry.set_info(conn, {lock_key("test/t"): json.dumps(record)})
            with refresh_lock(bank, "test/t"):
                assert lock_holder(bank, "test/t")["host"] == socket.gethostname()
        # a live holder elsewhere, not expired, still refuses
        with bank.registry.write() as conn:
            live = {"host": "elsewhere", "pid": 1, "expires_at": future}
            bank.registry.set_info(conn, {lock_key("test/t"): json.dumps(live)})
        with pytest.raises(ConflictError), refresh_lock(bank, "test/t"):
            pass


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_lock_holds_across_two_clients_of_one_registry(backend, tmp_path, request):
    if backend == "sqlite":
        registry = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        registry = request.getfixturevalue("postgres_url")
    first = embank.open(registry=registry, offline=str(tmp_path / "files"))
    second = embank.open(registry=registry, offline=str(tmp_path / "files"))
    try:
        with (
            refresh_lock(first, "test/t"),
            pytest.raises(ConflictError),
            refresh_lock(second, "test/t"),
        ):
            pass
        with refresh_lock(second, "test/t"):
            assert lock_holder(first, "test/t") is not None
    finally:
        first.close()
        second.close()
