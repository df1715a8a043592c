"""An inbound message's place in its conversation: which conversation, the outbound message it
answers, and the conversation's newest activity and unread count."""

from typing import Any

from postino.conversations.threads import preview, thread
from postino.services import Services
from postino.store.conversations import ConversationStore, inbound_partition, time_key
from postino.store.inbox import inbound_key
from postino.webhooks.payload import InboundMessage

# Inbound types Meta documents; anything else is stored as "unsupported".
KNOWN_TYPES = frozenset(
    {
        "text", "image", "audio", "video", "document", "sticker", "location", "contacts",
        "button", "interactive", "reaction", "order", "system", "request_welcome", "unsupported",
    }
)  # fmt: skip


def conversation_contact(message: InboundMessage, chat: str | None) -> str:
    """A group's messages make one conversation with the group; others, with their author."""
    return chat if chat and chat.endswith("@g.us") else message.from_


def filed(
    services: Services, sender: str, contact: str, message: InboundMessage, record: dict[str, Any]
) -> dict[str, Any]:
    """The inbound record with its conversation's index keys and `replied_to`, the answer
    applied on our message (once, however often this runs)."""
    keys = {
        "contact": contact,
        "list_pk": inbound_partition(sender, contact),
        "created_key": time_key(float(record["timestamp"]), message.id),
    }
    replied_to = thread(services, message, record)
    return record | keys | ({"replied_to": replied_to} if replied_to else {})


def touch_conversation(
    services: Services, sender: str, record: dict[str, Any], *, new: bool
) -> None:
    at = float(record["timestamp"])
    ConversationStore(services.inbox.table).touch(
        sender,
        record["contact"],
        at=at,
        last_message={
            "direction": record.get("direction", "in"),
            "type": record.get("type", "unsupported"),
            "preview": preview(record),
            "at": at,
            "id": record["wamid"],
        },
        # A group's name is not its author's.
        name=None if str(record["contact"]).endswith("@g.us") else record.get("profile_name"),
        new=new and record.get("direction", "in") == "in",
    )


def inbound_record(
    sender: str, message: InboundMessage, profile_name: str | None, at: float, now: float
) -> dict[str, Any]:
    kind = message.type if message.type in KNOWN_TYPES else "unsupported"
    part = message.part(message.type)
    interactive = message.part("interactive")
    reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
    button = message.part("button")
    record = {
        "kind": "inbound",
        "wamid": message.id,
        "sender": sender,
        "from": message.from_,
        "profile_name": profile_name,
        "type": kind,
        "original_type": message.type if kind != message.type else None,
        "text": message.part("text").get("body") or part.get("caption"),
        "media_id": part.get("id")
        if kind in ("image", "audio", "video", "document", "sticker")
        else None,
        "mime_type": part.get("mime_type"),
        # WAHA's file on its own disk (fetched and kept by postino/media/).
        "media_url": part.get("url") if kind in ("image", "audio", "video", "document") else None,
        "reply_id": reply.get("id") or button.get("payload"),
        "reply_title": reply.get("title") or button.get("text"),
        "emoji": message.part("reaction").get("emoji"),
        "context": message.context,
        "timestamp": at,
        "received_at": now,
    }
    return {k: v for k, v in record.items() if v is not None}


def record_typed_on_phone(
    services: Services, sender: str, message: InboundMessage, contact: str, now: float
) -> str:
    """A message the owner typed on a WAHA phone, stored in its conversation as outbound with
    origin "phone" (never queued: it has gone already). Once per message id."""
    at = float(message.timestamp) if message.timestamp.isdigit() else now
    record = inbound_record(sender, message, None, at, now) | {
        "direction": "out",
        "origin": "phone",
        "from": None,
    }
    record = filed(services, sender, contact, message, {k: v for k, v in record.items() if v})
    created = services.inbox.put_new(inbound_key(message.id), record, now=now)
    touch_conversation(services, sender, record, new=False)
    return "stored" if created else "duplicate"
