"""Due: scheduled messages and timed pauses whose time has come, put on the queue."""

from postino.messages.model import Phase, Status, event
from postino.observability import logger
from postino.queueing import release_parked, requeue
from postino.senders.model import Sender
from postino.services import Services
from postino.store.messages import DUE_PARTITION, StaleState

RELEASE_BUDGET_SECONDS = 5.0


def enqueue_due(s: Services, senders: list[Sender] | None = None) -> int:
    """Queue scheduled messages due within SQS's longest delay (with that delay), and the
    parked messages of senders no longer paused. `senders`: all of them, if already read."""
    now = s.clock.now()
    count = _release_stranded(s, now, s.senders.all() if senders is None else senders)
    for message_id in s.messages.due(DUE_PARTITION, now + 900):
        message = s.messages.get(message_id)
        if message is None or message.status not in (Status.SCHEDULED, Status.QUEUED):
            continue
        due_at = message.send_at if message.status is Status.SCHEDULED else now
        delay = max((due_at or now) - now, 0)
        try:
            requeue(
                s,
                message,
                statuses=(Status.SCHEDULED, Status.QUEUED),
                delay_seconds=delay,
                events=[event(Phase.QUEUED, now, delay_seconds=round(delay) or None)],
            )
        except StaleState:
            continue
        count += 1
    return count


def _release_stranded(s: Services, now: float, senders: list[Sender]) -> int:
    """A resume requeues what is parked when it looks; a drainer that read the pause just
    before may park a message just after (and the index may show it late). Such a message
    would wait forever: each due round puts it back, for one Query per sender not paused."""
    moved = 0
    for sender in senders:
        if not sender.is_paused(now):
            moved += release_parked(s, sender.name, until=now + RELEASE_BUDGET_SECONDS)
    if moved:
        logger.info("parked messages requeued: sender not paused", extra={"moved": moved})
    return moved
