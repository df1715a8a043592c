"""The events Postino puts on the user's EventBridge bus (source `postino`): their shapes, and
how each is put.

- ReservationRequested: a reservation code in an inbound message (postino/reservations/).
- MessageReceived: an inbound message, once.
- MessageStatusChanged: an outbound message moved forward (sent, delivered, read, failed,
  unknown, expired), by the drain's record of a send or by a status webhook.

Each detail is a model below; its JSON Schema is in docs/events/ (tests/unit/test_event_schemas.py
keeps the two equal).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from postino.clock import iso
from postino.messages.model import Message, MessageError, Status
from postino.model import Model
from postino.observability import logger, metrics
from postino.store.eventbus import MAX_ENTRIES, EventNotPublished, put

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef as Entry

    # Only the reservations service puts one, and it is imported with the first inbound message:
    # the reservation models stay out of a status's cold start.
    from postino.reservations.model import Reservation

SOURCE = "postino"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The statuses a MessageStatusChanged carries: the forward moves of an outbound message.
ForwardStatus = Literal["sent", "delivered", "read", "failed", "unknown", "expired"]


class MessageReceived(Model):
    """A person wrote to one of the senders: once per inbound message."""

    sender: str = Field(description="The Postino sender the message came to.")
    contact: str = Field(
        description="Who wrote: their WhatsApp number's digits (Cloud API), or the WAHA chat "
        "id (`<digits>@c.us`, or the group's `…@g.us`)."
    )
    name: str | None = Field(description="The contact's WhatsApp profile name, when given.")
    message_id: str = Field(description="The provider's id of the message (Meta's wamid).")
    type: str = Field(description="text, image, button, interactive, … (`unsupported` if new).")
    text: str | None = Field(description="The text, or a media message's caption.")
    reply_id: str | None = Field(description="The id (payload) of the button or row tapped.")
    reply_title: str | None = Field(description="The title of the button or row tapped.")
    replied_to: str | None = Field(
        description="The id of our outbound message this one answers, when known."
    )
    timestamp: str = Field(description="When the contact sent it (ISO 8601, UTC).")
    received_at: str = Field(description="When Postino received it (ISO 8601, UTC).")


class EventError(Model):
    code: str | None = Field(description="Meta's error code, or Postino's reason.")
    title: str | None = Field(description="A short title of the error.")


class MessageStatusChanged(Model):
    """An outbound message moved forward: once per status it reaches."""

    id: str = Field(description="The message's id, as POST /v1/messages returned it.")
    sender: str = Field(description="The sender it goes out from.")
    reference: str | None = Field(description="The reference given when it was sent.")
    campaign: str | None = Field(description="The campaign it belongs to, when given.")
    status: ForwardStatus = Field(description="The status it reached.")
    error: EventError | None = Field(description="Why, for a message failed or expired.")
    at: str = Field(description="When it reached the status (ISO 8601, UTC).")


# A `type` statement is evaluated when used: Reservation need not be imported for it.
type Detail = Reservation | MessageReceived | MessageStatusChanged
# Each detail model's class name → its DetailType.
DETAIL_TYPES = {
    "Reservation": "ReservationRequested",
    "MessageReceived": "MessageReceived",
    "MessageStatusChanged": "MessageStatusChanged",
}


def message_received(record: dict[str, Any], chat: str | None) -> MessageReceived:
    """The event of an inbound record (postino/webhooks/process.py's `inbound_record`); `chat`
    is WAHA's chat id, None for the Cloud API.

    Published at most once, when the record is first stored: a crash between the write and the
    publish loses the event, and the redelivery finds the record stored and publishes nothing.
    Accepted: the inbound record is kept and listed, and at least once would cost every inbound
    message a write more (a mark that its event went out)."""
    return MessageReceived(
        sender=record["sender"],
        contact=chat or record["from"],
        name=record.get("profile_name"),
        message_id=record["wamid"],
        type=record["type"],
        text=record.get("text"),
        reply_id=record.get("reply_id"),
        reply_title=record.get("reply_title"),
        replied_to=record.get("replied_to"),
        timestamp=iso(record["timestamp"]),
        received_at=iso(record["received_at"]),
    )


def status_changed(
    message: Message, status: Status, at: float, error: MessageError | None = None
) -> MessageStatusChanged:
    """`message` (as read before or after the change) now in `status`; the error is kept only
    where it says why the message ended (failed, expired)."""
    why = error if status in (Status.FAILED, Status.EXPIRED) else None
    return MessageStatusChanged(
        id=message.id,
        sender=message.sender,
        reference=message.reference,
        campaign=getattr(message, "campaign", None),
        status=cast(ForwardStatus, status.value),  # a forward move, as the callers make it
        error=EventError(code=why.code, title=why.title) if why else None,
        at=iso(at),
    )


# What needs someone to act: a message that will not arrive, or may not have.
FAILURES = (Status.FAILED, Status.UNKNOWN, Status.EXPIRED)


def announced(setting: str, status: Status) -> bool:
    """Whether a move to `status` goes on the bus under the StatusEvents setting: EventBridge
    bills each event, and `all` is about three a message where `failures` is none for most."""
    return setting == "all" or (setting == "failures" and status in FAILURES)


def entry(bus: str, detail: Detail) -> "Entry":
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPES[type(detail).__name__],
        "Detail": detail.model_dump_json(by_alias=True),
        "EventBusName": bus,
    }


def publish(bus: str, detail: Detail) -> None:
    """Put one event; a refusal raises (for a caller that retries until it is out)."""
    put([entry(bus, detail)])


def publish_at_most_once(bus: str, detail: Detail) -> None:
    """Put one event, once (see put_at_most_once)."""
    put_at_most_once([entry(bus, detail)])


def put_at_most_once(entries: Sequence["Entry"]) -> None:
    """Put events in requests of up to ten, once: a request that fails is logged and counted,
    never raised, since the state change each event tells of is written already."""
    for start in range(0, len(entries), MAX_ENTRIES):
        batch = entries[start : start + MAX_ENTRIES]
        try:
            put(batch)
        except (BotoCoreError, ClientError, EventNotPublished) as error:
            # The entries hold phone numbers and texts: the log names only what and why.
            logger.warning(
                "events not published",
                extra={
                    "detail_types": sorted({e["DetailType"] for e in batch}),
                    "count": len(batch),
                    "why": _why(error),
                },
            )
            metrics.add_metric(name="EventsNotPublished", unit="Count", value=len(batch))


def _why(error: BotoCoreError | ClientError | EventNotPublished) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    if isinstance(error, EventNotPublished):
        return str(error)  # counts and EventBridge's error codes, nothing of the entries
    return type(error).__name__


def schemas() -> dict[str, dict[str, Any]]:
    """Each detail type's JSON Schema, as docs/events/<DetailType>.schema.json holds it."""
    from postino.reservations.model import Reservation

    models: list[type[BaseModel]] = [Reservation, MessageReceived, MessageStatusChanged]
    return {
        DETAIL_TYPES[model.__name__]: {
            "$schema": JSON_SCHEMA_DIALECT,
            **model.model_json_schema(by_alias=True, mode="serialization"),
            "title": DETAIL_TYPES[model.__name__],
        }
        for model in models
    }
