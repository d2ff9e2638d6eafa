"""Fault points: named steps of a publish where a test can make embank fail on purpose.

:func:`point` is a no-op unless ``EMBANK_FAULT_POINT`` names the step (a glob:
``publish:write:*`` matches every staged file). Then ``EMBANK_FAULT_ACTION`` says what
happens there:

- ``kill`` (default): the process sends itself SIGKILL, as a crash or an OOM kill would;
- ``pause``: it touches the file ``EMBANK_FAULT_READY`` (when set) and sleeps until killed,
  so a test can kill it from outside at a known step;
- ``raise``: :class:`InjectedFault` (an unexpected error in the publisher's own code);
- ``disk_full``: ``OSError(ENOSPC)``, as a full disk or quota makes a write fail.

The publish steps, in order (see :data:`PUBLISH_POINTS`; the Reliability tests run a
publish with each): the staging folder made; before each staged file (``publish:write:``
and the file name); before the fsyncs; before ``manifest.json``; before the folder is put
under its final name (a rename, an upload); on S3 between the data files and the manifest;
before the online write; in Redis between the rows and the completion marker; inside the
registry transaction before its COMMIT; after the COMMIT, before publish returns.
Nothing reads these variables in normal use; they cost one environment lookup per step.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import signal
import time
from pathlib import Path

__all__ = [
    "ACTIONS",
    "ENV_ACTION",
    "ENV_POINT",
    "ENV_READY",
    "PUBLISH_POINTS",
    "InjectedFault",
    "point",
]

ENV_POINT = "EMBANK_FAULT_POINT"
ENV_ACTION = "EMBANK_FAULT_ACTION"
ENV_READY = "EMBANK_FAULT_READY"
ACTIONS = ("kill", "pause", "raise", "disk_full")

#: every fault point of a publish, in the order a publish reaches them. ``write:`` points
#: exist for the files a version holds (labels, hold-out and benchmark inputs only when
#: given); ``put:manifest`` only for S3, ``online:done`` only for Redis.
PUBLISH_POINTS = (
    "publish:staging",
    "publish:write:online.keys.arrow",
    "publish:write:vectors.parquet",
    "publish:write:online.vectors.npy",
    "publish:write:attributes.parquet",
    "publish:write:holdout.parquet",
    "publish:write:inputs",
    "publish:fsync",
    "publish:manifest",
    "publish:put",
    "publish:put:manifest",
    "publish:online",
    "publish:online:done",
    "publish:commit",
    "publish:after_commit",
)


class InjectedFault(RuntimeError):
    """Raised at a fault point whose action is ``raise``."""


def point(name: str) -> None:
    """Fail here if ``EMBANK_FAULT_POINT`` names ``name`` (see the module docstring)."""
    wanted = os.environ.get(ENV_POINT)
    if not wanted or not fnmatch.fnmatchcase(name, wanted):
        return
    action = os.environ.get(ENV_ACTION) or "kill"
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # SIGKILL is delivered at once; never go on meanwhile
    if action == "pause":
        ready = os.environ.get(ENV_READY)
        if ready:
            Path(ready).write_text(name)
        while True:
            time.sleep(3600)
    if action == "disk_full":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
    if action == "raise":
        raise InjectedFault(f"fault injected at {name}")
    raise ValueError(f"{ENV_ACTION}={action!r}: use one of {', '.join(ACTIONS)}")
