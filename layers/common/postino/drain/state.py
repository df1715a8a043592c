"""What the parts of one drain run share: the messages in hand, the report, the acks to send.

The loop and the send threads both change it, so every change is made under `lock`.
"""

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from postino.outbox import Delivery, Outbox, QueuedRef
from postino.senders.model import Sender
from postino.services import Services
from postino.store.eventbus import MAX_ENTRIES

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef as Entry

SENDER_CACHE_SECONDS = 10.0


@dataclass
class Held:
    delivery: Delivery
    ref: QueuedRef
    ready_at: float


@dataclass
class DrainReport:
    received: int = 0
    sent: int = 0
    deferred: int = 0
    skipped: int = 0
    # Sends too late for their slot (a busy machine), woken late or held up before the wire,
    # that gave it back and reserved again.
    late_wakeups: int = 0
    # Claimed but too late for their slot every time: back on the queue, not attempts.
    missed_slot: int = 0
    # The longest a copy it received had waited past its time (QueueWaitSeconds).
    longest_wait_seconds: float = 0.0
    # Stopped by its deadline, not by an empty queue: the next invocation should start at once.
    out_of_time: bool = False
    # Started its successor before its deadline (postino/drain/handover.py).
    handed_over: bool = False
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class DispatchTrace:
    """One reservation of a sender's starts: what the drain had ready, what it got, and when
    the first start that did not fit would have been."""

    at: float
    sender: str
    ready: int
    starts: list[float]
    next_slot_at: float | None


@dataclass
class RunState:
    # The queue of the sender this drainer drains (None: it has none yet, nothing to drain).
    outbox: Outbox | None = None
    # Which of the sender's drainers this is (postino/drain/targets.py), and whether the sender
    # no longer has that many: the run then ends and hands back what it took.
    shard: int = 0
    retired: bool = False
    report: DrainReport = field(default_factory=DrainReport)
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: dict[str, list[Held]] = field(default_factory=lambda: defaultdict(list))
    in_flight: int = 0
    # When the copies this drainer put back to wait become visible again.
    returning: list[float] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)
    # Events for the user's bus (postino/events.py), put by the loop in requests of ten.
    events: list["Entry"] = field(default_factory=list)
    # When the invocation running this drain surely ends (its deadline and the drain margin).
    ends_at: float = 0.0
    # Each dispatch's reservation, when a benchmark asks for them (None: not kept).
    trace: list[DispatchTrace] | None = None

    @property
    def queue(self) -> Outbox:
        assert self.outbox is not None, "a drainer runs only on its sender's existing queue"
        return self.outbox

    def hold(self, held: Held) -> None:
        with self.lock:
            self.held[held.ref.sender].append(held)

    def take_ready(self, now: float) -> dict[str, list[Held]]:
        """The held messages whose time has come, by sender, no longer held."""
        with self.lock:
            ready = {
                name: [h for h in held if h.ready_at <= now] for name, held in self.held.items()
            }
            for name in ready:
                self.held[name] = [h for h in self.held[name] if h.ready_at > now]
        return ready

    def take_all(self) -> list[Held]:
        with self.lock:
            held = [h for batch in self.held.values() for h in batch]
            self.held.clear()
        return held

    def held_count(self) -> int:
        with self.lock:
            return sum(len(h) for h in self.held.values())

    def busy(self) -> int:
        with self.lock:
            return self.in_flight + sum(len(h) for h in self.held.values())

    def soonest_ready(self, default: float) -> float:
        with self.lock:
            return min((h.ready_at for held in self.held.values() for h in held), default=default)

    def started(self) -> None:
        with self.lock:
            self.in_flight += 1

    def finished(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def comes_back_at(self, at: float) -> None:
        with self.lock:
            self.returning.append(at)

    def comes_back_before(self, deadline: float, now: float) -> bool:
        with self.lock:
            self.returning = [t for t in self.returning if t > now - 5]
            return any(t < deadline for t in self.returning)

    def ack(self, delivery: Delivery) -> None:
        with self.lock:
            self.acks.append(delivery.receipt)

    def take_acks(self, *, force: bool = False) -> list[str]:
        """The receipts to acknowledge now: in tens while sends run, all of them otherwise."""
        with self.lock:
            if not self.acks or (len(self.acks) < 10 and not force and self.in_flight):
                return []
            receipts, self.acks = self.acks, []
        return receipts

    def publish_later(self, entry: "Entry") -> None:
        with self.lock:
            self.events.append(entry)

    def take_events(self, *, force: bool = False) -> list["Entry"]:
        """The events to put now: whole requests' worth while the run goes on (one request per
        ten messages, not one per message), all of them as it lets go."""
        with self.lock:
            count = len(self.events)
            if not force:
                count -= count % MAX_ENTRIES
            taken, self.events = self.events[:count], self.events[count:]
        return taken


class SenderCache:
    """Senders as this run last read them, for a few seconds: one read per batch, not per send."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self._senders: dict[str, tuple[float, Sender | None]] = {}

    def get(self, name: str, *, fresh: bool = False) -> Sender | None:
        now = self.s.clock.now()
        cached = self._senders.get(name)
        if fresh or cached is None or now - cached[0] > SENDER_CACHE_SECONDS:
            cached = (now, self.s.senders.get(name))
            self._senders[name] = cached
        return cached[1]

    def remember(self, name: str, sender: Sender, now: float) -> None:
        """A sender this run just wrote (a pause): no need to read it back."""
        self._senders[name] = (now, sender)
