"""A message's record, its statuses, its timeline, and the resource the API shows."""

from enum import StrEnum
from typing import Any

from pydantic import Field

from postino.clock import iso
from postino.model import Model


class Status(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


RETRYABLE_BY_USER = (Status.FAILED, Status.EXPIRED, Status.UNKNOWN)
# Waiting to be sent: a drainer may claim it, a user may cancel or force it.
WAITING = (Status.SCHEDULED, Status.QUEUED)


class Phase(StrEnum):
    """The kinds of event on a message's timeline."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RATE_LIMITED = "rate_limited"
    FORCED = "forced"
    SENDING = "sending"
    # A WAHA sender's human-like steps before it sends (see providers/waha.py).
    READING = "reading"
    WAITING_HUMAN = "waiting_human"
    TYPING = "typing"
    PROVIDER_ACCEPTED = "provider_accepted"
    # From Meta's status webhooks (detail.source == "webhook").
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    RETRY_SCHEDULED = "retry_scheduled"
    SENDER_PAUSED = "sender_paused"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    OUTCOME_UNKNOWN = "outcome_unknown"
    DEAD_LETTERED = "dead_lettered"
    # The recipient answered it (quoting it, or pressing one of its reply buttons) or reacted.
    REPLIED = "replied"
    REACTED = "reacted"


class Event(Model):
    at: str
    phase: Phase
    detail: dict[str, Any] = Field(default_factory=dict)
    api_key_id: str | None = Field(
        default=None,
        description="The id of the API key whose call wrote this event (none: Postino's own)",
    )


def event(phase: Phase, now: float, *, api_key_id: str | None = None, **detail: Any) -> Event:
    return Event(
        at=iso(now),
        phase=phase,
        detail={k: v for k, v in detail.items() if v is not None},
        api_key_id=api_key_id,
    )


class MessageError(Model):
    code: str
    title: str
    message: str
    retryable: bool
    details: str | None = None


class Message(Model):
    """The stored record: everything about one message, its timeline included."""

    id: str
    sender: str
    to: str
    type: str
    content: dict[str, Any]
    status: Status
    reference: str | None = None
    metadata: dict[str, Any] | None = None
    provider_message_id: str | None = None
    attempts: int = 0
    error: MessageError | None = None
    created_at: float
    updated_at: float
    send_at: float | None = None
    valid_until: float
    validity_seconds: int
    at_least_once: bool = False
    forced: bool = False
    # Bumped on every (re)queue; the SQS message carries it, so a stale copy can tell it is stale.
    queue_seq: int = 0
    # Bumped by every write after the first (ADD, no clock): of two reads of the item, the one
    # with the higher revision is the newer.
    revision: int = 0
    # The SQS message id that claimed the current attempt: a redelivery of it means its drainer died.
    claimed_by: str | None = None
    # Set while the message waits for its sender's rate window: one rate_limited event per wait.
    rate_limited_until: float | None = None
    sent_at: float | None = None
    delivered_at: float | None = None
    read_at: float | None = None
    failed_at: float | None = None
    # Meta's status webhooks, one per status (see webhooks/receipts.py), and its billing notes.
    receipts: dict[str, Any] = Field(default_factory=dict)
    conversation: dict[str, Any] | None = None
    pricing: dict[str, Any] | None = None
    events: list[Event] = Field(default_factory=list)
    # A name the user groups messages under, for a report (GET /v1/campaigns/{campaign}).
    campaign: str | None = None
    # Answers to it (postino/conversations/threads.py): the first reply's time, the latest
    # reply, the latest reply button pressed, the reactions, and the ids of every inbound
    # message already applied (a redelivered webhook applies nothing twice).
    replied_at: float | None = None
    reply: dict[str, Any] | None = None
    reply_button: dict[str, Any] | None = None
    reactions: list[dict[str, Any]] = Field(default_factory=list)
    response_ids: set[str] = Field(default_factory=set)


def _time(value: float | None) -> str | None:
    return None if value is None else iso(value)


class MessageResource(Model):
    """A message as the API shows it."""

    id: str
    sender: str
    to: str
    type: str
    status: Status
    reference: str | None
    metadata: dict[str, Any] | None
    provider_message_id: str | None
    attempts: int
    error: MessageError | None
    created_at: str
    updated_at: str
    revision: int = Field(
        default=0,
        description="Counts the message's changes: of two reads, the higher revision is newer",
    )
    send_at: str | None
    sent_at: str | None
    delivered_at: str | None
    read_at: str | None
    failed_at: str | None
    conversation: dict[str, Any] | None = None
    pricing: dict[str, Any] | None = None
    campaign: str | None = None
    replied_at: str | None = None
    reply: dict[str, Any] | None = Field(
        default=None, description="The latest answer to it: id, preview, at, button"
    )
    reactions: dict[str, str] = Field(
        default_factory=dict, description="Each reactor's emoji, as it is now"
    )
    events: list[Event] | None = Field(
        default=None, description="The timeline, oldest first (on GET of one message)"
    )

    @classmethod
    def of(cls, message: Message, *, with_events: bool = False) -> "MessageResource":
        # The receipts' events are made on reading (webhooks/receipts.py imports this module).
        from postino.webhooks.receipts import timeline

        return cls(
            id=message.id,
            sender=message.sender,
            to=message.to,
            type=message.type,
            status=message.status,
            reference=message.reference,
            metadata=message.metadata,
            provider_message_id=message.provider_message_id,
            attempts=message.attempts,
            error=message.error,
            created_at=iso(message.created_at),
            updated_at=iso(message.updated_at),
            revision=message.revision,
            send_at=_time(message.send_at),
            sent_at=_time(message.sent_at),
            delivered_at=_time(message.delivered_at),
            read_at=_time(message.read_at),
            failed_at=_time(message.failed_at),
            conversation=message.conversation,
            pricing=message.pricing,
            campaign=message.campaign,
            replied_at=_time(message.replied_at),
            reply=message.reply,
            reactions=current_reactions(message.reactions),
            events=timeline(message) if with_events else None,
        )


def current_reactions(reactions: list[dict[str, Any]]) -> dict[str, str]:
    """Each reactor's latest emoji; an empty one takes a reaction back."""
    now: dict[str, str] = {}
    for reaction in sorted(reactions, key=lambda r: r.get("at", 0)):
        now[str(reaction.get("from"))] = str(reaction.get("emoji") or "")
    return {who: emoji for who, emoji in now.items() if emoji}
