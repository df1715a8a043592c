"""Meta's Cloud API in simulated time: every send accepted, and remembered for the bench."""

import itertools
import threading
from dataclasses import dataclass

from bench.virtual_aws.clock import PEER, VirtualAws
from postino.messages.model import Message
from postino.providers.base import Accepted, OnWire, Progress, SenderUnavailable, SendResult
from postino.providers.router import ProviderRouter
from postino.senders.model import Sender


@dataclass(frozen=True)
class PeerSend:
    at: float  # when the send's call began
    sender: str
    message_id: str


class VirtualCloudApi(ProviderRouter):
    """Meta's Cloud API for every sender: each send accepted, with a fresh wamid, after PEER."""

    def __init__(self, aws: VirtualAws) -> None:
        self.aws = aws
        self.sends: list[PeerSend] = []
        self._wamids = itertools.count(1)
        self._lock = threading.Lock()

    def warm(self, sender: Sender) -> SenderUnavailable | None:
        return None

    def send(
        self, sender: Sender, message: Message, progress: Progress, on_wire: OnWire | None = None
    ) -> SendResult:
        if on_wire is not None:
            on_wire()  # the call's start is its wire here
        with self._lock:
            self.sends.append(PeerSend(self.aws.clock.now(), sender.name, message.id))
            wamid = f"wamid.virtual{next(self._wamids)}"
        with self.aws.request("graph:POST messages", PEER):
            return Accepted(wamid, "accepted")
