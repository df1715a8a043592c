"""An inbound message's place in its conversation: which conversation, the outbound message it
answers, and the conversation's newest activity and unread count."""

from typing import Any

from postino.conversations.threads import preview, thread
from postino.services import Services
from postino.store.conversations import ConversationStore, inbound_partition, time_key
from postino.webhooks.payload import InboundMessage


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
