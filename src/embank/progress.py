"""Progress reporting that library code can call without knowing who displays it.

Library code reports through a :class:`Progress`; the CLI passes one that draws rich
progress bars, the Python API the silent :class:`NullProgress` that only logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

__all__ = ["NullProgress", "Progress", "RecordedTask", "RecordingProgress", "Task"]

log = logging.getLogger("embank")


class Task(Protocol):
    def advance(self, n: float = 1) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: float | None = None) -> AbstractContextManager[Task]:
        """A step of work; ``total`` units when known, advanced by the caller."""
        ...


class _NullTask:
    def advance(self, n: float = 1) -> None:
        return None


class NullProgress:
    """Logs the start of each step and draws nothing."""

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        log.info("%s", description)
        yield _NullTask()


@dataclass
class RecordedTask:
    description: str
    total: float | None
    done: float = 0

    def advance(self, n: float = 1) -> None:
        self.done += n


class RecordingProgress:
    """Remembers every task and how far it got: for testing that a plugin reports progress."""

    def __init__(self) -> None:
        self.tasks: list[RecordedTask] = []

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[RecordedTask]:
        recorded = RecordedTask(description, total)
        self.tasks.append(recorded)
        yield recorded

    def unfinished(self) -> list[RecordedTask]:
        """Tasks that declared a total and did not reach it."""
        return [t for t in self.tasks if t.total is not None and t.done != t.total]
