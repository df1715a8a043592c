"""Taking work: receive copies off the queue and admit each, before it competes for a slot.

A copy whose sender is gone fails its message; one whose sender is paused parks its message in
the due index; the others are held, ready at once, for the next dispatch.
"""

import math
from typing import Any

from postino.drain.record import Recorder
from postino.drain.state import Held, RunState, SenderCache
from postino.messages.model import WAITING, Event, MessageError, Phase, Status, event
from postino.observability import logger
from postino.outbox import Delivery, QueuedRef
from postino.senders.model import Sender
from postino.services import Services
from postino.store.messages import DUE_PARTITION, StaleState, parked_partition

# A received copy stays hidden this long past the end of the invocation that took it: Lambda's
# end and SQS's clock are not the same instant.
HIDDEN_PAST_END_SECONDS = 10


class Intake:
    def __init__(
        self, services: Services, state: RunState, senders: SenderCache, recorder: Recorder
    ) -> None:
        self.s = services
        self.state = state
        self.senders = senders
        self.recorder = recorder

    def receive(self, *, wait_seconds: int) -> list[Delivery]:
        # Hidden until this invocation has surely ended, no longer: if it dies (a crash, a
        # timeout), what it held comes back then, not after the queue's whole visibility timeout.
        left = max(math.ceil(self.state.ends_at - self.s.clock.now()), 0)
        hidden_for = left + HIDDEN_PAST_END_SECONDS
        deliveries = self.state.queue.receive(wait_seconds=wait_seconds, hidden_for=hidden_for)
        report = self.state.report
        report.received += len(deliveries)
        now = self.s.clock.now()
        for delivery in deliveries:
            if delivery.ref is not None:
                # How long past its time the copy waited: the queue-age alarm's figure.
                waited = now - delivery.ref.visible_at
                report.longest_wait_seconds = max(report.longest_wait_seconds, waited)
        return deliveries

    def admit(self, delivery: Delivery) -> None:
        ref = delivery.ref
        if ref is None:
            # Not ours to read: leave it to SQS's redrive, which moves it to the DLQ.
            logger.error(
                "unreadable queue message", extra={"sqs_message_id": delivery.sqs_message_id}
            )
            return
        sender = self.senders.get(ref.sender)
        now = self.s.clock.now()
        if sender is not None and sender.is_paused(now) and not ref.forced:
            # Parked only on a fresh read: a resume may have come since the cached one, and a
            # message parked after the resume looked would wait for the next sweep.
            sender = self.senders.get(ref.sender, fresh=True)
        if sender is None:
            self._fail_unknown_sender(delivery, ref)
        elif sender.is_paused(now) and not ref.forced:
            self._park(delivery, ref, sender)
        else:
            self.state.hold(Held(delivery, ref, now))

    def _fail_unknown_sender(self, delivery: Delivery, ref: QueuedRef) -> None:
        now = self.s.clock.now()
        changes = {"status": Status.FAILED, "failed_at": now, "error": _no_sender(ref.sender)}
        events = [event(Phase.FAILED, now, code="sender_not_found")]
        if self._settle(delivery, ref, now, changes, events):
            self.state.ack(delivery)

    def _park(self, delivery: Delivery, ref: QueuedRef, sender: Sender) -> None:
        """Hold the message in the due index until the pause ends (or the sender is resumed)."""
        now = self.s.clock.now()
        partition, until = (
            (DUE_PARTITION, sender.paused_until)
            if sender.paused_until is not None
            else (parked_partition(sender.name), now)
        )
        changes = {"due_pk": partition, "due_at": int(until)}
        events = [event(Phase.SENDER_PAUSED, now, reason=sender.paused_reason)]
        if self._settle(delivery, ref, now, changes, events):
            self.state.report.deferred += 1
            self.state.ack(delivery)

    def _settle(
        self,
        delivery: Delivery,
        ref: QueuedRef,
        now: float,
        changes: dict[str, Any],
        events: list[Event],
    ) -> bool:
        """Change a waiting message, conditional on this copy's seq. False if the message has
        moved on: the copy is then handled as stale."""
        try:
            self.s.messages.update(
                ref.id,
                statuses=WAITING,
                now=now,
                equals={"queue_seq": ref.seq},
                changes=changes,
                events=events,
            )
        except StaleState as stale:
            self.recorder.on_stale(delivery, ref, stale.current)
            return False
        return True


def _no_sender(name: str) -> MessageError:
    return MessageError(
        code="sender_not_found",
        title="Unknown sender",
        message=f"No sender named '{name}' exists any more; create it and retry the message.",
        retryable=True,
    )
