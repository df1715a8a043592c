"""Recording what became of a message: sent, retried, failed, unknown, expired, given back, or
its sender paused; and what a copy does that finds its message moved on without it.

Each is a conditional write on the message (on this claim, or on this copy's seq) and an event
on its timeline; the copy is acknowledged once its message no longer needs it. A move forward
(sent, failed, unknown, expired) is also a MessageStatusChanged for the user's bus, buffered on
the run (the loop puts them in tens: postino/drain/drainer.py).
"""

from contextlib import suppress
from datetime import datetime

from postino.clock import iso
from postino.drain.outcomes import Action, Decision, decide
from postino.drain.state import RunState, SenderCache
from postino.events import announced, entry, status_changed
from postino.messages.model import WAITING, Message, MessageError, Phase, Status, event
from postino.observability import logger, metrics
from postino.outbox import Delivery, QueuedRef
from postino.providers.base import Accepted, OutcomeUnknown, SenderUnavailable
from postino.providers.waha_terms import SESSION_PAUSE
from postino.queueing import requeue
from postino.senders.model import Sender
from postino.services import Services
from postino.store.messages import DUE_PARTITION, StaleState, parked_partition

# A copy whose message has not reached its seq this long after it became visible is an orphan.
ORPHAN_AFTER_SECONDS = 60.0
# No living drainer holds a claim this long (the drain function's timeout is 60 s): a copy that
# finds its message `sending` for longer knows its claimer died, whichever copy claimed it.
CLAIM_EXPIRES_SECONDS = 90.0


class Recorder:
    def __init__(self, services: Services, state: RunState, senders: SenderCache) -> None:
        self.s = services
        self.state = state
        self.senders = senders

    def sent(self, message: Message, delivery: Delivery, accepted: Accepted) -> None:
        now = self.s.clock.now()
        wamid = accepted.provider_message_id
        try:
            self.s.messages.update_without_reading(
                message.id,
                statuses=(Status.SENDING,),
                now=now,
                equals={"claimed_by": delivery.sqs_message_id},
                changes={"status": Status.SENT, "provider_message_id": wamid, "sent_at": now},
                # Not the wamid again (it is provider_message_id): the item stays under the KB
                # that each of its later writes is billed by.
                events=[
                    event(Phase.PROVIDER_ACCEPTED, now, message_status=accepted.message_status)
                ],
            )
        except StaleState:
            logger.warning("sent message changed meanwhile", extra={"message_id": message.id})
        else:
            self._announce(message, Status.SENT, now)
        report = self.state.report
        report.sent += 1
        report.outcomes["sent"] += 1
        metrics.add_metric(name="MessagesSent", unit="Count", value=1)
        self.state.ack(delivery)

    def outcome(self, message: Message, delivery: Delivery, decision: Decision) -> None:
        """Apply a decision other than 'sent' to a claimed message: one this drainer claimed, or
        one a dead drainer did (conditional on that claim, unchanged since it was read)."""
        now = self.s.clock.now()
        mine = {"claimed_by": message.claimed_by}
        error = decision.error
        code = error.code if error else None
        title = error.title if error else decision.reason
        self.state.report.outcomes[decision.action.value] += 1
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
                    self._announce(message, Status.FAILED, now, error)
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
                    self._announce(message, Status.UNKNOWN, now)
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
                    self._announce(message, Status.EXPIRED, now, error)
        except StaleState:
            logger.warning("claimed message changed meanwhile", extra={"message_id": message.id})
        self.state.ack(delivery)

    def give_back(self, message: Message, delivery: Delivery) -> None:
        """Too late for the slot we reserved: sending now could break the window. Not an attempt."""
        now = self.s.clock.now()
        # Visible at once: the loop must look for it again before it calls the queue empty.
        self.state.comes_back_at(now)
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
        self.state.report.missed_slot += 1
        self.state.ack(delivery)

    def pause_unavailable(
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
        self.senders.remember(sender.name, paused, now)
        if paused.is_paused(now):
            metrics.add_metric(name="SendersPaused", unit="Count", value=1)
            logger.warning("sender paused", extra={"sender": sender.name, "code": unavailable.code})
        return paused

    def _pause_sender(
        self, message: Message, delivery: Delivery, decision: Decision, now: float
    ) -> None:
        until = now + decision.pause_seconds if decision.pause_seconds is not None else None
        reason = decision.reason or "paused"
        sender = self.s.senders.set_pause(
            message.sender, paused=True, reason=reason, until=until, now=now,
            code=decision.pause_code,
        )  # fmt: skip
        self.senders.remember(message.sender, sender, now)
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

    def on_stale(self, delivery: Delivery, ref: QueuedRef, current: Message | None) -> None:
        now = self.s.clock.now()
        if current is None or current.queue_seq < ref.seq:
            # Its state write has not landed (yet): wait a little, then drop it as an orphan.
            if now - ref.visible_at < ORPHAN_AFTER_SECONDS:
                self.state.queue.retry_later(delivery.receipt, 5)
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
                self.state.queue.retry_later(delivery.receipt, int(expires - now) + 1)
                return
            result = OutcomeUnknown("the drainer stopped during the send")
            self.outcome(current, delivery, decide(result, current, now, self.s.rng))
            return
        self.state.report.skipped += 1
        self.state.ack(delivery)

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
        self._announce(message, Status.EXPIRED, now)
        metrics.add_metric(name="MessagesExpired", unit="Count", value=1)

    def _announce(
        self, message: Message, status: Status, now: float, error: MessageError | None = None
    ) -> None:
        """The move just written, for the user's bus: buffered, put with the run's next ten."""
        if not announced(self.s.settings.status_events, status):
            return
        changed = status_changed(message, status, now, error)
        self.state.publish_later(entry(self.s.settings.event_bus_name, changed))


def _claimed_at(message: Message) -> float:
    """When the current attempt was claimed: its last `sending` event."""
    claims = [e.at for e in message.events if e.phase is Phase.SENDING]
    return datetime.fromisoformat(claims[-1]).timestamp() if claims else message.updated_at
