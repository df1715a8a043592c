"""The one clock. Everything that reads the time or waits goes through it, so tests control time."""

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""

    def sleep(self, seconds: float) -> None: ...

    def work_started(self) -> None:
        """Work that waits on this clock began (a drain loop, a send job), counted from the
        moment it is handed out, before its thread runs: a simulated clock moves only while
        all such work sleeps. Nothing for the real one."""

    def work_finished(self) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def work_started(self) -> None:
        pass

    def work_finished(self) -> None:
        pass


class FakeClock:
    """Simulated time for tests and benchmarks: it moves only when every piece of work under
    way sleeps on it, and then straight to the earliest wake-up.

    A run thus takes no real time to wait, and what it does in simulated time does not depend
    on how the machine schedules its threads: a send thread's computing or waiting on a peer
    takes no simulated time at all, however slow the machine. With no work under way (a test
    calling handlers one after another), a sleep or `advance` moves the time at once.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._working = 0
        self._sleepers: list[_Sleeper] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            if self._working == 0:
                self._now += seconds
                return
            sleeper = _Sleeper(self._now + seconds)
            self._sleepers.append(sleeper)
            self._move_if_all_asleep()
        sleeper.woken.wait()

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass: for work under way, that is sleeping them."""
        self.sleep(seconds)

    def work_started(self) -> None:
        with self._lock:
            self._working += 1

    def work_finished(self) -> None:
        with self._lock:
            self._working -= 1
            self._move_if_all_asleep()

    def _move_if_all_asleep(self) -> None:
        # Called with the lock held. Sleepers are counted awake the moment time reaches them,
        # not when their threads run again: until then, nobody else may move the time.
        if not self._sleepers or len(self._sleepers) < self._working:
            return
        self._now = max(self._now, min(s.wake_at for s in self._sleepers))
        for sleeper in [s for s in self._sleepers if s.wake_at <= self._now]:
            self._sleepers.remove(sleeper)
            sleeper.woken.set()


@dataclass
class _Sleeper:
    wake_at: float
    woken: threading.Event = field(default_factory=threading.Event)


def iso(epoch: float) -> str:
    """ISO-8601 in UTC with milliseconds, the one textual time format of the API."""
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
