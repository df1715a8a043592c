"""Status webhooks applied to a message, whatever their order and however often they repeat.

A message keeps one receipt per status Meta reported (sent, delivered, read, failed). Its
status, its timestamps and the webhook part of its timeline are functions of that set alone,
so any order of arrival ends in the same state, and a repeat changes nothing:
- read (or played) wins; else failed; else delivered; else sent. So failed overrides sent and
  delivered but never read.
- delivered_at is the delivered receipt's time, or the read receipt's when delivered never came.
- The timeline lists our own events in order, then one event per receipt, by Meta's time. The
  receipts' events are not stored: `timeline` makes them when a message is read. A receipt
  keeps only its time and errors, and the message Meta's latest billing notes (conversation,
  pricing): DynamoDB bills a write by the whole item's size, a unit a started KB, and a status
  write rewrote the whole timeline and every receipt's billing notes (1.6 KB by `read`).
"""

from typing import Any

from postino.clock import iso
from postino.messages.model import Event, Message, MessageError, Phase, Status
from postino.webhooks.payload import StatusUpdate, epoch

# Meta's statuses, in the order they can happen; "played" (a voice message) counts as read.
RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 2}
ALIASES = {"played": "read"}
WEBHOOK = "webhook"
# Our statuses a webhook may move: sent and after, and unknown (the webhook proves it went).
RECEIVING = (Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED, Status.UNKNOWN)
# Our statuses that already say a message was sent: a plain `sent` receipt adds nothing.
CONFIRMED = (Status.SENT, Status.DELIVERED, Status.READ)
PHASES = {
    "sent": Phase.SENT,
    "delivered": Phase.DELIVERED,
    "read": Phase.READ,
    "failed": Phase.FAILED,
}


def receipt_of(update: StatusUpdate, received_at: float) -> tuple[str, dict[str, Any]] | None:
    """The status name and what we keep of it; None for a status we do not track."""
    name = ALIASES.get(update.status, update.status)
    if name not in RANK:
        return None
    receipt: dict[str, Any] = {
        "at": epoch(update.timestamp, received_at),
        "errors": [e.model_dump(exclude_none=True) for e in update.errors] or None,
        # It carried billing notes (kept on the message: see merge).
        "billed": True if update.conversation or update.pricing else None,
    }
    return name, {k: v for k, v in receipt.items() if v is not None}


def merge(message: Message, update: StatusUpdate, received_at: float) -> dict[str, Any] | None:
    """The changes that record `update` on `message`; None when there is nothing new."""
    found = receipt_of(update, received_at)
    if found is None:
        return None
    name, receipt = found
    if name in message.receipts:
        return None
    if name == "sent" and message.status in CONFIRMED and "errors" not in receipt:
        # Our own record of the send says it already (the drain's, from Meta's answer): Meta's
        # `sent` would only repeat it, and its write costs a unit a message.
        return None
    receipts = {**message.receipts, name: receipt}
    changes = derive(message, receipts, update.id)
    # Billing notes from the highest status that carried them, whatever the order of arrival.
    billed = [r for r, kept in message.receipts.items() if kept.get("billed")]
    if receipt.get("billed") and all(_before(r, name) for r in billed):
        changes |= {"conversation": update.conversation, "pricing": update.pricing}
    return changes


def _before(one: str, other: str) -> bool:
    return (RANK[one], one) < (RANK[other], other)


def derive(message: Message, receipts: dict[str, Any], wamid: str) -> dict[str, Any]:
    def at(name: str) -> float | None:
        return float(receipts[name]["at"]) if name in receipts else None

    status = _status(receipts)
    failed = receipts.get("failed")
    changes: dict[str, Any] = {
        "receipts": receipts,
        "status": status,
        "provider_message_id": message.provider_message_id or wamid,
        "sent_at": message.sent_at or at("sent"),
        "delivered_at": at("delivered") or at("read"),
        "read_at": at("read"),
        "failed_at": at("failed") if status is Status.FAILED else message.failed_at,
    }
    if status is Status.FAILED and failed is not None:
        changes["error"] = _error(failed)
    return changes


def timeline(message: Message) -> list[Event]:
    """The message's timeline as a reader sees it: our events, then one per receipt."""
    return _timeline(message.events, message.receipts, message.provider_message_id or "")


def _status(receipts: dict[str, Any]) -> Status:
    for name, status in (
        ("read", Status.READ),
        ("failed", Status.FAILED),
        ("delivered", Status.DELIVERED),
    ):
        if name in receipts:
            return status
    return Status.SENT


def _timeline(events: list[Event], receipts: dict[str, Any], wamid: str) -> list[Event]:
    # Items written before the receipts' events were made on reading still hold them.
    ours = [e for e in events if e.detail.get("source") != WEBHOOK]
    theirs = [
        Event(
            at=iso(float(receipt["at"])),
            phase=PHASES[name],
            detail={"source": WEBHOOK, "wamid": wamid}
            | ({"errors": receipt["errors"]} if "errors" in receipt else {}),
        )
        for name, receipt in sorted(receipts.items(), key=_by_time)
    ]
    return ours + theirs


def _by_time(item: tuple[str, dict[str, Any]]) -> tuple[float, int, str]:
    name, receipt = item
    return float(receipt["at"]), RANK[name], name


def _error(failed: dict[str, Any]) -> MessageError:
    first = (failed.get("errors") or [{}])[0]
    code = first.get("code")
    details = (first.get("error_data") or {}).get("details")
    return MessageError(
        code=str(code) if code is not None else "failed",
        title=first.get("title") or "Failed",
        message=first.get("message") or first.get("title") or "Meta reported the message failed.",
        retryable=False,
        details=details,
    )
