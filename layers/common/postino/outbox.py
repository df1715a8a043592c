"""The outbound SQS queue. It carries references to messages, never their content.

Ordering rule for every (re)queue: put on SQS first, then write the message's new state.
If the write fails, the SQS copy finds a message that never reached its `seq` and is
dropped as an orphan; if the put fails, nothing changed and the caller reports the error.
So a message is never marked queued without an SQS message to carry it.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from postino import aws

MAX_DELAY_SECONDS = 900  # SQS's longest delivery delay.


def recipient_hash(to: str) -> str:
    """The rate window keys pairs by this, so the window table holds no phone numbers."""
    return hashlib.sha256(to.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class QueuedRef:
    id: str
    seq: int
    # The attempt this copy makes (the message's attempts so far + 1).
    attempt: int
    sender: str
    pair: str
    # When this copy becomes visible: a copy whose message has not reached `seq` some time
    # after this is an orphan (its state write failed).
    visible_at: float
    # Sent without consulting the rate window (POST /v1/messages/{id}/force).
    forced: bool = False
    # A copy put back to wait for the rate window: its rate_limited event is already written.
    waiting: bool = False


@dataclass(frozen=True)
class Delivery:
    ref: QueuedRef | None
    sqs_message_id: str
    receipt: str
    receive_count: int


class Outbox:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def put(self, ref: QueuedRef, delay_seconds: float = 0) -> None:
        aws.sqs().send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(asdict(ref)),
            DelaySeconds=max(0, min(MAX_DELAY_SECONDS, round(delay_seconds))),
        )

    def receive(
        self, *, max_messages: int = 10, wait_seconds: int = 1, hidden_for: int | None = None
    ) -> list[Delivery]:
        """Up to max_messages copies, each hidden from other receivers for `hidden_for` seconds
        (the queue's visibility timeout if None)."""
        request: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if hidden_for is not None:
            request["VisibilityTimeout"] = hidden_for
        response = aws.sqs().receive_message(**request)
        return [_delivery(m) for m in response.get("Messages", [])]

    def ack(self, receipts: list[str]) -> None:
        """Delete handled messages, ten to a request."""
        for start in range(0, len(receipts), 10):
            chunk = receipts[start : start + 10]
            aws.sqs().delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)],
            )

    def retry_later(self, receipt: str, seconds: int) -> None:
        """Let SQS deliver it again later. This spends one of its receives (its redrive budget)."""
        aws.sqs().change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds
        )


def _delivery(message: Any) -> Delivery:
    try:
        ref: QueuedRef | None = QueuedRef(**json.loads(message["Body"]))
    except (ValueError, TypeError):
        ref = None
    return Delivery(
        ref=ref,
        sqs_message_id=message["MessageId"],
        receipt=message["ReceiptHandle"],
        receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
    )
