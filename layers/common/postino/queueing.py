"""Putting a message on the queue (again): the one primitive the API and the drain share.

SQS first, then the conditional state write (see outbox.py for why that order loses nothing).
"""

from typing import Any

from postino.messages.model import Event, Message, Phase, Status, event
from postino.outbox import QueuedRef, recipient_hash
from postino.services import Services
from postino.store.messages import StaleState, parked_partition


def queued_ref(
    message: Message, seq: int, visible_at: float, *, waiting: bool = False
) -> QueuedRef:
    return QueuedRef(
        id=message.id,
        seq=seq,
        attempt=message.attempts + 1,
        sender=message.sender,
        pair=recipient_hash(message.to),
        visible_at=visible_at,
        forced=message.forced,
        waiting=waiting,
    )


def requeue(
    services: Services,
    message: Message,
    *,
    statuses: tuple[Status, ...],
    delay_seconds: float,
    events: list[Event],
    changes: dict[str, Any] | None = None,
    equals: dict[str, Any] | None = None,
) -> Message:
    """Move `message` (as we read it) to queued, carried by a new SQS copy after `delay_seconds`.

    Raises StaleState when the message changed since we read it; the SQS copy is then an orphan
    that the drain drops.
    """
    now = services.clock.now()
    seq = message.queue_seq + 1
    updated = message.model_copy(update=changes or {})
    outbox = services.queues.for_sender(message.sender)
    outbox.put(queued_ref(updated, seq, now + delay_seconds), delay_seconds)
    return services.messages.update(
        message.id,
        statuses=statuses,
        now=now,
        changes={
            "status": Status.QUEUED,
            "queue_seq": seq,
            "claimed_by": None,
            "rate_limited_until": None,
            "due_pk": None,
            "due_at": None,
            **(changes or {}),
        },
        events=events,
        equals={"queue_seq": message.queue_seq, **(equals or {})},
    )


def release_parked(services: Services, sender: str, *, until: float) -> int:
    """Put the messages parked for `sender`'s pause back on the queue, until `until` (a time
    budget). Returns how many moved; a message that changed meanwhile is left to its new state."""
    moved = 0
    while services.clock.now() < until:
        ids = services.messages.due(parked_partition(sender), until=None, limit=100)
        if not ids:
            break
        for message_id in ids:
            message = services.messages.get(message_id)
            if message is None or message.status is not Status.QUEUED:
                continue
            try:
                requeue(
                    services,
                    message,
                    statuses=(Status.QUEUED,),
                    delay_seconds=0,
                    events=[event(Phase.QUEUED, services.clock.now(), reason="sender resumed")],
                )
            except StaleState:
                continue
            moved += 1
    return moved
