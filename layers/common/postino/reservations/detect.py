"""Finding reservation codes wherever a customer's message can carry them."""

import re
from functools import cache

from postino.webhooks.payload import InboundMessage


@cache
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def texts_of(message: InboundMessage) -> list[str]:
    """Every text a person (or their button press) put in the message."""
    texts = [
        message.part("text").get("body"),
        message.part(message.type).get("caption"),
        message.part("button").get("text"),
        message.part("button").get("payload"),
    ]
    interactive = message.part("interactive")
    for kind in ("button_reply", "list_reply"):
        reply = interactive.get(kind) or {}
        texts += [reply.get("id"), reply.get("title"), reply.get("description")]
    return [t for t in texts if isinstance(t, str) and t]


def find_codes(texts: list[str], pattern: str) -> list[str]:
    """The distinct codes, upper-cased, in the order they first appear."""
    found: list[str] = []
    for text in texts:
        for match in compiled(pattern).finditer(text):
            code = match.group(0).upper()
            if code not in found:
                found.append(code)
    return found
