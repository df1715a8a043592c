"""WAHA's webhook events, translated into what the Meta path already handles.

- `message` (or `message.any`): an inbound message, stored and scanned for reservation codes like
  Meta's; a group message is the participant's, and an `@lid` sender becomes a phone number when
  WAHA gives one. A message quoting ours is threaded on it (replyTo). In `message.any`, a
  message the owner typed on the phone itself lands in its conversation (origin "phone"); our
  own sends (source "api") are skipped there, never stored twice.
- `message.ack`: a status (-1 failed, 1 sent, 2 delivered, 3 read, 4 played → read), merged
  order-independently like Meta's statuses.
- `session.status`: kept on the sender; WORKING resumes a sender paused for its session,
  SCAN_QR_CODE, FAILED and STOPPED pause it.

WAHA retries a webhook up to 15 times and can deliver out of order: each event is processed
once per envelope id, and a session status older than the one we keep changes nothing.
"""

from typing import Any

from pydantic import ConfigDict, Field

from postino.model import Model
from postino.observability import logger
from postino.providers.waha_terms import SESSION_PAUSE, WORKING, key_of, session_not_working
from postino.senders.model import WahaSender
from postino.services import Services
from postino.webhooks.payload import Contact, InboundMessage, Profile, StatusUpdate, WebhookError

# message.ack's numbers as Meta's status names (0, pending, is not a status Meta reports).
ACK_STATUS = {-1: "failed", 1: "sent", 2: "delivered", 3: "read", 4: "played"}
# An ack for a send the drain has not recorded yet is retried while it is this young; older,
# it is an orphan (a message typed on the phone itself has acks too, and no record here).
ACK_PATIENCE_SECONDS = 180.0
PAUSING_STATUSES = frozenset({"SCAN_QR_CODE", "FAILED", "STOPPED"})
MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio", "ptt": "audio"}


def event_key(event_id: str) -> str:
    return f"waha_event#{event_id}"


class WahaEvent(Model):
    model_config = ConfigDict(extra="allow")

    id: str
    event: str
    session: str
    timestamp: float | None = None
    engine: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    me: dict[str, Any] | None = None

    def at(self, default: float) -> float:
        """The event's time in seconds (WAHA's timestamp is in milliseconds)."""
        return self.timestamp / 1000 if self.timestamp else default


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def phone_of(jid: str | None) -> str | None:
    """Digits of `<digits>@c.us` or `<digits>@s.whatsapp.net`; None for a lid or a group."""
    if not jid:
        return None
    user, _, server = jid.partition("@")
    user = user.split(":", 1)[0]
    return user if server in ("c.us", "s.whatsapp.net") and user.isdigit() else None


def author(payload: dict[str, Any]) -> tuple[str, str | None]:
    """Who wrote: a phone number when WAHA tells one, else the id it gave; and the group, if any."""
    source = str(payload.get("from") or "")
    group = source if source.endswith("@g.us") else None
    jid = str(payload.get("participant") or "") if group else source
    data = _object(payload.get("_data"))
    key = _object(data.get("key"))
    info = _object(data.get("Info"))
    # Engines name a lid sender's phone number differently (NOWEB key.*Alt, GOWS Info.SenderAlt).
    candidates = [jid, key.get("participantAlt" if group else "remoteJidAlt"), key.get("senderPn")]
    candidates.append(info.get("SenderAlt"))
    phone = next((p for p in map(phone_of, candidates) if p), None)
    return phone or jid, group


def is_typed_on_the_phone(payload: dict[str, Any]) -> bool:
    """The phone's owner wrote it on the phone (`message.any`, fromMe, source "app"); a send
    through the API says "api", and is already ours."""
    source = str(payload.get("to") or "")
    return (
        bool(payload.get("fromMe"))
        and payload.get("source") == "app"
        and (not source.endswith(("@broadcast", "@newsletter")))
    )


def is_from_a_person(payload: dict[str, Any]) -> bool:
    """Not our own message, not a status story (status@broadcast), not a channel post."""
    source = str(payload.get("from") or "")
    return not payload.get("fromMe") and not source.endswith(("@broadcast", "@newsletter"))


def inbound_message(event: WahaEvent) -> tuple[InboundMessage, Contact, str | None]:
    """A WAHA message as the Meta path's InboundMessage, with its contact and its group."""
    payload = event.payload
    sender, group = author(payload)
    data = _object(payload.get("_data"))
    kind = "text"
    fields: dict[str, Any] = {"text": {"body": str(payload.get("body") or "")}}
    media = _object(payload.get("media"))
    if payload.get("hasMedia"):
        mime = str(media.get("mimetype") or "")
        kind = next((t for prefix, t in MEDIA_TYPES.items() if mime.startswith(prefix)), "document")
        fields = {
            kind: {
                "caption": payload.get("body") or None,
                "mime_type": mime or None,
                "url": media.get("url") or None,
            }
        }
    message = InboundMessage.model_validate(
        {
            "id": str(payload.get("id") or event.id),
            "from": sender,
            "timestamp": str(int(float(payload.get("timestamp") or event.at(0)))),
            "type": kind,
            "context": _context(group, payload) or None,
            **fields,
        }
    )
    name = data.get("notifyName") or data.get("pushName") or payload.get("notifyName")
    contact = Contact(wa_id=sender, profile=Profile(name=str(name)) if name else None)
    return message, contact, group


def _context(group: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    """Meta's `context` for a WAHA message: its group, and the key of the message it quotes
    (WAHA's replyTo; our sends are known by that key: see providers/waha.py message_key)."""
    quoted = _object(payload.get("replyTo")).get("id")
    return {
        **({"group": group} if group else {}),
        **({"id": key_of(str(quoted))} if quoted else {}),
    }


def reaction_message(event: WahaEvent) -> tuple[InboundMessage, Contact, str | None]:
    """A `message.reaction` as Meta's reaction message: the emoji ("" takes it back) and the
    key of the message it is for."""
    message, contact, group = inbound_message(event)
    reaction = _object(event.payload.get("reaction"))
    target = str(reaction.get("messageId") or "")
    as_meta = message.model_dump(by_alias=True) | {
        "type": "reaction",
        "reaction": {"message_id": key_of(target), "emoji": str(reaction.get("text") or "")},
        "text": None,
    }
    return InboundMessage.model_validate(as_meta), contact, group


def typed_message(event: WahaEvent) -> tuple[InboundMessage, str]:
    """A message typed on the phone, as an InboundMessage, and the chat it went to."""
    payload = event.payload
    chat = str(payload.get("to") or "")
    contact = phone_of(chat) or chat
    message, _, _ = inbound_message(event)
    return message.model_copy(update={"from_": contact}), contact


def ack_update(event: WahaEvent, received_at: float) -> StatusUpdate | None:
    payload = event.payload
    try:
        ack = int(payload.get("ack"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    status = ACK_STATUS.get(ack)
    if status is None or not payload.get("id"):
        return None
    errors = []
    if ack == -1:
        errors.append(
            WebhookError(
                code=None,
                title="WhatsApp did not take the message",
                message=f"WAHA reported ack -1 ({payload.get('ackName') or 'ERROR'}).",
            )
        )
    return StatusUpdate(
        id=key_of(str(payload["id"])),
        status=status,
        # WAHA's envelope time has milliseconds: kept, so the timeline orders sent and read.
        timestamp=f"{event.at(received_at):.3f}",
        recipient_id=phone_of(str(payload.get("to") or "")) or None,
        errors=errors,
    )


def apply_session_status(services: Services, sender: WahaSender, event: WahaEvent) -> str:
    """Keep the newest status on the sender; pause or resume it as the session goes."""
    now = services.clock.now()
    status = str(event.payload.get("status") or "")
    if not status:
        return "ignored"
    if not services.senders.set_session_status(sender.name, status, now, at=event.at(now)):
        return "stale"
    # Its pause as it is now, not as a cached copy had it: the drain may have paused it since.
    current = services.senders.get(sender.name)
    if not isinstance(current, WahaSender):
        return "ignored"
    sender = current
    if status == WORKING and sender.paused and sender.paused_code == SESSION_PAUSE:
        # Imported here, where a session comes back: it brings the send path, no cost to the
        # processor's every other notification.
        from postino.senders.profiles import resume_sender

        _, moved = resume_sender(services, sender.name)
        logger.info(
            "sender resumed: session working", extra={"sender": sender.name, "moved": moved}
        )
        return "resumed"
    # A pause for another reason (a refused key, a user's) is not the session's to take over.
    if status in PAUSING_STATUSES and (not sender.paused or sender.paused_code == SESSION_PAUSE):
        reason = session_not_working(sender, status).reason
        services.senders.set_pause(
            sender.name, paused=True, reason=reason, until=None, now=now, code=SESSION_PAUSE
        )
        return "paused"
    return "kept"
