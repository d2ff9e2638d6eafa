"""RELIABILITY.md, "crash (SIGKILL) at any point of a publish": the bank is exactly as
before or exactly as after; no half-visible version; ``embank gc`` removes the leftovers.

A child process publishes with ``EMBANK_FAULT_POINT`` naming step k and kills itself
there (SIGKILL, no clean-up of any kind); k runs over every step of a publish
(:data:`embank.store.faults.PUBLISH_POINTS`), on the local bank and on PostgreSQL + S3 +
Redis. Afterwards the reopened bank passes ``check()``, ``latest`` is where it was (or on
the new, complete version when the kill came after the commit), every version reads back
bit for bit, and after ``gc(min_age_s=0)`` every byte, row and Redis key is as before.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from reliability_kit import assert_reads_back, fork_context, snapshot
from reliability_workers import TABLE, publish, publish_once

from embank.store import faults

NOT_LOCAL = {"publish:put:manifest", "publish:online:done"}  # S3 and Redis only
STEPS = [p for p in faults.PUBLISH_POINTS if p != "publish:write:inputs"]  # no inputs here
# On PostgreSQL + S3 + Redis, the steps where those stores differ from the local ones
# (each local step runs on the local bank; the staged files are local either way).
SHARED_KILLS = {
    "publish:manifest",
    "publish:put",
    "publish:put:manifest",
    "publish:online",
    "publish:online:done",
    "publish:commit",
    "publish:after_commit",
}


def _steps(kind: str) -> list[str]:
    return [p for p in STEPS if kind == "shared" or p not in NOT_LOCAL]


def test_a_publish_reaches_every_fault_point_in_order(stack, monkeypatch):
    """The steps the crash tests kill at are every step a publish goes through."""
    reached: list[str] = []
    monkeypatch.setattr(faults, "point", reached.append)
    publish(stack.open(), 1)
    assert reached == _steps(stack.kind)


def _start(stack, tmp_path, step: str, action: str = "kill", seed: int = 2):
    out = tmp_path / f"child-{seed}.json"
    env = {faults.ENV_POINT: step, faults.ENV_ACTION: action}
    if action == "pause":
        env[faults.ENV_READY] = str(tmp_path / "paused")
    args = stack.child_args(seed=seed, out=str(out), env=env)
    args["env"]["EMBANK_CACHE"] = os.environ["EMBANK_CACHE"]  # the same machine
    child = fork_context().Process(target=publish_once, args=(args,))
    child.start()
    return child, out


def _after_the_crash(stack, before, step: str) -> None:
    bank = stack.open(create=False)  # as after a restart
    committed = step == "publish:after_commit"
    result = bank.check()
    assert result.ok, result.problems
    versions = [v.number for v in bank.versions(TABLE)]
    if committed:  # exactly as after: the new version is whole and latest
        assert versions == [1, 2]
        assert bank.show(TABLE).table.aliases == {"latest": 2, "production": 1}
        assert_reads_back(bank, 2, seed=2)
    else:  # exactly as before, for readers: not a row of the new version
        assert versions == [1]
        assert snapshot(bank)["registry"] == before["registry"]
    assert_reads_back(bank, 1, seed=1)
    removed = bank.gc(min_age_s=0)
    if committed:
        assert removed == []
    else:
        assert removed, "the killed publish left something"
    cleaned = bank.check()
    assert cleaned.ok and cleaned.leftovers == [], cleaned
    if not committed:
        assert snapshot(bank) == before  # every byte, row and key
    assert publish(bank, 3).version == (3 if committed else 2)  # the next publish works
    assert bank.check().ok


def _cases() -> list[pytest.param]:
    return [
        pytest.param(kind, step, id=f"{kind}-{step.removeprefix('publish:')}")
        for kind in ("local", "shared")
        for step in _steps(kind)
        if kind == "local" or step in SHARED_KILLS
    ]


@pytest.mark.parametrize(("stack", "step"), _cases(), indirect=["stack"])
def test_sigkill_at_every_step_of_a_publish(stack, step, tmp_path):
    bank = stack.open()
    publish(bank, 1, aliases=["production"])
    before = snapshot(bank)
    child, out = _start(stack, tmp_path, step)
    child.join(60)
    assert child.exitcode == -signal.SIGKILL, f"the child was not killed at {step}"
    assert not out.exists()
    _after_the_crash(stack, before, step)


@pytest.mark.parametrize("stack", ["local", "shared"], indirect=True)
def test_killed_from_outside_while_holding_the_registry_lock(stack, tmp_path):
    """RELIABILITY.md's own recipe: the publisher pauses at a step (here inside the
    registry transaction, holding the write lock), the test kills it. Readers are not
    blocked meanwhile, and the lock dies with the process."""
    bank = stack.open()
    publish(bank, 1, aliases=["production"])
    before = snapshot(bank)
    child, out = _start(stack, tmp_path, "publish:commit", action="pause")
    paused = tmp_path / "paused"
    deadline = time.monotonic() + 60
    while not paused.exists():
        assert child.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    assert paused.read_text() == "publish:commit"
    started = time.monotonic()
    assert bank.get(TABLE).version == 1  # a reader does not wait for the writer
    assert time.monotonic() - started < 5
    child.kill()  # SIGKILL
    child.join(30)
    assert child.exitcode == -signal.SIGKILL and not out.exists()
    started = time.monotonic()
    _after_the_crash(stack, before, "publish:commit")
    assert time.monotonic() - started < 30  # the next publish did not wait out a lock
