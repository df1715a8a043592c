"""Requests in simulated time: what each takes on the clock, what they count, and a lock that
lets time move while its waiters wait.

Each request is counted by operation and takes an AWS-like time on a FakeClock; then the service
applies it, under a lock of its own that no thread holds while it sleeps (a thread blocked on a
lock held by a sleeper would freeze simulated time). Applying it halfway through its time would
be closer to AWS, but costs a second wake-up a request, and the threads' wake-ups set the
bench's real time (20x80 took 124 s so). Times are lognormal, drawn from one seeded
random.Random; one with median m and 99th percentile p has mu = ln m, sigma = ln(p / m) / 2.326:

    writes (PutItem, UpdateItem, DeleteItem, SendMessage, DeleteMessageBatch,
            ChangeMessageVisibility, CreateQueue)   p50 6 ms, p99 15 ms (sigma 0.394)
    reads (GetItem, Scan, GetQueueUrl, GetQueueAttributes)
                                                    p50 4 ms, p99 10 ms (sigma 0.394)
    ReceiveMessage                                  15 ms, and its long poll on top
    the Graph API's answer to a send                200 ms

A caller must be counted as work on the clock, or no work be under way: a sleeper that is not
work would count against the work under way and let time move while some of it still runs.
"""

import math
import random
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import NormalDist

from postino.clock import Clock, FakeClock

_Z99 = NormalDist().inv_cdf(0.99)


@dataclass(frozen=True)
class Latency:
    """A lognormal time, given by its median and its 99th percentile (equal: a fixed time)."""

    p50: float
    p99: float

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.p50), math.log(self.p99 / self.p50) / _Z99)


WRITE = Latency(0.006, 0.015)
READ = Latency(0.004, 0.010)
RECEIVE = Latency(0.015, 0.015)
PEER = Latency(0.2, 0.2)


class VirtualAws:
    """The clock, the latencies and the counts that every fake shares."""

    def __init__(self, clock: FakeClock, seed: int) -> None:
        self.clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        # Conditional writes whose condition failed, by operation and table.
        self.refused: Counter[str] = Counter()
        # When each DynamoDB item ("table key") and index partition ("table.index value") was
        # written: the hot keys.
        self.writes: defaultdict[str, list[float]] = defaultdict(list)

    @contextmanager
    def request(self, operation: str, latency: Latency) -> Iterator[None]:
        """One request: its time on the clock, then the block (the service applying it)."""
        with self._lock:
            self.requests[operation] += 1
            seconds = latency.draw(self._rng)
        self.clock.sleep(seconds)
        yield

    def refuse(self, what: str) -> None:
        with self._lock:
            self.refused[what] += 1

    def wrote(self, *keys: str) -> None:
        at = self.clock.now()
        with self._lock:
            for key in keys:
                self.writes[key].append(at)

    def forget(self) -> None:
        """Start counting afresh (after the backlog is in place)."""
        with self._lock:
            self.requests.clear()
            self.refused.clear()
            self.writes.clear()


class ClockLock:
    """A FIFO lock for work on a FakeClock, held across requests that sleep on it.

    A plain lock would freeze simulated time: its waiter, still counted as work, blocks on
    something other than the clock while the holder sleeps on it. A waiter here stops counting
    as work while it waits, and the holder hands the lock over by counting the next holder as
    work again before it lets go, so time cannot move between the two.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._guard = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()

    def __enter__(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiting.append(turn)
            self._clock.work_finished()
        turn.wait()

    def __exit__(self, *_: object) -> None:
        with self._guard:
            if not self._waiting:
                self._held = False
                return
            self._clock.work_started()  # on behalf of the next holder, who holds it from now
            self._waiting.popleft().set()
