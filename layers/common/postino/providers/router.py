"""Each sender's messages go to its own provider: Meta's Cloud API or a WAHA server.

Each provider is built, and its module (with httpx under it) imported, when a sender of its
kind first needs it: a function that only records statuses or reads the store never loads them.
"""

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from postino.messages.model import Message
from postino.providers.base import OnWire, Progress, SenderUnavailable, SendResult
from postino.senders.model import CloudApiSender, Sender

if TYPE_CHECKING:
    from postino.providers.cloud_api import CloudApiProvider
    from postino.providers.waha import WahaProvider


class OnFirstUse[T]:
    """A value built the first time it is asked for. The drain's send threads may ask at
    once: it is built once."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._building = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._building:
                if self._value is None:
                    self._value = self._make()
        return self._value


class ProviderRouter:
    def __init__(
        self,
        cloud_api: "Callable[[], CloudApiProvider]",
        waha: "Callable[[], WahaProvider]",
    ) -> None:
        self._cloud_api = OnFirstUse(cloud_api)
        self._waha = OnFirstUse(waha)

    @property
    def cloud_api(self) -> "CloudApiProvider":
        return self._cloud_api.get()

    @property
    def waha(self) -> "WahaProvider":
        return self._waha.get()

    def warm(self, sender: Sender) -> SenderUnavailable | None:
        if isinstance(sender, CloudApiSender):
            return self.cloud_api.warm(sender)
        return self.waha.warm(sender)

    def send(
        self, sender: Sender, message: Message, progress: Progress, on_wire: OnWire | None = None
    ) -> SendResult:
        """`on_wire` keeps a Cloud API send from leaving after its slot (SlotMissed). A WAHA
        send's slot is the start of seconds of reading and typing, spaced by its gap: its steps'
        timing is its own, not a rate the peer counts to the millisecond."""
        if isinstance(sender, CloudApiSender):
            return self.cloud_api.send(sender, message, progress, on_wire)
        return self.waha.send(sender, message, progress)

    def mark_read(self, sender: Sender, wamid: str, chat: str) -> bool:
        if isinstance(sender, CloudApiSender):
            return self.cloud_api.mark_read(sender, wamid, chat)
        return self.waha.mark_read(sender, wamid, chat)
