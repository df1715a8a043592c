"""What a user may do with a message once accepted: look, retry, force, cancel."""

from postino.errors import PostinoError, not_found, wrong_state
from postino.ids import is_message_id
from postino.messages.model import RETRYABLE_BY_USER, WAITING, Message, Phase, Status, event
from postino.queueing import requeue
from postino.send.accept import wake_drain
from postino.services import Services
from postino.store.messages import StaleState


def get_message(services: Services, message_id: str) -> Message:
    message = services.messages.get(message_id) if is_message_id(message_id) else None
    if message is None:
        raise not_found("message", message_id)
    return message


def retry_message(services: Services, message_id: str, *, api_key_id: str | None) -> Message:
    """failed, expired or unknown → queued, with a fresh validity and attempt budget.

    `api_key_id`, here and below: the caller's key, named on the event the change writes."""
    message = get_message(services, message_id)
    if message.status not in RETRYABLE_BY_USER:
        raise wrong_state("message", message_id, message.status, "retried")
    now = services.clock.now()
    updated = _requeue(
        services,
        message,
        RETRYABLE_BY_USER,
        "retried",
        changes={
            "attempts": 0,
            "error": None,
            "valid_until": now + message.validity_seconds,
        },
        phase=Phase.QUEUED,
        reason="retry requested",
        api_key_id=api_key_id,
    )
    wake_drain(services, updated.sender)
    return updated


def force_message(services: Services, message_id: str, *, api_key_id: str | None) -> Message:
    """The next drain sends it at once, past the rate window and any pause of its sender."""
    message = get_message(services, message_id)
    if message.status not in WAITING:
        raise wrong_state("message", message_id, message.status, "forced")
    updated = _requeue(
        services,
        message,
        WAITING,
        "forced",
        changes={"forced": True},
        phase=Phase.FORCED,
        api_key_id=api_key_id,
    )
    wake_drain(services, updated.sender)
    return updated


def cancel_message(services: Services, message_id: str, *, api_key_id: str | None) -> Message:
    message = get_message(services, message_id)
    if message.status not in WAITING:
        raise wrong_state("message", message_id, message.status, "cancelled")
    now = services.clock.now()
    try:
        # Its SQS copy, if any, finds it cancelled and is dropped.
        return services.messages.update(
            message_id,
            statuses=WAITING,
            now=now,
            changes={"status": Status.CANCELLED, "due_pk": None, "due_at": None},
            events=[event(Phase.CANCELLED, now, api_key_id=api_key_id)],
        )
    except StaleState as stale:
        raise _conflict(message_id, stale, "cancelled") from stale


def _requeue(
    services: Services,
    message: Message,
    statuses: tuple[Status, ...],
    action: str,
    *,
    changes: dict[str, object],
    phase: Phase,
    api_key_id: str | None,
    reason: str | None = None,
) -> Message:
    now = services.clock.now()
    try:
        return requeue(
            services,
            message,
            statuses=statuses,
            delay_seconds=0,
            changes=changes,
            events=[event(phase, now, api_key_id=api_key_id, reason=reason)],
        )
    except StaleState as stale:
        raise _conflict(message.id, stale, action) from stale


def _conflict(message_id: str, stale: StaleState, action: str) -> PostinoError:
    status = stale.current.status if stale.current else "gone"
    return wrong_state("message", message_id, status, action)
