"""What every provider does, and the outcomes a send can have."""

from dataclasses import dataclass
from typing import Protocol

from postino.messages.model import Message
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


SendResult = Accepted | Rejected | NotSent | OutcomeUnknown


class Provider(Protocol):
    def warm(self, sender: Sender) -> None:
        """Fetch what a send needs (credentials) before its slot, so the send leaves on time."""

    def send(self, sender: Sender, message: Message) -> SendResult: ...

    def mark_read(self, sender: Sender, wamid: str) -> bool:
        """Tell the customer their message was read (blue ticks); False if it did not go."""
        ...
