"""What a dashboard page is told: DynamoDB stream records turned into small events.

Each table's stream gives the item as it is after the change (NEW_IMAGE). A page gets:
- `message`: a message's status and its newest timeline event (a WAHA send's reading, waiting,
  typing and sending, each as it is written);
- `conversation`: a conversation's unread count and last message (an inbound message);
- `reservation`: a reservation request made or moved;
- `sender`: a sender paused or resumed, or its WAHA session's status.
Everything else (tokens, contacts, deletions by TTL) tells a page nothing.

A page reads the same through the API: the events only say what to show now, in the order the
stream gives them (per item, the order of its writes). A message's event carries its item's
`revision`, as the API gives it, so that a page can tell which of the two is newer.
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
)

from postino.clock import iso
from postino.settings import Settings
from postino.store.codec import from_item

SENDER_FIELDS = ("paused", "paused_reason", "paused_until", "session_status")


def page_events(event: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    """The page events of a batch of stream records, in the batch's order."""
    tables = {
        settings.messages_table: _message,
        settings.inbox_table: _inbox,
        settings.senders_table: _sender,
    }
    found: list[dict[str, Any]] = []
    for record in DynamoDBStreamEvent(event).records:
        if record.event_name == DynamoDBRecordEventName.REMOVE:
            continue
        read = tables.get(_table_of(record.event_source_arn or ""))
        image = record.raw_event.get("dynamodb", {}).get("NewImage")
        told = read(from_item(image)) if read and image else None
        if told is not None:
            found.append(told)
    return found


def _table_of(stream_arn: str) -> str:
    """arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL → NAME"""
    return stream_arn.split(":table/", 1)[-1].split("/stream/", 1)[0]


def _message(item: dict[str, Any]) -> dict[str, Any]:
    newest = (item.get("events") or [{}])[-1]
    at = newest.get("at")
    return {
        "type": "message",
        "id": item["id"],
        "sender": item.get("sender"),
        "status": item.get("status"),
        "phase": newest.get("phase"),
        # Stored as epoch milliseconds (store/messages.py); older items kept ISO text.
        "at": iso(at / 1000) if isinstance(at, int | float) else at,
        "detail": newest.get("detail") or {},
        # As the API gives it: a page keeps the newest of what the API and the events told it
        # (a read of the list that left before this change may answer after it).
        "revision": int(item.get("revision") or 0),
    }


def _inbox(item: dict[str, Any]) -> dict[str, Any] | None:
    kind = str(item.get("pk", "")).split("#", 1)[0]
    if kind == "conversation":
        last = dict(item.get("last_message") or {})
        if isinstance(last.get("at"), int | float):
            last["at"] = iso(last["at"])
        return {
            "type": "conversation",
            "sender": item.get("sender"),
            "contact": item.get("contact"),
            "name": item.get("name"),
            "unread": int(item.get("unread") or 0),
            "last_message": last or None,
        }
    if kind == "reservation":
        return {"type": "reservation", "id": item.get("id"), "status": item.get("status")}
    return None


def _sender(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "sender", "name": item["name"]} | {
        field: item.get(field) for field in SENDER_FIELDS
    }
