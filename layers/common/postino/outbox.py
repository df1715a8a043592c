"""The outbound SQS queues, one per sender. They carry references to messages, never their
content.

A queue per sender keeps senders apart: one sender's backlog, pause or slow peer never stands
between another sender and its drainer (issue 14). SQS charges by request, not by queue, so an
idle sender's queue costs nothing; the schedule asks each one for its backlog once a minute.

Ordering rule for every (re)queue: put on SQS first, then write the message's new state.
If the write fails, the SQS copy finds a message that never reached its `seq` and is
dropped as an orphan; if the put fails, nothing changed and the caller reports the error.
So a message is never marked queued without an SQS message to carry it.
"""

import hashlib
import json
import threading
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

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
            DelaySeconds=_delay(delay_seconds),
        )

    def put_many(self, copies: list[tuple[QueuedRef, float]]) -> set[str]:
        """Put copies (each with its delay), ten to a request; the ids of those SQS refused.

        A refused entry is said in the answer, not raised: the caller tells its item so."""
        refused: set[str] = set()
        for start in range(0, len(copies), 10):
            response = aws.sqs().send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(index),
                        "MessageBody": json.dumps(asdict(ref)),
                        "DelaySeconds": _delay(delay),
                    }
                    for index, (ref, delay) in enumerate(copies[start : start + 10], start)
                ],
            )
            refused |= {copies[int(f["Id"])][0].id for f in response.get("Failed", [])}
        return refused

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


# As the template's outbound queue was: longer than the drain's timeout (a copy comes back only
# after its drainer is gone), two weeks' retention, five receives before the dead-letter queue.
QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": "120",
    "MessageRetentionPeriod": "1209600",
    "SqsManagedSseEnabled": "true",
}
MAX_RECEIVES = 5


class SenderQueues:
    """Each sender's outbound queue, named `prefix + sender`, created with the first message
    queued for it (CreateQueue with the same attributes is idempotent). URLs are kept for the
    life of the process: a queue is never renamed."""

    def __init__(self, prefix: str, dead_letter_arn: str) -> None:
        self.prefix = prefix
        self.dead_letter_arn = dead_letter_arn
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def name(self, sender: str) -> str:
        return self.prefix + sender

    def for_sender(self, sender: str) -> Outbox:
        """The sender's queue, created if it does not exist yet (to put a message on). Looked up
        first: CreateQueue answers an error for a queue whose attributes an operator changed."""
        outbox = self.existing(sender)
        return outbox if outbox is not None else Outbox(self._create(sender))

    def existing(self, sender: str) -> Outbox | None:
        """The sender's queue if it exists (to drain): a sender never queued to has none."""
        url = self._known(sender)
        if url is None:
            try:
                url = aws.sqs().get_queue_url(QueueName=self.name(sender))["QueueUrl"]
            except ClientError as error:
                if _code(error) in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
                    return None
                raise
            self._remember(sender, url)
        return Outbox(url)

    def backlog(self, sender: str) -> int:
        """Copies waiting in the sender's queue, visible or delayed (0 if it has no queue)."""
        outbox = self.existing(sender)
        if outbox is None:
            return 0
        attributes = aws.sqs().get_queue_attributes(
            QueueUrl=outbox.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def _create(self, sender: str) -> str:
        redrive = {"deadLetterTargetArn": self.dead_letter_arn, "maxReceiveCount": MAX_RECEIVES}
        attributes: dict[Any, str] = {**QUEUE_ATTRIBUTES, "RedrivePolicy": json.dumps(redrive)}
        url: str = aws.sqs().create_queue(QueueName=self.name(sender), Attributes=attributes)[
            "QueueUrl"
        ]
        self._remember(sender, url)
        return url

    def _known(self, sender: str) -> str | None:
        with self._lock:
            return self._urls.get(sender)

    def _remember(self, sender: str, url: str) -> None:
        with self._lock:
            self._urls[sender] = url


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


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


def _delay(seconds: float) -> int:
    return max(0, min(MAX_DELAY_SECONDS, round(seconds)))
