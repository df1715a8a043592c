"""EventBridge: the one call that puts Postino's events on the user's bus (postino/events.py
says what they are)."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from postino import aws

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef as Entry

# The most entries EventBridge takes in one PutEvents request.
MAX_ENTRIES = 10


class EventNotPublished(Exception):
    """EventBridge refused entries (it says so in its answer, not with an exception)."""


def put(entries: Sequence["Entry"]) -> None:
    """Put up to MAX_ENTRIES entries in one request; raise if EventBridge refused any of them."""
    response = aws.events().put_events(Entries=list(entries))
    if response.get("FailedEntryCount"):
        codes = sorted({str(e["ErrorCode"]) for e in response["Entries"] if e.get("ErrorCode")})
        raise EventNotPublished(
            f"{response['FailedEntryCount']} of {len(entries)} refused: {', '.join(codes)}"
        )
