"""RELIABILITY.md, "disk full / I/O error mid-write": publish fails with a clear error,
the registry (and every store) is unchanged, and the next publish works.

Each write step of a publish in turn raises ``OSError(ENOSPC)`` (fault action
``disk_full``): the staged files one by one, the fsyncs, the manifest, the move or upload
to the final place, the online write, the registry commit. The publish must raise a
:class:`StorageError` that names the problem, leave every byte, row and Redis key as
before (it cleans up after itself; ``gc`` then finds nothing), and the next publish must
work. The same with an unexpected error (action ``raise``), which propagates as it is.
"""

from __future__ import annotations

import json

import pytest
from reliability_kit import assert_reads_back, fork_context, snapshot
from reliability_workers import TABLE, publish, publish_past_file_size_limit

from embank.errors import StorageError
from embank.store import faults

NOT_LOCAL = {"publish:put:manifest", "publish:online:done"}
# after the commit nothing is written any more: a failure there is no disk's doing
SKIPPED = ("publish:write:inputs", "publish:after_commit")
WRITES = [p for p in faults.PUBLISH_POINTS if p not in SKIPPED]


def _steps(kind: str) -> list[str]:
    return [p for p in WRITES if kind == "shared" or p not in NOT_LOCAL]


@pytest.mark.parametrize(
    ("stack", "action"),
    [("local", "disk_full"), ("local", "raise"), ("shared", "disk_full")],
    indirect=["stack"],
)
def test_disk_full_or_io_error_at_every_write_of_a_publish(stack, action, monkeypatch):
    bank = stack.open()
    publish(bank, 1, aliases=["production"])
    before = snapshot(bank)
    monkeypatch.setenv(faults.ENV_ACTION, action)
    for step in _steps(stack.kind):
        monkeypatch.setenv(faults.ENV_POINT, step)
        if action == "disk_full":
            with pytest.raises(StorageError) as failed:
                publish(bank, 2)
            message = str(failed.value)
            assert "No space left on device" in message and step in message, message
            assert "nothing was published" in message
        else:
            with pytest.raises(faults.InjectedFault, match=step):
                publish(bank, 2)
        assert snapshot(bank) == before, f"{step} left something behind"
        assert bank.check().ok
    monkeypatch.delenv(faults.ENV_POINT)
    assert bank.gc(min_age_s=0) == []
    assert publish(bank, 2).version == 2  # the next publish works
    assert bank.check().ok
    assert_reads_back(bank, 1, seed=1)
    assert_reads_back(bank, 2, seed=2)
    assert [v.number for v in bank.versions(TABLE)] == [1, 2]


def test_a_write_the_kernel_refuses_half_way(local_stack, tmp_path):
    """Not only the fault points: a real write fails half way (the child may write no file
    over 1 MB; the kernel answers EFBIG as it answers ENOSPC on a full disk)."""
    bank = local_stack.open()
    publish(bank, 1)
    before = snapshot(bank)
    out = tmp_path / "outcome.json"
    args = local_stack.child_args(seed=2, out=str(out), limit_bytes=1 << 20)
    child = fork_context().Process(target=publish_past_file_size_limit, args=(args,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    outcome = json.loads(out.read_text())
    assert outcome["error"] == "StorageError", outcome
    assert "File too large" in outcome["message"] and "nothing was published" in outcome["message"]
    assert snapshot(bank) == before
    assert bank.gc(min_age_s=0) == []
    assert publish(bank, 2).version == 2
