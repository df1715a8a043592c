"""One drain run: receive, reserve rate-window slots, claim, send, record the outcome.

Threads, not asyncio: every step is a blocking boto3 or httpx call, and a send spends
almost all its time waiting on the network, so a pool of threads overlaps them simply.
"""

import threading
import uuid
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from contextvars import copy_context
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from postino.clock import iso
from postino.drain.outcomes import Action, Decision, decide
from postino.drain.rate_window import Plan, plan_starts
from postino.messages.model import WAITING, Message, MessageError, Phase, Status, event
from postino.observability import logger, metrics
from postino.outbox import Delivery, QueuedRef
from postino.providers.base import Accepted, OutcomeUnknown, Progress, SenderUnavailable
from postino.providers.waha import SESSION_PAUSE
from postino.queueing import release_parked, requeue
from postino.senders.model import Sender, WahaSender
from postino.services import Services
from postino.store.messages import DUE_PARTITION, StaleState, parked_partition
from postino.store.rate_window import pair_window_key, sender_window_key

# Reserve starts at most this far ahead; a later slot means the message waits.
HORIZON_SECONDS = 0.5
# Waits up to this long (one pair interval and more) stay in the drainer's hands; longer
# ones go back to SQS with a delay.
HOLD_SECONDS = 10.0
# Slots are reserved this far ahead, so the pair reservation and the claim (two writes)
# fit before the start; it adds as much to a message's latency. A drainer whose writes take
# longer (a slow table, a starved CPU) doubles its lead at each late wakeup, up to the most,
# and lets it shrink back while its sends are on time.
CLAIM_LEAD_SECONDS = 0.2
MAX_CLAIM_LEAD_SECONDS = 3.2
LEAD_SHRINK = 0.98
# A send is claimed this many times its recent claim writes' time before its start, no sooner:
# a drainer that dies between the claim and the send leaves the message unknown.
CLAIM_MARGIN = 2.0
# A claimed send that still misses its slot reserves another this many times, then gives up.
LATE_RETRIES = 3
# A copy whose message has not reached its seq this long after it became visible is an orphan.
ORPHAN_AFTER_SECONDS = 60.0
# No living drainer holds a claim this long (the drain function's timeout is 60 s): a copy that
# finds its message `sending` for longer knows its claimer died, whichever copy claimed it.
CLAIM_EXPIRES_SECONDS = 90.0
SENDER_CACHE_SECONDS = 10.0
DUE_EVERY_SECONDS = 20.0
RELEASE_BUDGET_SECONDS = 5.0


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
    # Send threads that woke too late for their slot (a busy machine) and reserved again.
    late_wakeups: int = 0
    # Claimed but too late for their slot every time: back on the queue, not attempts.
    missed_slot: int = 0
    due_enqueued: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Drainer:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.holder = uuid.uuid4().hex
        self.grace = services.settings.rate_window_grace_seconds
        self.report = DrainReport()
        self._held: dict[str, list[Held]] = defaultdict(list)
        self._senders: dict[str, tuple[float, Sender | None]] = {}
        self._acks: list[str] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self._lease_seconds = 60.0
        self._lead = CLAIM_LEAD_SECONDS
        # How long a claim write takes, smoothed: when to claim before a start.
        self._claim_seconds = 0.02
        # When the copies this drainer put back to wait become visible again.
        self._returning: list[float] = []

    # ---- the loop -------------------------------------------------------------------------

    def run(self, deadline: float, *, use_lease: bool = True) -> DrainReport:
        """Drain until the queue is empty or the deadline nears."""
        clock = self.s.clock
        self._lease_seconds = max(deadline - clock.now(), 1.0)
        if use_lease and not self.s.lease.acquire(self.holder, clock.now(), self._lease_seconds):
            logger.info("another drainer holds the lease")
            return self.report
        capacity = self.s.settings.drain_concurrency
        last_due = float("-inf")
        try:
            with ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="send") as pool:
                while clock.now() < deadline:
                    if clock.now() - last_due >= DUE_EVERY_SECONDS:
                        self.enqueue_due()
                        last_due = clock.now()
                    deliveries = []
                    if self._busy() + 10 <= capacity:
                        # Long-poll unless held messages need dispatching soon.
                        deliveries = self.s.outbox.receive(
                            wait_seconds=0 if self._held_count() else 1
                        )
                    self.report.received += len(deliveries)
                    for delivery in deliveries:
                        self._admit(delivery)
                    self._dispatch(pool)
                    self._flush_acks()
                    if not deliveries and not self._busy():
                        if self._comes_back_before(deadline):
                            continue  # a copy it put back to wait is due: long-poll for it
                        if not use_lease or self._last_look():
                            break
                    elif not deliveries:
                        clock.sleep(self._idle_pause())
                pool.shutdown(wait=True)
        finally:
            self._return_held()
            self._flush_acks(force=True)
            if use_lease:
                self.s.lease.release(self.holder)
        return self.report

    def _return_held(self) -> None:
        """Out of time with messages in hand: pass each on as a fresh copy for the next drainer.

        Left alone they would come back only after the visibility timeout, one receive of their
        redrive budget spent; a fresh copy (same seq, so still valid) spends none.
        """
        now = self.s.clock.now()
        with self._lock:
            held = [h for batch in self._held.values() for h in batch]
            self._held.clear()
        for h in held:
            delay = max(h.ready_at - now, 0.0)
            self.s.outbox.put(QueuedRef(**{**h.ref.__dict__, "visible_at": now + delay}), delay)
            self._ack(h.delivery)

    def _last_look(self) -> bool:
        """Release the lease, then look once more: the API nudges only while nobody holds it."""
        self.s.lease.release(self.holder)
        deliveries = self.s.outbox.receive(wait_seconds=1)
        if not deliveries:
            return True
        self.s.lease.acquire(self.holder, self.s.clock.now(), self._lease_seconds)
        self.report.received += len(deliveries)
        for delivery in deliveries:
            self._admit(delivery)
        return False

    def _comes_back_before(self, deadline: float) -> bool:
        now = self.s.clock.now()
        with self._lock:  # send threads add to it
            self._returning = [t for t in self._returning if t > now - 5]
            return any(t < deadline for t in self._returning)

    def _busy(self) -> int:
        with self._lock:
            return self._in_flight + sum(len(h) for h in self._held.values())

    def _held_count(self) -> int:
        with self._lock:
            return sum(len(h) for h in self._held.values())

    def _idle_pause(self) -> float:
        now = self.s.clock.now()
        soonest = min(
            (h.ready_at for held in self._held.values() for h in held), default=now + 0.05
        )
        return min(max(soonest - now, 0.005), 0.25)

    # ---- admission: what to do with a delivery before it competes for a slot ---------------

    def _admit(self, delivery: Delivery) -> None:
        ref = delivery.ref
        if ref is None:
            # Not ours to read: leave it to SQS's redrive, which moves it to the DLQ.
            logger.error(
                "unreadable queue message", extra={"sqs_message_id": delivery.sqs_message_id}
            )
            return
        sender = self._sender(ref.sender)
        now = self.s.clock.now()
        if sender is not None and sender.is_paused(now) and not ref.forced:
            # Parked only on a fresh read: a resume may have come since the cached one, and a
            # message parked after the resume looked would wait for the next sweep.
            sender = self._sender(ref.sender, fresh=True)
        if sender is None:
            self._fail_unknown_sender(delivery, ref)
        elif sender.is_paused(now) and not ref.forced:
            self._park(delivery, ref, sender)
        else:
            with self._lock:
                self._held[ref.sender].append(Held(delivery, ref, now))

    def _sender(self, name: str, *, fresh: bool = False) -> Sender | None:
        now = self.s.clock.now()
        cached = self._senders.get(name)
        if fresh or cached is None or now - cached[0] > SENDER_CACHE_SECONDS:
            cached = (now, self.s.senders.get(name))
            self._senders[name] = cached
        return cached[1]

    def _fail_unknown_sender(self, delivery: Delivery, ref: QueuedRef) -> None:
        now = self.s.clock.now()
        try:
            self.s.messages.update(
                ref.id,
                statuses=WAITING,
                now=now,
                equals={"queue_seq": ref.seq},
                changes={
                    "status": Status.FAILED,
                    "failed_at": now,
                    "error": _no_sender(ref.sender),
                },
                events=[event(Phase.FAILED, now, code="sender_not_found")],
            )
        except StaleState as stale:
            self._on_stale(delivery, ref, stale.current)
            return
        self._ack(delivery)

    def _park(self, delivery: Delivery, ref: QueuedRef, sender: Sender) -> None:
        """Hold the message in the due index until the pause ends (or the sender is resumed)."""
        now = self.s.clock.now()
        partition, until = (
            (DUE_PARTITION, sender.paused_until)
            if sender.paused_until is not None
            else (parked_partition(sender.name), now)
        )
        try:
            self.s.messages.update(
                ref.id,
                statuses=WAITING,
                now=now,
                equals={"queue_seq": ref.seq},
                changes={"due_pk": partition, "due_at": int(until)},
                events=[event(Phase.SENDER_PAUSED, now, reason=sender.paused_reason)],
            )
        except StaleState as stale:
            self._on_stale(delivery, ref, stale.current)
            return
        self.report.deferred += 1
        self._ack(delivery)

    # ---- dispatch: reserve slots and start sends -------------------------------------------

    def _dispatch(self, pool: ThreadPoolExecutor) -> None:
        now = self.s.clock.now()
        with self._lock:
            ready = {
                name: [h for h in held if h.ready_at <= now] for name, held in self._held.items()
            }
            for name in ready:
                self._held[name] = [h for h in self._held[name] if h.ready_at > now]
        for name, batch in ready.items():
            if batch:
                self._dispatch_sender(pool, name, batch, now)

    def _dispatch_sender(
        self, pool: ThreadPoolExecutor, name: str, batch: list[Held], now: float
    ) -> None:
        sender = self._sender(name)
        forced = [h for h in batch if h.ref.forced]
        windowed = [h for h in batch if not h.ref.forced]
        if sender is None or sender.is_paused(now):
            # Paused (or gone) since admission: park (or fail) them as admission would have.
            for held in windowed if sender is not None else batch:
                self._admit(held.delivery)
            if sender is None:
                return
        # The token, if cold, is fetched here: a fetch inside a send thread would cost it its slot.
        # A sender that cannot send at all (a WAHA session not WORKING) pauses before any claim.
        checked_at = self.s.clock.now()
        unavailable = self.s.provider.warm(sender)
        if unavailable is not None:
            sender = self._pause_unavailable(sender, unavailable, checked_at)
            if sender.is_paused(self.s.clock.now()):
                for held in windowed:
                    self._admit(held.delivery)  # parks each
                windowed = []
        now = self.s.clock.now()
        for held in forced:
            self._start(pool, sender, held, now)
        if not windowed or sender.is_paused(now):
            return
        # One write reserves the sender's slots for the whole batch; each job then takes its
        # recipient's pair slot in its own thread, so those writes overlap.
        plan = self._reserve_sender(sender, len(windowed))
        for held, start in zip(windowed, plan.starts, strict=False):
            self._start(pool, sender, held, start)
        for held in windowed[len(plan.starts) :]:
            self._wait(held, plan.next_slot_at or now + 1, now)

    def _pause_unavailable(
        self, sender: Sender, unavailable: SenderUnavailable, checked_at: float
    ) -> Sender:
        """Pause the sender, unless WAHA said WORKING since we asked (the phone was just paired:
        its webhook may have come and gone while we asked, and no other would resume it)."""
        now = self.s.clock.now()
        paused = self.s.senders.set_pause(
            sender.name, paused=True, reason=unavailable.reason, until=None, now=now,
            code=unavailable.code,
            unless_working_since=checked_at if unavailable.code == SESSION_PAUSE else None,
        )  # fmt: skip
        self._senders[sender.name] = (now, paused)
        if paused.is_paused(now):
            metrics.add_metric(name="SendersPaused", unit="Count", value=1)
            logger.warning("sender paused", extra={"sender": sender.name, "code": unavailable.code})
        return paused

    def _reserve_sender(self, sender: Sender, count: int) -> Plan:
        gap = sender.gap_seconds if isinstance(sender, WahaSender) else None

        def plan(logs: dict[str, list[float]]) -> Plan:
            # The clock is read here, with the key's lock held: a start planned on a reading
            # taken before the wait for the lock may be past already, and its send thread would
            # wake late, give the slot back and reserve again, slowing the lock further.
            now = self.s.clock.now()
            return plan_starts(
                logs,
                sender.limits,
                count=count,
                now=now,
                not_before=now + self._lead,
                latest=now + self._lead + HORIZON_SECONDS,
                grace=self.grace,
                gap=(lambda: self.s.rng.uniform(gap.min, gap.max)) if gap else None,
            )

        return self.s.rate_windows.reserve(
            sender_window_key(sender.name), sender.limits, plan, self.s.clock.now()
        )

    def _release(self, sender: Sender, ref: QueuedRef, start: float, *, pair: bool = True) -> None:
        """Give back the entries reserved for a start that never happened (always safe).

        It keeps a tight limit (one per 6 s to a person, a few an hour) from blocking the retry.
        """
        now = self.s.clock.now()
        entry = start + self.grace
        self.s.rate_windows.release(sender_window_key(sender.name), sender.limits, entry, now)
        if pair:
            self.s.rate_windows.release(
                pair_window_key(sender.name, ref.pair), [sender.pair_limit], entry, now
            )

    def _reserve_again(self, sender: Sender, ref: QueuedRef) -> float | None:
        """A fresh slot (sender and pair) for a claimed send that missed its own, if one is near."""
        plan = self._reserve_sender(sender, 1)
        if not plan.starts:
            return None
        start = plan.starts[0]
        if self._reserve_pair(sender, ref, start, self.s.clock.now()).starts:
            return start
        self._release(sender, ref, start, pair=False)
        return None

    def _reserve_pair(self, sender: Sender, ref: QueuedRef, start: float, now: float) -> Plan:
        """The pair slot must be free at the very start the sender's window gave us."""
        limits = [sender.pair_limit]
        return self.s.rate_windows.reserve(
            pair_window_key(sender.name, ref.pair),
            limits,
            lambda logs: plan_starts(
                logs, limits, count=1, now=now, not_before=start, latest=start, grace=self.grace
            ),
            now,
        )

    def _wait(self, held: Held, until: float, now: float) -> None:
        """Keep a short wait in hand; send a long one back to SQS to come back when due."""
        if until - now <= HOLD_SECONDS:
            held.ready_at = until
            with self._lock:
                self._held[held.ref.sender].append(held)
            return
        self._defer(held, until, now)

    def _defer(self, held: Held, until: float, now: float) -> None:
        ref = held.ref
        # A fresh copy, not a visibility change: waiting must not spend the redrive budget.
        delay = until - now
        with self._lock:
            self._returning.append(until)
        self.s.outbox.put(
            QueuedRef(**{**ref.__dict__, "visible_at": now + delay, "waiting": True}), delay
        )
        if not ref.waiting:
            # Stale, or already waiting: the new copy will find out and act on it.
            with suppress(StaleState):
                self.s.messages.update(
                    ref.id,
                    statuses=WAITING,
                    now=now,
                    equals={"queue_seq": ref.seq, "rate_limited_until": None},
                    changes={"rate_limited_until": until},
                    events=[event(Phase.RATE_LIMITED, now, next_slot_at=iso(until))],
                )
        self.report.deferred += 1
        metrics.add_metric(name="RateLimited", unit="Count", value=1)
        self._ack(held.delivery)

    def _start(self, pool: ThreadPoolExecutor, sender: Sender, held: Held, start: float) -> None:
        with self._lock:
            self._in_flight += 1
        # The send runs in the drainer's context: its logger keys, and locally the function's
        # own AWS credentials (postino.aws.acting_as).
        future = pool.submit(copy_context().run, self._send_one, sender, held, start)
        future.add_done_callback(self._job_done)

    def _job_done(self, future: Future[None]) -> None:
        with self._lock:
            self._in_flight -= 1
        error = future.exception()
        if error is not None:
            # The delivery stays unacknowledged: SQS gives it again, and the claim tells what to do.
            logger.exception("send job failed", exc_info=error)

    # ---- one send ---------------------------------------------------------------------------

    def _send_one(self, sender: Sender, held: Held, start: float) -> None:
        delivery, ref = held.delivery, held.ref
        clock = self.s.clock
        now = clock.now()
        if not ref.forced:
            pair = self._reserve_pair(sender, ref, start, now)
            if not pair.starts:
                # Its recipient had a message too recently: it waits (unclaimed, so nothing to undo).
                self._wait(held, pair.next_slot_at or start, now)
                return
            # Claimed just before the start, not when reserved (up to the lead earlier): a drainer
            # killed in between leaves the message unknown, so that window is kept short.
            with self._lock:
                claim_ahead = self._claim_seconds * CLAIM_MARGIN
            clock.sleep(start - claim_ahead - clock.now())
            now = clock.now()
        # At-least-once becomes at-most-once here: once claimed (queued → sending), a message
        # is never sent again by a redelivery of this copy; a drainer that dies after this line
        # leaves it `sending`, which its redelivery turns into an unknown outcome.
        try:
            message = self.s.messages.update(
                ref.id,
                statuses=WAITING,
                now=now,
                equals={"queue_seq": ref.seq},
                not_after_validity=now,
                changes={
                    "status": Status.SENDING,
                    "attempts": ref.attempt,
                    "claimed_by": delivery.sqs_message_id,
                    "rate_limited_until": None,
                },
                events=[event(Phase.SENDING, now, attempt=ref.attempt, forced=ref.forced or None)],
            )
        except StaleState as stale:
            if not ref.forced:
                # Not ours to send: its slot goes back, so it delays nobody's next message.
                self._release(sender, ref, start)
            self._on_stale(delivery, ref, stale.current)
            return
        with self._lock:
            self._claim_seconds = 0.8 * self._claim_seconds + 0.2 * (clock.now() - now)
        if not ref.forced and not self._wait_for_slot(sender, ref, start):
            self._give_back(message, delivery)
            return
        result = self.s.provider.send(sender, message, self._progress(message, delivery))
        decision = decide(result, message, clock.now(), self.s.rng)
        if isinstance(result, Accepted):
            self._record_sent(message, delivery, result)
        else:
            self._record(message, delivery, decision)

    def _wait_for_slot(self, sender: Sender, ref: QueuedRef, start: float) -> bool:
        """Sleep until the slot starts; True if we are inside it, reserving again when late.

        On False, every entry reserved for this send has been given back.
        """
        clock = self.s.clock
        for attempt in range(LATE_RETRIES):
            clock.sleep(start - clock.now())
            # Half the grace for us to be late, half for the trip to the peer.
            if clock.now() <= start + self.grace / 2:
                with self._lock:
                    self._lead = max(CLAIM_LEAD_SECONDS, self._lead * LEAD_SHRINK)
                return True
            with self._lock:
                self.report.late_wakeups += 1
                self._lead = min(self._lead * 2, MAX_CLAIM_LEAD_SECONDS)
            self._release(sender, ref, start)
            retried = self._reserve_again(sender, ref) if attempt + 1 < LATE_RETRIES else None
            if retried is None:
                return False
            start = retried
        return False

    def _progress(self, message: Message, delivery: Delivery) -> Progress:
        """A provider's steps (WAHA's reading, typing…) written to the timeline of the claim."""

        def record(phase: Phase, detail: dict[str, Any]) -> None:
            now = self.s.clock.now()
            with suppress(StaleState):
                self.s.messages.update(
                    message.id,
                    statuses=(Status.SENDING,),
                    now=now,
                    equals={"claimed_by": delivery.sqs_message_id},
                    events=[event(phase, now, **detail)],
                )

        return record

    def _give_back(self, message: Message, delivery: Delivery) -> None:
        """Too late for the slot we reserved: sending now could break the window. Not an attempt."""
        now = self.s.clock.now()
        with self._lock:
            # Visible at once: the loop must look for it again before it calls the queue empty.
            self._returning.append(now)
        with suppress(StaleState):
            requeue(
                self.s,
                message,
                statuses=(Status.SENDING,),
                delay_seconds=0,
                equals={"claimed_by": delivery.sqs_message_id},
                changes={"attempts": message.attempts - 1},
                events=[event(Phase.RATE_LIMITED, now, reason="missed its slot")],
            )
        logger.warning("send missed its slot; queued again", extra={"message_id": message.id})
        self.report.missed_slot += 1
        self._ack(delivery)

    def _record_sent(self, message: Message, delivery: Delivery, accepted: Accepted) -> None:
        now = self.s.clock.now()
        wamid = accepted.provider_message_id
        try:
            self.s.messages.update(
                message.id,
                statuses=(Status.SENDING,),
                now=now,
                equals={"claimed_by": delivery.sqs_message_id},
                changes={"status": Status.SENT, "provider_message_id": wamid, "sent_at": now},
                events=[
                    event(
                        Phase.PROVIDER_ACCEPTED,
                        now,
                        wamid=wamid,
                        message_status=accepted.message_status,
                    )
                ],
            )
        except StaleState:
            logger.warning("sent message changed meanwhile", extra={"message_id": message.id})
        self.report.sent += 1
        self.report.outcomes["sent"] += 1
        metrics.add_metric(name="MessagesSent", unit="Count", value=1)
        self._ack(delivery)

    def _record(self, message: Message, delivery: Delivery, decision: Decision) -> None:
        """Apply a decision other than 'sent' to a claimed message: one this drainer claimed, or
        one a dead drainer did (conditional on that claim, unchanged since it was read)."""
        now = self.s.clock.now()
        mine = {"claimed_by": message.claimed_by}
        error = decision.error
        code = error.code if error else None
        title = error.title if error else decision.reason
        self.report.outcomes[decision.action.value] += 1
        try:
            match decision.action:
                case Action.RETRY:
                    retry_at = now + decision.delay_seconds
                    requeue(
                        self.s,
                        message,
                        statuses=(Status.SENDING,),
                        delay_seconds=decision.delay_seconds,
                        equals=mine,
                        changes={"error": error},
                        events=[
                            event(
                                Phase.RETRY_SCHEDULED,
                                now,
                                attempt=message.attempts,
                                code=code,
                                title=title,
                                retry_at=iso(retry_at),
                            )
                        ],
                    )
                case Action.PAUSE_SENDER:
                    self._pause_sender(message, delivery, decision, now)
                case Action.FAIL:
                    self.s.messages.update(
                        message.id,
                        statuses=(Status.SENDING,),
                        now=now,
                        equals=mine,
                        changes={"status": Status.FAILED, "failed_at": now, "error": error},
                        events=[event(Phase.FAILED, now, code=code, title=title)],
                    )
                    metrics.add_metric(name="MessagesFailed", unit="Count", value=1)
                case Action.UNKNOWN:
                    self.s.messages.update(
                        message.id,
                        statuses=(Status.SENDING,),
                        now=now,
                        equals=mine,
                        changes={"status": Status.UNKNOWN},
                        events=[event(Phase.OUTCOME_UNKNOWN, now, reason=decision.reason)],
                    )
                    metrics.add_metric(name="OutcomesUnknown", unit="Count", value=1)
                case Action.EXPIRE:
                    self.s.messages.update(
                        message.id,
                        statuses=(Status.SENDING,),
                        now=now,
                        equals=mine,
                        changes={"status": Status.EXPIRED, "error": error},
                        events=[event(Phase.EXPIRED, now, code=code, title=title)],
                    )
        except StaleState:
            logger.warning("claimed message changed meanwhile", extra={"message_id": message.id})
        self._ack(delivery)

    def _pause_sender(
        self, message: Message, delivery: Delivery, decision: Decision, now: float
    ) -> None:
        until = now + decision.pause_seconds if decision.pause_seconds is not None else None
        reason = decision.reason or "paused"
        sender = self.s.senders.set_pause(
            message.sender, paused=True, reason=reason, until=until, now=now,
            code=decision.pause_code,
        )  # fmt: skip
        self._senders[message.sender] = (now, sender)
        partition = DUE_PARTITION if until is not None else parked_partition(message.sender)
        # The message goes back to queued, parked in the due index: no SQS copy until then.
        self.s.messages.update(
            message.id,
            statuses=(Status.SENDING,),
            now=now,
            equals={"claimed_by": delivery.sqs_message_id},
            changes={
                "status": Status.QUEUED,
                "queue_seq": message.queue_seq + 1,
                "claimed_by": None,
                "error": decision.error,
                "attempts": message.attempts - (0 if decision.attempt_spent else 1),
                "due_pk": partition,
                "due_at": int(until if until is not None else now),
            },
            events=[
                event(
                    Phase.SENDER_PAUSED,
                    now,
                    reason=reason,
                    code=decision.error.code if decision.error else None,
                    until=iso(until) if until is not None else None,
                )
            ],
        )
        metrics.add_metric(name="SendersPaused", unit="Count", value=1)

    # ---- copies that find their message elsewhere ------------------------------------------

    def _on_stale(self, delivery: Delivery, ref: QueuedRef, current: Message | None) -> None:
        now = self.s.clock.now()
        if current is None or current.queue_seq < ref.seq:
            # Its state write has not landed (yet): wait a little, then drop it as an orphan.
            if now - ref.visible_at < ORPHAN_AFTER_SECONDS:
                self.s.outbox.retry_later(delivery.receipt, 5)
                return
            logger.warning("dropping an orphan queue copy", extra={"message_id": ref.id})
        elif current.queue_seq == ref.seq and current.status in WAITING:
            self._expire(current, ref, now)
        elif current.queue_seq == ref.seq and current.status is Status.SENDING:
            # Claimed, and never recorded. By this very copy, given back by SQS: its drainer
            # died mid-send. By another copy of the same seq (one put back to wait while a
            # dead drainer's claim stood): its claimer died once the claim is older than any
            # drain lives; until then, look again when it would be.
            expires = _claimed_at(current) + CLAIM_EXPIRES_SECONDS
            if current.claimed_by != delivery.sqs_message_id and now < expires:
                self.s.outbox.retry_later(delivery.receipt, int(expires - now) + 1)
                return
            result = OutcomeUnknown("the drainer stopped during the send")
            self._record(current, delivery, decide(result, current, now, self.s.rng))
            return
        self.report.skipped += 1
        self._ack(delivery)

    def _expire(self, message: Message, ref: QueuedRef, now: float) -> None:
        try:
            self.s.messages.update(
                message.id,
                statuses=WAITING,
                now=now,
                equals={"queue_seq": ref.seq},
                changes={"status": Status.EXPIRED, "due_pk": None, "due_at": None},
                events=[event(Phase.EXPIRED, now, valid_until=iso(message.valid_until))],
            )
        except StaleState:
            return
        metrics.add_metric(name="MessagesExpired", unit="Count", value=1)

    # ---- due: scheduled messages and timed pauses whose time has come ----------------------

    def enqueue_due(self) -> int:
        """Queue scheduled messages due within SQS's longest delay (with that delay), and the
        parked messages of senders no longer paused."""
        now = self.s.clock.now()
        count = self._release_stranded(now)
        for message_id in self.s.messages.due(DUE_PARTITION, now + 900):
            message = self.s.messages.get(message_id)
            if message is None or message.status not in (Status.SCHEDULED, Status.QUEUED):
                continue
            due_at = message.send_at if message.status is Status.SCHEDULED else now
            delay = max((due_at or now) - now, 0)
            try:
                requeue(
                    self.s,
                    message,
                    statuses=(Status.SCHEDULED, Status.QUEUED),
                    delay_seconds=delay,
                    events=[event(Phase.QUEUED, now, delay_seconds=round(delay) or None)],
                )
            except StaleState:
                continue
            count += 1
        self.report.due_enqueued += count
        return count

    def _release_stranded(self, now: float) -> int:
        """A resume requeues what is parked when it looks; a drainer that read the pause just
        before may park a message just after (and the index may show it late). Such a message
        would wait forever: each due round puts it back, for one Query per sender not paused."""
        moved = 0
        for sender in self.s.senders.all():
            if not sender.is_paused(now):
                moved += release_parked(self.s, sender.name, until=now + RELEASE_BUDGET_SECONDS)
        if moved:
            logger.info("parked messages requeued: sender not paused", extra={"moved": moved})
        return moved

    # ---- acknowledgements -------------------------------------------------------------------

    def _ack(self, delivery: Delivery) -> None:
        with self._lock:
            self._acks.append(delivery.receipt)

    def _flush_acks(self, *, force: bool = False) -> None:
        with self._lock:
            if not self._acks or (len(self._acks) < 10 and not force and self._in_flight):
                return
            receipts, self._acks = self._acks, []
        self.s.outbox.ack(receipts)


def _no_sender(name: str) -> MessageError:
    return MessageError(
        code="sender_not_found",
        title="Unknown sender",
        message=f"No sender named '{name}' exists any more; create it and retry the message.",
        retryable=True,
    )


def _claimed_at(message: Message) -> float:
    """When the current attempt was claimed: its last `sending` event."""
    claims = [e.at for e in message.events if e.phase is Phase.SENDING]
    return datetime.fromisoformat(claims[-1]).timestamp() if claims else message.updated_at
