"""Lambda's SQS event source: received messages as the records a function is handed."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def sqs_event(queue_arn: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What Lambda's SQS event source hands a function: the received messages as records."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get(
                        "ApproximateReceiveCount", "1"
                    ),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", "0"),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for m in messages
        ]
    }


@dataclass(frozen=True)
class Batch:
    """One batch handed to a function: how many records, and the ids it reported as failed."""

    records: int
    failed: frozenset[str]


class QueuePoller:
    """Lambda's SQS poller for one queue: receive a batch, hand it over, delete what is done.

    Like Lambda with ReportBatchItemFailures, the records the function reports as failed stay on
    the queue for SQS's redrive; if the function raises, the whole batch does.
    """

    def __init__(self, sqs: Any, queue_url: str, *, batch_size: int = 10) -> None:
        self.sqs = sqs
        self.url = queue_url
        self.batch_size = batch_size
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.arn: str = attributes["Attributes"]["QueueArn"]

    def poll(self, handler: Callable[[dict[str, Any]], Any], wait_seconds: int = 0) -> Batch | None:
        """One batch to `handler` (called with the SQS event); None when nothing was waiting."""
        messages = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return None
        result = handler(sqs_event(self.arn, [dict(m) for m in messages]))
        failed = frozenset(f["itemIdentifier"] for f in result.get("batchItemFailures", []))
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)
                ],
            )
        return Batch(records=len(messages), failed=failed)
