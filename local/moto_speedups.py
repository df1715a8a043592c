"""moto, made to keep pace with a deep queue (the soak's, the bench's): changes speed, not behaviour.

moto 5.2's ReceiveMessage checks each message it returns against the queue's retention period
by building every attribute of the queue, counts of its messages included: each receive
walks the whole queue ten times. With thousands of webhooks waiting, the local processor fell
to a few a second. This reads the one attribute instead.
"""

from typing import Any

from moto.core.utils import unix_time
from moto.sqs.models import SQSBackend


def _retained(self: SQSBackend, queue_name: str, message: Any) -> bool:
    retention = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
    retained: bool = retention + message.sent_timestamp / 1000 > unix_time()
    return retained


def apply() -> None:
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
