"""AWS and Meta's Cloud API in process and in simulated time, for the drain's virtual-time bench.

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

The stores subclass the real ones and replace only their requests, so what sits above them runs
as deployed: the drain's conditional writes on the real Message model, and the rate window's
planner and conflict handling (each drainer has a RateWindowStore of its own over one shared
table, as each Lambda process has).

A caller must be counted as work on the clock, or no work be under way: a sleeper that is not
work would count against the work under way and let time move while some of it still runs.
"""

import itertools
import math
import random
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Unpack

from botocore.exceptions import ClientError

from postino.clock import Clock, FakeClock
from postino.drain.rate_window import prune
from postino.messages.model import Event, Message, Status
from postino.nudge import DrainNudger
from postino.outbox import (
    MAX_DELAY_SECONDS,
    QUEUE_ATTRIBUTES,
    Delivery,
    Outbox,
    QueuedRef,
    SenderQueues,
)
from postino.providers.base import Accepted, Progress, SenderUnavailable, SendResult
from postino.providers.router import ProviderRouter
from postino.senders.model import Limit, Sender
from postino.services import Services
from postino.settings import Settings
from postino.store.codec import to_item
from postino.store.inbox import InboxStore
from postino.store.lease import DrainLease, lease_key
from postino.store.messages import (
    Change,
    MessageStore,
    StaleState,
    key_changes,
    list_keys,
)
from postino.store.rate_window import RateWindowStore
from postino.store.senders import SenderStore

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
# A long poll looks again this often: SQS answers soon after a copy becomes visible.
POLL_SECONDS = 0.01


def condition_failed(operation: str, item: dict[str, Any] | None) -> ClientError:
    """DynamoDB's answer to a failed condition, with the item as ReturnValuesOnConditionCheckFailure
    gives it (the form store/codec.py reads)."""
    response: Any = {
        "Error": {"Code": "ConditionalCheckFailedException", "Message": "condition failed"}
    }
    if item is not None:
        response["Item"] = to_item(item)
    return ClientError(response, operation)


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


# ---- SQS ----------------------------------------------------------------------------------


@dataclass
class _Copy:
    ref: QueuedRef
    sqs_id: str
    visible_at: float
    receipt: str = ""
    receives: int = 0


class VirtualQueue(Outbox):
    """A sender's queue as SQS keeps a standard queue: delays in whole seconds, receives of up
    to ten that hide each copy, a long poll, deletes by the latest receipt."""

    def __init__(self, aws: VirtualAws, name: str, visibility_timeout: int) -> None:
        super().__init__(f"virtual://{name}")
        self.aws = aws
        self.visibility_timeout = visibility_timeout
        self._copies: dict[str, _Copy] = {}  # in the order sent
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def put(self, ref: QueuedRef, delay_seconds: float = 0) -> None:
        delay = max(0, min(MAX_DELAY_SECONDS, round(delay_seconds)))
        with self.aws.request("sqs:SendMessage", WRITE), self._lock:
            sqs_id = f"sqs{next(self._ids)}"
            self._copies[sqs_id] = _Copy(ref, sqs_id, self.aws.clock.now() + delay)

    def receive(
        self, *, max_messages: int = 10, wait_seconds: int = 1, hidden_for: int | None = None
    ) -> list[Delivery]:
        clock = self.aws.clock
        hidden = self.visibility_timeout if hidden_for is None else hidden_for
        with self.aws.request("sqs:ReceiveMessage", RECEIVE):
            ends = clock.now() + wait_seconds
            while True:
                with self._lock:
                    taken = self._take(max_messages, hidden)
                if taken or clock.now() >= ends:
                    return taken
                clock.sleep(min(POLL_SECONDS, ends - clock.now()))

    def _take(self, most: int, hidden: int) -> list[Delivery]:
        now = self.aws.clock.now()
        taken = []
        for copy in self._copies.values():
            if copy.visible_at <= now:
                copy.visible_at = now + hidden
                copy.receives += 1
                copy.receipt = f"{copy.sqs_id}#{copy.receives}"
                taken.append(Delivery(copy.ref, copy.sqs_id, copy.receipt, copy.receives))
                if len(taken) == most:
                    break
        return taken

    def ack(self, receipts: list[str]) -> None:
        for start in range(0, len(receipts), 10):
            with self.aws.request("sqs:DeleteMessageBatch", WRITE), self._lock:
                for receipt in receipts[start : start + 10]:
                    copy = self._current(receipt)
                    if copy is not None:
                        del self._copies[copy.sqs_id]

    def retry_later(self, receipt: str, seconds: int) -> None:
        with self.aws.request("sqs:ChangeMessageVisibility", WRITE), self._lock:
            copy = self._current(receipt)
            if copy is not None:
                copy.visible_at = self.aws.clock.now() + seconds

    def _current(self, receipt: str) -> _Copy | None:
        """The copy a receipt names, if it is the copy's latest (SQS ignores older ones)."""
        copy = self._copies.get(receipt.split("#")[0])
        return copy if copy is not None and copy.receipt == receipt else None

    def copies(self) -> int:
        """Copies in the queue: visible, in flight or delayed."""
        with self._lock:
            return len(self._copies)

    def waiting(self) -> int:
        """Copies visible or delayed, not in flight (GetQueueAttributes' two counts)."""
        now = self.aws.clock.now()
        with self._lock:
            return sum(c.visible_at <= now or not c.receives for c in self._copies.values())


class VirtualSqs:
    """SQS's queues by name, shared by every process."""

    def __init__(self, aws: VirtualAws, visibility_timeout: int) -> None:
        self.aws = aws
        self.visibility_timeout = visibility_timeout
        self.queues: dict[str, VirtualQueue] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> VirtualQueue | None:
        with self.aws.request("sqs:GetQueueUrl", READ), self._lock:
            return self.queues.get(name)

    def create(self, name: str) -> VirtualQueue:
        with self.aws.request("sqs:CreateQueue", WRITE), self._lock:
            queue = self.queues.get(name)
            if queue is None:
                queue = self.queues[name] = VirtualQueue(self.aws, name, self.visibility_timeout)
            return queue

    def holds_copies(self) -> bool:
        with self._lock:
            queues = list(self.queues.values())
        return any(queue.copies() for queue in queues)


class VirtualQueues(SenderQueues):
    """One process's view of the sender queues: it looks each one up once, as the real one
    keeps its URLs."""

    def __init__(self, sqs: VirtualSqs, prefix: str) -> None:
        super().__init__(prefix, "arn:aws:sqs:us-east-1:000000000000:virtual-dead-letters")
        self.sqs = sqs
        self._found: dict[str, VirtualQueue] = {}

    def for_sender(self, sender: str) -> VirtualQueue:
        queue = self.existing(sender)
        if queue is None:
            queue = self._remember_queue(sender, self.sqs.create(self.name(sender)))
        return queue

    def existing(self, sender: str) -> VirtualQueue | None:
        queue = self._found.get(sender)
        if queue is None:
            queue = self.sqs.get(self.name(sender))
            if queue is not None:
                self._remember_queue(sender, queue)
        return queue

    def backlog(self, sender: str) -> int:
        queue = self.existing(sender)
        if queue is None:
            return 0
        with self.sqs.aws.request("sqs:GetQueueAttributes", READ):
            return queue.waiting()

    def _remember_queue(self, sender: str, queue: VirtualQueue) -> VirtualQueue:
        with self._lock:
            self._found[sender] = queue
        return queue


# ---- DynamoDB -----------------------------------------------------------------------------


@dataclass
class _Row:
    message: Message
    # What the table holds beside the model: list_pk, status_key, sender_key, created_key,
    # due_pk, due_at, expires_at.
    attributes: dict[str, Any]


# The messages table's indexes, by their partition key (created_key, their sort key, never changes).
_INDEXES = {
    "by_status": "status_key",
    "by_sender": "sender_key",
    "by_reference": "reference",
    "by_created": "list_pk",
    "by_provider_message_id": "provider_message_id",
    "by_due": "due_pk",
}


def _value(row: _Row, name: str) -> Any:
    return getattr(row.message, name) if name in Message.model_fields else row.attributes.get(name)


class VirtualMessages(MessageStore):
    """The messages table. Rows are replaced on each write, never changed in place."""

    def __init__(self, aws: VirtualAws, retention_days: int = 90) -> None:
        super().__init__("MessagesTable", retention_days)
        self.aws = aws
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()

    def create(self, message: Message, *, due_partition: str | None = None) -> None:
        attributes: dict[str, Any] = {
            **list_keys(message.id, status=message.status, sender=message.sender),
            "created_key": message.id,
            "expires_at": int(message.created_at + self.retention_seconds),
        }
        if due_partition is not None and message.send_at is not None:
            attributes |= {"due_pk": due_partition, "due_at": int(message.send_at)}
        with self.aws.request("dynamodb:PutItem", WRITE), self._lock:
            if message.id in self._rows:
                raise condition_failed("PutItem", None)
            self._write(None, _Row(message, attributes))

    def get(self, message_id: str) -> Message | None:
        with self.aws.request("dynamodb:GetItem", READ), self._lock:
            row = self._rows.get(message_id)
        return row.message if row else None

    def update(
        self,
        message_id: str,
        *,
        statuses: tuple[Status, ...],
        now: float,
        changes: dict[str, Any] | None = None,
        events: list[Event] | None = None,
        equals: dict[str, Any] | None = None,
        not_after_validity: float | None = None,
    ) -> Message:
        changes = changes or {}
        changes = changes | key_changes(message_id, changes)  # as MessageStore.update sets them
        with self.aws.request("dynamodb:UpdateItem", WRITE), self._lock:
            row = self._rows.get(message_id)
            if (
                row is None
                or row.message.status not in statuses
                or any(_value(row, k) != v for k, v in (equals or {}).items())
                or (not_after_validity is not None and row.message.valid_until < not_after_validity)
            ):
                self.aws.refuse("dynamodb:UpdateItem MessagesTable")
                raise StaleState(row.message if row else None)
            fields = {k: v for k, v in changes.items() if k in Message.model_fields}
            message = row.message.model_copy(
                update={
                    **fields,
                    "updated_at": now,
                    "events": [*row.message.events, *(events or [])],
                }
            )
            attributes = {**row.attributes, **{k: v for k, v in changes.items() if k not in fields}}
            self._write(row, _Row(message, {k: v for k, v in attributes.items() if v is not None}))
        return message

    def update_without_reading(
        self, message_id: str, *, statuses: tuple[Status, ...], now: float, **change: Unpack[Change]
    ) -> None:
        self.update(message_id, statuses=statuses, now=now, **change)

    def _write(self, old: _Row | None, new: _Row) -> None:
        """Store a row; count its item's write and each index partition it leaves or joins."""
        self._rows[new.message.id] = new
        keys = [f"{self.table} {new.message.id}"]
        for index, name in _INDEXES.items():
            before, after = (_value(old, name) if old else None), _value(new, name)
            if before != after:
                keys += [f"{self.table}.{index} {v}" for v in (before, after) if v is not None]
        self.aws.wrote(*keys)


class RateWindowTable:
    """The rate window table's items, under every drainer's RateWindowStore."""

    def __init__(self, aws: VirtualAws) -> None:
        self.aws = aws
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, version: int, logs: dict[str, list[float]]) -> dict[str, Any] | None:
        """PutItem on `v = version` (on no item at all for 0); the item as it is if that fails."""
        with self.aws.request("dynamodb:PutItem", WRITE), self._lock:
            current = self._items.get(key)
            unchanged = current["v"] == version if current is not None else version == 0
            if unchanged:
                # Milliseconds as integers, as the real store writes them.
                stored = {k: [round(e * 1000) for e in log] for k, log in logs.items()}
                self._items[key] = {"key": key, "v": version + 1, "logs": stored}
                self.aws.wrote(f"RateWindowTable {key}")
                return None
            self.aws.refuse("dynamodb:PutItem RateWindowTable")
            return current

    def get(self, key: str) -> dict[str, Any] | None:
        with self.aws.request("dynamodb:GetItem", READ), self._lock:
            return self._items.get(key)


class VirtualRateWindows(RateWindowStore):
    """The real RateWindowStore (its cache, its planner calls, its conflict handling) on the
    virtual table, with clock-aware key locks: reserve holds one across its write."""

    def __init__(self, table: RateWindowTable) -> None:
        super().__init__("RateWindowTable")
        self.items = table
        self._turns: dict[str, ClockLock] = {}

    def _key_lock(self, key: str) -> ClockLock:  # reserve only enters it
        with self._lock:
            turn = self._turns.get(key)
            if turn is None:
                turn = self._turns[key] = ClockLock(self.items.aws.clock)
            return turn

    def _write(
        self, key: str, version: int, logs: dict[str, list[float]], limits: list[Limit], now: float
    ) -> None:
        current = self.items.put(key, version, logs)
        if current is not None:
            raise condition_failed("PutItem", current)

    def read(self, key: str, limits: list[Limit], now: float) -> dict[str, list[float]]:
        item = self.items.get(key) or {}
        logs = {k: [e / 1000 for e in log] for k, log in item.get("logs", {}).items()}
        return prune(logs, limits, now)


class VirtualLease(DrainLease):
    """The drain leases, items of the rate window table."""

    def __init__(self, aws: VirtualAws) -> None:
        super().__init__("RateWindowTable")
        self.aws = aws
        self._held: dict[str, tuple[str, float]] = {}  # by key: holder, expires_at
        self._lock = threading.Lock()

    def acquire(self, scope: str, holder: str, now: float, seconds: float) -> bool:
        key = lease_key(scope)
        with self.aws.request("dynamodb:PutItem", WRITE), self._lock:
            held = self._held.get(key)
            if held is not None and held[1] >= int(now) and held[0] != holder:
                return False
            self._held[key] = (holder, int(now + seconds) + 1)
            self.aws.wrote(f"{self.table} {key}")
            return True

    def release(self, scope: str, holder: str) -> None:
        key = lease_key(scope)
        with self.aws.request("dynamodb:DeleteItem", WRITE), self._lock:
            held = self._held.get(key)
            if held is not None and held[0] == holder:
                del self._held[key]
                self.aws.wrote(f"{self.table} {key}")

    def is_held(self, scope: str, now: float) -> bool:
        with self.aws.request("dynamodb:GetItem", READ), self._lock:
            held = self._held.get(lease_key(scope))
            return held is not None and held[1] > now


class VirtualSenders(SenderStore):
    """The senders table. A pause is written over whatever is there (no WAHA session race)."""

    def __init__(self, aws: VirtualAws, senders: list[Sender]) -> None:
        super().__init__(Settings())
        self.aws = aws
        self._senders = {s.name: s for s in senders}
        self._lock = threading.Lock()

    def get(self, name: str) -> Sender | None:
        with self.aws.request("dynamodb:GetItem", READ), self._lock:
            return self._senders.get(name)

    def all(self) -> list[Sender]:
        with self.aws.request("dynamodb:Scan", READ), self._lock:
            return sorted(self._senders.values(), key=lambda s: s.name)

    def put(self, sender: Sender) -> None:
        with self.aws.request("dynamodb:PutItem", WRITE), self._lock:
            self._senders[sender.name] = sender
            self.aws.wrote(f"{self.table} {sender.name}")

    def set_pause(
        self,
        name: str,
        *,
        paused: bool,
        reason: str | None,
        until: float | None,
        now: float,
        code: str | None = None,
        unless_working_since: float | None = None,
        updated_by: str | None = None,
    ) -> Sender:
        sender = self.get(name)
        if sender is None:
            raise KeyError(name)
        pause = {"paused": paused, "paused_reason": reason, "paused_code": code}
        updated = sender.model_copy(update={**pause, "paused_until": until, "updated_at": now})
        self.put(updated)
        return updated


# ---- Meta's Cloud API -----------------------------------------------------------------------


@dataclass(frozen=True)
class PeerSend:
    at: float  # when the send's call began
    sender: str
    message_id: str


class VirtualCloudApi(ProviderRouter):
    """Meta's Cloud API for every sender: each send accepted, with a fresh wamid, after PEER."""

    def __init__(self, aws: VirtualAws) -> None:
        self.aws = aws
        self.sends: list[PeerSend] = []
        self._wamids = itertools.count(1)
        self._lock = threading.Lock()

    def warm(self, sender: Sender) -> SenderUnavailable | None:
        return None

    def send(self, sender: Sender, message: Message, progress: Progress) -> SendResult:
        with self._lock:
            self.sends.append(PeerSend(self.aws.clock.now(), sender.name, message.id))
            wamid = f"wamid.virtual{next(self._wamids)}"
        with self.aws.request("graph:POST messages", PEER):
            return Accepted(wamid, "accepted")


# ---- all of it ------------------------------------------------------------------------------


@dataclass
class VirtualStack:
    """Everything a drainer talks to, in simulated time; each process's Services come from here."""

    aws: VirtualAws
    sqs: VirtualSqs
    messages: VirtualMessages
    windows: RateWindowTable
    lease: VirtualLease
    senders: VirtualSenders
    peer: VirtualCloudApi

    @classmethod
    def build(cls, clock: FakeClock, senders: list[Sender], *, seed: int) -> "VirtualStack":
        aws = VirtualAws(clock, seed)
        return cls(
            aws=aws,
            sqs=VirtualSqs(aws, int(QUEUE_ATTRIBUTES["VisibilityTimeout"])),
            messages=VirtualMessages(aws),
            windows=RateWindowTable(aws),
            lease=VirtualLease(aws),
            senders=VirtualSenders(aws, senders),
            peer=VirtualCloudApi(aws),
        )

    def services(self, settings: Settings, seed: int) -> Services:
        """One Lambda process's Services: a RateWindowStore (its cache, its key locks) and queue
        URLs of its own; the tables, the queues and the peer shared."""
        return Services(
            settings=settings,
            clock=self.aws.clock,
            messages=self.messages,
            senders=self.senders,
            inbox=InboxStore("InboxTable", 90),  # the drain never reads it
            rate_windows=VirtualRateWindows(self.windows),
            lease=self.lease,
            queues=VirtualQueues(self.sqs, settings.sender_queue_prefix),
            provider=self.peer,
            nudger=DrainNudger(""),  # the bench starts drainers itself
            rng=random.Random(seed),
        )
