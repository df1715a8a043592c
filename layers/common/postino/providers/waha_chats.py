"""WAHA's chats and groups, whatever the engine, as the few fields Postino shows.

WAHA's description leaves both answers engine-specific: WEBJS lists whatsapp-web.js chats
(ids as {_serialized}, groups with a groupMetadata), NOWEB answers groups as an object keyed by
id (Baileys' metadata: subject, participants) and chats with a conversationTimestamp, GOWS
lists whatsmeow's groups (JID, Name, Participants).
"""

from typing import Any

from pydantic import Field

from postino.clock import iso
from postino.model import Model

# Seconds or milliseconds since the epoch: WhatsApp's times are seconds, until 2286.
_MILLISECONDS_FROM = 10**11


class Chat(Model):
    id: str = Field(description="WhatsApp's chat id: <digits>@c.us, …@lid or a group's …@g.us")
    name: str | None = None
    last_message_at: str | None = Field(
        default=None, description="When the chat's last message was, as WAHA knows it"
    )


class Group(Model):
    id: str = Field(description="The group's id (…@g.us): a target's `to` for this sender")
    name: str | None = None
    participant_count: int = Field(description="How many members the group has")


def chats_of(answer: Any) -> list[Chat]:
    chats = []
    for found in _listed(answer):
        chat_id = _id(found.get("id"))
        if chat_id is None:
            continue
        at = _epoch(found.get("conversationTimestamp") or found.get("timestamp"))
        chats.append(
            Chat(
                id=chat_id,
                name=_text(found.get("name")),
                last_message_at=iso(at) if at is not None else None,
            )
        )
    return chats


def groups_of(answer: Any) -> list[Group]:
    groups = []
    for found in _listed(answer):
        metadata = found.get("groupMetadata")
        if not isinstance(metadata, dict):
            metadata = {}
        group_id = _id(found.get("id") or found.get("JID") or metadata.get("id"))
        if group_id is None:
            continue
        name = found.get("subject") or found.get("name") or found.get("Name")
        members = found.get("participants") or found.get("Participants")
        if members is None:
            members = metadata.get("participants")
        groups.append(
            Group(
                id=group_id,
                name=_text(name or metadata.get("subject")),
                participant_count=len(members) if isinstance(members, list) else 0,
            )
        )
    return sorted(groups, key=lambda g: ((g.name or "").casefold(), g.id))


def _listed(answer: Any) -> list[dict[str, Any]]:
    """A list as it is; an object keyed by id (NOWEB's groups) as its values."""
    items = list(answer.values()) if isinstance(answer, dict) else answer
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("_serialized")
    return value if isinstance(value, str) and value else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _epoch(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    return number / 1000 if number >= _MILLISECONDS_FROM else number
