"""Handing over when the run ends: the messages in hand to the next drainer, and the queue to
whoever the API nudges next.

A run out of time with work left starts its successor a little before its deadline (Drainer.run),
so the successor's start (a cold one on Lambda: a new execution environment, since this one is
still busy) overlaps the end of this run. The successor waits for the lease, which this run
releases at its deadline before its last sends finish: the sender's pace goes on without a gap.
The lease only saves work; two drainers on one shard for a moment stay within the rate window.
"""

from postino.drain.intake import Intake
from postino.drain.state import RunState
from postino.outbox import QueuedRef
from postino.services import Services


def return_held(s: Services, state: RunState) -> None:
    """Out of time with messages in hand: pass each on as a fresh copy for the next drainer.

    Left alone they would come back only after the visibility timeout, one receive of their
    redrive budget spent; a fresh copy (same seq, so still valid) spends none. A copy is hidden
    until it is ready, unless a successor is waiting: it takes them at once and holds each to
    its slot in the sender's window (which is what decides a start, not the copy's delay).
    """
    now = s.clock.now()
    for h in state.take_all():
        delay = 0.0 if state.report.handed_over else max(h.ready_at - now, 0.0)
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


# How often a successor tries the lease while its holder finishes: a conditional write each.
LEASE_POLL_SECONDS = 0.05


def take_lease(s: Services, scope: str, holder: str, seconds: float, wait: float) -> bool:
    """Acquire the drainer's lease, waiting up to `wait` for its holder to let go."""
    clock = s.clock
    give_up_at = clock.now() + wait
    while not s.lease.acquire(scope, holder, clock.now(), seconds):
        if clock.now() >= give_up_at:
            return False
        clock.sleep(LEASE_POLL_SECONDS)
    return True
