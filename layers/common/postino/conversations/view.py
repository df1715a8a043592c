"""Reading conversations: the list, one conversation's messages in both directions, and
marking one read (with Meta's read receipt for a Cloud API sender)."""

from typing import Any, Literal

from pydantic import Field

from postino.clock import iso
from postino.conversations.threads import preview
from postino.errors import PostinoError
from postino.media.shown import media_content
from postino.messages.model import Message, MessageError, Status, current_reactions
from postino.model import Model
from postino.senders.model import CloudApiSender, Sender
from postino.services import Services
from postino.store.conversations import (
    ConversationStore,
    conversations_partition,
    decode_cursor,
    encode_cursor,
    inbound_partition,
    key_time,
    recipient_ids,
    time_key,
)

# Meta's customer service window: free-form messages up to 24 h after the person last wrote.
SERVICE_WINDOW_SECONDS = 24 * 3600


class LastMessage(Model):
    direction: Literal["in", "out"]
    type: str
    preview: str
    at: str


class Conversation(Model):
    sender: str
    contact: str = Field(description="E.164 digits, or a WAHA chat id (a group: …@g.us)")
    name: str | None = Field(description="The contact's profile name")
    last_message: LastMessage | None
    last_inbound_at: str | None
    window_open_until: str | None = Field(
        description="24 h after the last inbound message (Cloud API senders): free text until then"
    )
    unread: int = Field(description="Inbound messages since the conversation was last read")


class ConversationPage(Model):
    items: list[Conversation]
    next_cursor: str | None


class ConversationMessage(Model):
    id: str = Field(description="Our id (outbound) or WhatsApp's (inbound)")
    direction: Literal["in", "out"]
    type: str
    at: str
    origin: Literal["api", "phone", "system", "contact"] = Field(
        description="out: api, system (an operator's notification) or phone (typed on a WAHA "
        "phone); in: contact"
    )
    content: dict[str, Any]
    status: Status | None = None
    error: MessageError | None = None
    replied_to: str | None = Field(default=None, description="The outbound message it answers")
    reply: dict[str, Any] | None = None
    reactions: dict[str, str] = Field(default_factory=dict)
    name: str | None = Field(default=None, description="Inbound: the author's profile name")


class ConversationMessagePage(Model):
    items: list[ConversationMessage]
    next_cursor: str | None


def _store(services: Services) -> ConversationStore:
    return ConversationStore(services.inbox.table)


def _sender(services: Services, name: str) -> Sender:
    sender = services.senders.get(name)
    if sender is None:
        raise PostinoError("not_found", f"There is no sender named '{name}'.", 404)
    return sender


def list_conversations(
    services: Services, sender: str | None, limit: int, cursor: str | None
) -> ConversationPage:
    before = decode_cursor("conversations", cursor)
    senders = [_sender(services, sender)] if sender else services.senders.all()
    by_name = {s.name: s for s in senders}
    items, more = _store(services).newest(
        [conversations_partition(name) for name in by_name], limit, before
    )
    conversations = [_conversation(services, by_name.get(item["sender"]), item) for item in items]
    next_cursor = encode_cursor("conversations", items[-1]["created_key"]) if more else None
    return ConversationPage(items=conversations, next_cursor=next_cursor)


def _conversation(services: Services, sender: Sender | None, item: dict[str, Any]) -> Conversation:
    last_inbound = item.get("last_inbound_at")
    last = item.get("last_message")
    outbound = _newest_outbound(services, item["sender"], item["contact"])
    if outbound is not None and (last is None or outbound.created_at > last["at"]):
        last = {
            "direction": "out",
            "type": outbound.type,
            "preview": _outbound_preview(outbound),
            "at": outbound.created_at,
        }
    window = (
        iso(last_inbound + SERVICE_WINDOW_SECONDS)
        if last_inbound is not None and isinstance(sender, CloudApiSender)
        else None
    )
    return Conversation(
        sender=item["sender"],
        contact=item["contact"],
        name=item.get("name"),
        last_message=LastMessage(**{**last, "at": iso(last["at"])}) if last else None,
        last_inbound_at=iso(last_inbound) if last_inbound is not None else None,
        window_open_until=window,
        unread=int(item.get("unread") or 0),
    )


def _newest_outbound(services: Services, sender: str, contact: str) -> Message | None:
    ids = recipient_ids(services.messages.table, contact, before=None, limit=5)
    return next((m for m in services.messages.get_many(ids) if m.sender == sender), None)


def _outbound_preview(message: Message) -> str:
    # The content is the type's own object: {"body": …} for a text, {"caption": …} for media.
    content = message.content
    return preview({"type": message.type, "text": content.get("body") or content.get("caption")})


def conversation_messages(
    services: Services, sender: str, contact: str, limit: int, cursor: str | None
) -> ConversationMessagePage:
    """Both directions, newest first. The cursor is the last item's time key; outbound ids
    start with their creation's milliseconds, so one key places both halves."""
    _sender(services, sender)
    before = decode_cursor("messages", cursor)
    store = _store(services)
    inbound, more_in = store.newest([inbound_partition(sender, contact)], limit, before)
    outbound, more_out = _outbound_page(services, sender, contact, limit, before)
    if before is None and not inbound and not outbound and store.get(sender, contact) is None:
        raise PostinoError(
            "not_found", f"Sender '{sender}' has no conversation with '{contact}'.", 404
        )
    keyed = [(str(item["created_key"]), _inbound(item)) for item in inbound]
    keyed += [(time_key(m.created_at, m.id), _outbound(m)) for m in outbound]
    keyed.sort(key=lambda pair: pair[0], reverse=True)
    page = keyed[:limit]
    more = more_in or more_out or len(keyed) > limit
    next_cursor = encode_cursor("messages", page[-1][0]) if more and page else None
    return ConversationMessagePage(items=[item for _, item in page], next_cursor=next_cursor)


def _outbound_page(
    services: Services, sender: str, contact: str, limit: int, before: str | None
) -> tuple[list[Message], bool]:
    """The sender's messages to the contact below the cursor's time (others' are skipped)."""
    before_id = f"{int(key_time(before) * 1000):012x}" if before else None
    found: list[Message] = []
    while len(found) < limit:
        ids = recipient_ids(services.messages.table, contact, before=before_id, limit=limit)
        found += [m for m in services.messages.get_many(ids) if m.sender == sender]
        if len(ids) < limit:
            return found, False
        before_id = ids[-1]
    return found[:limit], True


def _inbound(item: dict[str, Any]) -> ConversationMessage:
    content_fields = ("text", "media_id", "mime_type", "reply_id", "reply_title", "emoji")
    return ConversationMessage(
        id=item["wamid"],
        # A message typed on a WAHA phone is stored beside the inbound ones (its direction out)
        direction=item.get("direction", "in"),
        type=item.get("type", "unsupported"),
        at=iso(float(item.get("timestamp") or key_time(str(item["created_key"])))),
        origin=item.get("origin", "contact"),
        content={k: item[k] for k in content_fields if item.get(k) is not None}
        | media_content(item),
        replied_to=item.get("replied_to"),
        name=item.get("profile_name"),
    )


def _outbound(message: Message) -> ConversationMessage:
    accepted = message.events[0] if message.events else None
    system = (message.reference or "").startswith("reservation:") and (
        accepted is None or accepted.api_key_id is None
    )
    return ConversationMessage(
        id=message.id,
        direction="out",
        type=message.type,
        at=iso(message.created_at),
        origin="system" if system else "api",
        content=message.content,
        status=message.status,
        error=message.error,
        reply=message.reply,
        reactions=current_reactions(message.reactions),
    )


def mark_read(services: Services, sender_name: str, contact: str) -> Conversation:
    """unread → 0, and Meta's read receipt for the newest inbound message (Cloud API)."""
    sender = _sender(services, sender_name)
    item = _store(services).mark_read(sender_name, contact, services.clock.now())
    if item is None:
        raise PostinoError(
            "not_found", f"Sender '{sender_name}' has no conversation with '{contact}'.", 404
        )
    last = item.get("last_message") or {}
    if isinstance(sender, CloudApiSender) and last.get("id"):
        services.provider.mark_read(sender, str(last["id"]), contact)
    return _conversation(services, sender, item)
