"""Sending one message, in a send thread: take the pair's slot, claim the message just before
its start, send it inside the slot, and hand the result to the recorder.
"""

from contextlib import suppress
from typing import Any

from postino.drain.outcomes import decide
from postino.drain.record import Recorder
from postino.drain.slots import LATE_RETRIES, Slots
from postino.drain.state import Held
from postino.messages.model import WAITING, Message, Phase, Status, event
from postino.outbox import Delivery, QueuedRef
from postino.providers.base import Accepted, Progress, SendResult, SlotMissed
from postino.senders.model import Sender
from postino.services import Services
from postino.store.messages import StaleState


class SendOne:
    def __init__(self, services: Services, slots: Slots, recorder: Recorder) -> None:
        self.s = services
        self.slots = slots
        self.recorder = recorder

    def send(self, sender: Sender, held: Held, start: float) -> None:
        delivery, ref = held.delivery, held.ref
        clock = self.s.clock
        now = clock.now()
        if not ref.forced:
            pair = self.slots.reserve_pair(sender, ref, start, now)
            if not pair.starts:
                # Its recipient had a message too recently: it waits, unclaimed, and its slot in
                # the sender's window goes back (a gap, an hour's count) for the next message.
                self.slots.release(sender, ref, start, pair=False)
                self.slots.wait(held, pair.next_slot_at or start, now)
                return
            # Claimed just before the start, not when reserved (up to the lead earlier): a drainer
            # killed in between leaves the message unknown, so that window is kept short.
            clock.sleep(start - self.slots.claim_ahead() - clock.now())
            now = clock.now()
        reached_late = self.slots.reached_claim_late(start, now)
        try:
            message = self._claim(delivery, ref, now)
        except StaleState as stale:
            if not ref.forced:
                # Not ours to send: its slot goes back, so it delays nobody's next message.
                self.slots.release(sender, ref, start)
            self.recorder.on_stale(delivery, ref, stale.current)
            return
        self.slots.claimed_in(clock.now() - now)
        result = self._send_in_slot(sender, held, message, start, reached_late=reached_late)
        if result is None:
            self.recorder.give_back(message, delivery)
            return
        decision = decide(result, message, clock.now(), self.s.rng)
        if isinstance(result, Accepted):
            self.recorder.sent(message, delivery, result)
        else:
            self.recorder.outcome(message, delivery, decision)

    def _send_in_slot(
        self, sender: Sender, held: Held, message: Message, start: float, *, reached_late: bool
    ) -> SendResult | None:
        """Send inside the slot at `start`, or a later one if that one is missed; None if every
        slot was missed (each given back), and nothing was sent."""
        progress = self._progress(message, held.delivery)
        if held.ref.forced:
            return self.s.provider.send(sender, message, progress)
        for attempt in range(LATE_RETRIES):
            inside = self.slots.wait_for_slot(sender, held.ref, start, reached_late=reached_late)
            if inside is None:
                return None
            try:
                return self.s.provider.send(sender, message, progress, self.slots.on_wire(inside))
            except SlotMissed:
                # Held up between waking in time and the wire: not sent, so a new slot.
                again = self.slots.missed(
                    sender, held.ref, inside, reached_late=False, again=attempt + 1 < LATE_RETRIES
                )
                if again is None:
                    return None
                start, reached_late = again, True
        return None

    def _claim(self, delivery: Delivery, ref: QueuedRef, now: float) -> Message:
        """queued → sending, by this copy; StaleState if the message is not this copy's to send."""
        # At-least-once becomes at-most-once here: once claimed (queued → sending), a message
        # is never sent again by a redelivery of this copy; a drainer that dies after this line
        # leaves it `sending`, which its redelivery turns into an unknown outcome.
        return self.s.messages.update(
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
