"""Threading an inbound message on the outbound one it answers.

Meta names the message a reply quotes, or whose button was pressed, in `context.id`, and the
message a reaction is for in `reaction.message_id`; WAHA's quoted message becomes `context.id`
too (postino/webhooks/waha_events.py). When that wamid is one of ours, the inbound message
gets `replied_to` and our message gets the answer (postino/store/answers.py).
"""

from typing import Any

from postino.clock import iso
from postino.messages.model import Phase, event
from postino.services import Services
from postino.store.answers import record_answer
from postino.webhooks.payload import InboundMessage

PREVIEW_CHARACTERS = 80


def preview(record: dict[str, Any]) -> str:
    """A short line for a list: the text or caption, else the kind in brackets."""
    text = str(record.get("reply_title") or record.get("text") or "")
    if record.get("type") == "reaction":
        text = str(record.get("emoji") or "")
    if not text:
        return f"[{record.get('type', 'message')}]"
    return text if len(text) <= PREVIEW_CHARACTERS else text[: PREVIEW_CHARACTERS - 1] + "…"


def answered_wamid(message: InboundMessage) -> str | None:
    """The wamid this inbound message answers or reacts to, if it names one."""
    if message.type == "reaction":
        return message.part("reaction").get("message_id")
    return (message.context or {}).get("id")


def thread(services: Services, message: InboundMessage, record: dict[str, Any]) -> str | None:
    """Our id of the message this one answers (None: not ours, or not an answer), with the
    answer applied on it. Safe to repeat: the answer's id is applied once."""
    wamid = answered_wamid(message)
    our_id = services.messages.find_by_wamid(wamid) if wamid else None
    if our_id is None:
        return None
    now = services.clock.now()
    at = float(record.get("timestamp") or now)
    answer: dict[str, Any]
    if message.type == "reaction":
        emoji = message.part("reaction").get("emoji") or ""
        answer = {
            "event": event(Phase.REACTED, now, emoji=emoji, reaction_id=message.id),
            "reaction": {"from": message.from_, "emoji": emoji, "at": at, "id": message.id},
        }
    else:
        button = (
            {"id": record["reply_id"], "title": record.get("reply_title")}
            if record.get("reply_id")
            else None
        )
        shown = preview(record)
        answer = {
            "event": event(Phase.REPLIED, now, reply_id=message.id, preview=shown, button=button),
            "reply": {"id": message.id, "preview": shown, "at": iso(at), "button": button},
        }
    record_answer(services.messages.table, our_id, message.id, now=now, at=at, **answer)
    return our_id
