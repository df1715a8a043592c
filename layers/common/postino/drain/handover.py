"""Handing over when the run ends: the messages in hand to the next drainer, and the queue to
whoever the API nudges next."""

from postino.drain.intake import Intake
from postino.drain.state import RunState
from postino.outbox import QueuedRef
from postino.services import Services


def return_held(s: Services, state: RunState) -> None:
    """Out of time with messages in hand: pass each on as a fresh copy for the next drainer.

    Left alone they would come back only after the visibility timeout, one receive of their
    redrive budget spent; a fresh copy (same seq, so still valid) spends none.
    """
    now = s.clock.now()
    for h in state.take_all():
        delay = max(h.ready_at - now, 0.0)
        state.queue.put(QueuedRef(**{**h.ref.__dict__, "visible_at": now + delay}), delay)
        state.ack(h.delivery)


def last_look(s: Services, intake: Intake, scope: str, holder: str, lease_seconds: float) -> bool:
    """Release the lease, then look once more: the API nudges only while nobody holds it.

    True if the queue is empty; if not, the lease is taken again and what came is admitted.
    """
    s.lease.release(scope, holder)
    deliveries = intake.receive(wait_seconds=1)
    if not deliveries:
        return True
    s.lease.acquire(scope, holder, s.clock.now(), lease_seconds)
    for delivery in deliveries:
        intake.admit(delivery)
    return False
