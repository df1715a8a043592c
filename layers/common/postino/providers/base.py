"""What every provider does, and the outcomes a send can have."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from postino.messages.model import Message, Phase
from postino.senders.model import Sender


@dataclass(frozen=True)
class Accepted:
    provider_message_id: str
    message_status: str


@dataclass(frozen=True)
class Rejected:
    """The peer answered with an error: its code decides what happens next."""

    code: int | None
    title: str
    message: str
    http_status: int
    details: str | None = None


@dataclass(frozen=True)
class NotSent:
    """The request never left us (connection refused, DNS, pool timeout): safe to retry."""

    reason: str


@dataclass(frozen=True)
class OutcomeUnknown:
    """The request may have reached the peer but no answer came: resending may duplicate."""

    reason: str


@dataclass(frozen=True)
class SenderUnavailable:
    """The sender cannot send at all now (a WAHA session not WORKING, a refused API key).

    Not the message's fault: the sender pauses and the message waits, without spending an attempt.
    """

    code: str
    reason: str


SendResult = Accepted | Rejected | NotSent | OutcomeUnknown | SenderUnavailable

# A provider reports the steps of a send (WAHA's human-like phases) for the message's timeline.
Progress = Callable[[Phase, dict[str, Any]], None]

# Called the moment before a request's first byte is written; raises SlotMissed to keep it back.
OnWire = Callable[[], None]


class SlotMissed(Exception):
    """Raised by an OnWire check: the request was about to leave after its slot, and was not
    sent (not a byte written). The send takes another slot."""


def no_progress(phase: Phase, detail: dict[str, Any]) -> None:
    """For sends nobody watches step by step."""


class Provider(Protocol):
    def warm(self, sender: Sender) -> SenderUnavailable | None:
        """Fetch what a send needs (credentials) before its slot, so the send leaves on time.

        Returns why the sender cannot send now (checked before any message is claimed), if so.
        """

    def send(self, sender: Sender, message: Message, progress: Progress) -> SendResult: ...

    def mark_read(self, sender: Sender, wamid: str, chat: str) -> bool:
        """Tell the customer their message was read (blue ticks); False if it did not go."""
        ...
