"""Making reservation requests from inbound messages, announcing them, and moving them along."""

import hashlib
from typing import Any

from pydantic import ValidationError

from postino.clock import iso
from postino.errors import PostinoError, not_found, wrong_state
from postino.events import publish
from postino.messages.request import SendMessageRequest
from postino.observability import logger, metrics
from postino.reservations.detect import find_codes, texts_of
from postino.reservations.model import (
    TRANSITIONS,
    Binding,
    Operator,
    Reservation,
    ReservationStatus,
    Target,
)
from postino.reservations.routing import route
from postino.reservations.routing_data import stored
from postino.send.accept import accept_keyed
from postino.services import Services
from postino.store.inbox import (
    Conflict,
    binding_key,
    code_key,
    operator_key,
    reservation_key,
    reservation_list_key,
)
from postino.webhooks.payload import InboundMessage


def reservation_id(inbound_wamid: str, code: str) -> str:
    """One request per (inbound message, code): the id is derived, so a repeat finds it."""
    return hashlib.sha256(f"{inbound_wamid}#{code}".encode()).hexdigest()[:32]


def request_reservations(
    services: Services,
    sender: str,
    message: InboundMessage,
    profile_name: str | None,
    now: float,
) -> list[Reservation]:
    texts = texts_of(message)
    codes = find_codes(texts, services.settings.reservation_code_pattern)
    return [
        _request(services, sender, message, code, profile_name, " ".join(texts), now)
        for code in codes
    ]


def _request(
    services: Services,
    sender: str,
    message: InboundMessage,
    code: str,
    profile_name: str | None,
    text: str,
    now: float,
) -> Reservation:
    inbox = services.inbox
    registration = inbox.get(code_key(code))
    experience_id = registration["experience_id"] if registration else None
    binding_item = inbox.get(binding_key(experience_id)) if experience_id else None
    binding = Binding.model_validate(binding_item) if binding_item else None
    operator_item = inbox.get(operator_key(binding.operator_id)) if binding else None
    operator = Operator.model_validate(operator_item) if operator_item else None
    chosen = route(binding, operator)
    reservation = Reservation.model_validate(
        {
            "id": reservation_id(message.id, code),
            "code": code,
            "from": message.from_,
            "profile_name": profile_name,
            "text": text[:1000] or None,
            "sender": sender,
            "inbound_message_id": message.id,
            "experience_id": experience_id,
            "operator_id": chosen.operator_id,
            "target": chosen.target,
            "matched": registration is not None,
            "routed": chosen.target is not None,
            "created_at": iso(now),
            "updated_at": iso(now),
        }
    )
    key = reservation_key(reservation.id)
    if inbox.put_new(key, _item(reservation), now=now):
        metrics.add_metric(name="ReservationsRequested", unit="Count", value=1)
        return _announce(services, reservation, now)
    # A repeat of the webhook (or a retry after a crash): announce only what never was.
    stored = inbox.get(key) or _item(reservation)
    if stored.get("announced_at") is None:
        return _announce(services, _from_item(stored), now)
    return _from_item(stored)


def _announce(services: Services, reservation: Reservation, now: float) -> Reservation:
    """Tell the user's systems and the operator, once.

    At-least-once: if this function dies after the event went out and before `announced_at`
    is written, a redelivery announces again. The event carries the reservation id for
    consumers to dedupe, and the messages are queued under idempotency keys derived from it,
    so the operator and the customer still get each message once.
    """
    settings = services.settings
    # A refused event raises: the record is retried and nothing is marked announced.
    publish(settings.event_bus_name, reservation)
    changes: dict[str, Any] = {"announced_at": iso(now), "updated_at": iso(now)}
    if reservation.target is not None:
        try:
            notification = accept_keyed(
                services,
                _notification(services, reservation, reservation.target),
                f"reservation-{reservation.id}-notify",
            )
        except (PostinoError, ValidationError) as error:
            # Kept on the request for the operator's dashboard; the request itself stands.
            logger.warning(
                "reservation notification refused", extra={"reservation_id": reservation.id}
            )
            changes["notification_error"] = _why(error)
        else:
            changes["notification_message_id"] = notification.id
            changes["status"] = ReservationStatus.NOTIFIED.value
            changes["list_pk"] = reservation_list_key(ReservationStatus.NOTIFIED)
    if settings.reservation_acknowledgement_text:
        try:
            accept_keyed(
                services,
                SendMessageRequest.model_validate(
                    {
                        "to": reservation.from_,
                        "sender": reservation.sender,
                        "type": "text",
                        "text": {
                            "body": _fill(settings.reservation_acknowledgement_text, reservation)
                        },
                        "reference": f"reservation:{reservation.id}",
                    }
                ),
                f"reservation-{reservation.id}-ack",
            )
        except (PostinoError, ValidationError) as error:
            logger.warning(
                "reservation acknowledgement refused",
                extra={"reservation_id": reservation.id, "why": _why(error)},
            )
    try:
        item = services.inbox.update(
            reservation_key(reservation.id), changes, equals={"announced_at": None}
        )
    except Conflict as conflict:
        item = conflict.current or _item(reservation)
    return _from_item(item)


def _notification(
    services: Services, reservation: Reservation, target: Target
) -> SendMessageRequest:
    settings = services.settings
    reference = f"reservation:{reservation.id}"
    if settings.reservation_notification_template:
        parameters = [
            reservation.code,
            reservation.profile_name or "-",
            f"+{reservation.from_}",
            (reservation.text or "-")[:500],
        ]
        return SendMessageRequest.model_validate(
            {
                "to": target.to,
                "sender": target.sender,
                "type": "template",
                "template": {
                    "name": settings.reservation_notification_template,
                    "language": {"code": settings.reservation_notification_language},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [{"type": "text", "text": p} for p in parameters],
                        }
                    ],
                },
                "reference": reference,
            }
        )
    return SendMessageRequest.model_validate(
        {
            "to": target.to,
            "sender": target.sender,
            "type": "text",
            "text": {"body": _fill(settings.reservation_notification_text, reservation)[:4096]},
            "reference": reference,
        }
    )


class _Blanks(dict[str, str]):
    """A placeholder the configured text names but we do not know stays as it was written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(text: str, reservation: Reservation) -> str:
    values = _Blanks(
        code=reservation.code,
        profile_name=reservation.profile_name or "a customer",
        from_number=reservation.from_,
        text=reservation.text or "",
    )
    try:
        return text.format_map(values)
    except (ValueError, IndexError):  # a stray brace in the configured text
        return text


def _why(error: PostinoError | ValidationError) -> str:
    if isinstance(error, PostinoError):
        return error.message
    return "the notification is not a valid message: " + "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
    )


def change_status(
    services: Services, reservation_id_: str, status: ReservationStatus, *, api_key_id: str | None
) -> Reservation:
    """Move a request along; `api_key_id` (the caller's key, here and in the routing data's
    writes below) is kept on the item as `updated_by`."""
    key = reservation_key(reservation_id_)
    item = services.inbox.get(key)
    if item is None:
        raise not_found("reservation", reservation_id_)
    current = _from_item(item)
    if status not in TRANSITIONS[current.status]:
        raise wrong_state("reservation", current.id, current.status.value, f"made {status.value}")
    now = iso(services.clock.now())
    try:
        updated = services.inbox.update(
            key,
            {
                "status": status.value,
                "list_pk": reservation_list_key(status),
                "updated_at": now,
                "updated_by": api_key_id,
            },
            equals={"status": current.status.value},
        )
    except Conflict as conflict:
        actual = (conflict.current or {}).get("status", "changed")
        raise wrong_state("reservation", current.id, str(actual), f"made {status.value}") from None
    return _from_item(updated)


def get_reservation(services: Services, reservation_id_: str) -> Reservation:
    return _from_item(stored(services, reservation_key(reservation_id_), "reservation"))


def list_reservations(
    services: Services, status: ReservationStatus | None, limit: int
) -> list[Reservation]:
    statuses = [status] if status else list(ReservationStatus)
    found = [
        _from_item(item) for s in statuses for item in services.inbox.reservations(s.value, limit)
    ]
    found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return found[:limit]


def _item(reservation: Reservation) -> dict[str, Any]:
    return {
        **reservation.model_dump(mode="json", by_alias=True, exclude_none=True),
        "list_pk": reservation_list_key(reservation.status),
        "created_key": f"{reservation.created_at}#{reservation.id}",
    }


def _from_item(item: dict[str, Any]) -> Reservation:
    return Reservation.model_validate(item)
