"""SQS in simulated time: the sender queues as SQS keeps standard queues, shared by every
process, and each process's own view of them."""

import itertools
import threading
from dataclasses import dataclass

from bench.virtual_aws.clock import READ, RECEIVE, WRITE, VirtualAws
from postino.outbox import MAX_DELAY_SECONDS, Delivery, Outbox, QueuedRef, SenderQueues

# A long poll looks again this often: SQS answers soon after a copy becomes visible.
POLL_SECONDS = 0.01


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
