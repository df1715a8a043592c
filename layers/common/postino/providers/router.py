"""Each sender's messages go to its own provider: Meta's Cloud API or a WAHA server."""

from postino.messages.model import Message
from postino.providers.base import Progress, SenderUnavailable, SendResult
from postino.providers.cloud_api import CloudApiProvider
from postino.providers.waha import WahaProvider
from postino.senders.model import CloudApiSender, Sender


class ProviderRouter:
    def __init__(self, cloud_api: CloudApiProvider, waha: WahaProvider) -> None:
        self.cloud_api = cloud_api
        self.waha = waha

    def warm(self, sender: Sender) -> SenderUnavailable | None:
        if isinstance(sender, CloudApiSender):
            return self.cloud_api.warm(sender)
        return self.waha.warm(sender)

    def send(self, sender: Sender, message: Message, progress: Progress) -> SendResult:
        if isinstance(sender, CloudApiSender):
            return self.cloud_api.send(sender, message, progress)
        return self.waha.send(sender, message, progress)

    def mark_read(self, sender: Sender, wamid: str, chat: str) -> bool:
        if isinstance(sender, CloudApiSender):
            return self.cloud_api.mark_read(sender, wamid, chat)
        return self.waha.mark_read(sender, wamid, chat)
