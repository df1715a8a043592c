"""Message ids: time-ordered, so that sorting ids sorts messages by creation."""

import re
import secrets

_MESSAGE_ID = re.compile(r"[0-9a-f]{32}")


def new_message_id(now: float) -> str:
    # 12 hex digits of milliseconds (good until the year 10889) + 80 random bits.
    return f"{int(now * 1000):012x}{secrets.token_hex(10)}"


def is_message_id(candidate: str) -> bool:
    return _MESSAGE_ID.fullmatch(candidate) is not None
