"""SQS batches with partial failures (ReportBatchItemFailures): each record is handled alone,
and the failed ones are reported by id, so SQS gives back only those.

Powertools' BatchProcessor does this. Importing it loads asyncio and the data classes of every
event source Powertools knows: 120 to 180 ms of CPU on each cold start of the processor and the
media function (bench/cold_start.py), a third of boto3's own import, for the loop below.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from postino.observability import logger


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


@dataclass(frozen=True)
class SqsRecord:
    """What a handler reads of an SQS record."""

    message_id: str
    body: str
    receipt_handle: str
    receive_count: int  # this delivery's number, from 1
    sent_at: float = 0.0  # when it was queued (SentTimestamp), epoch seconds

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> "SqsRecord":
        attributes = record.get("attributes") or {}
        return cls(
            message_id=record["messageId"],
            body=record["body"],
            receipt_handle=record["receiptHandle"],
            receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
            sent_at=int(attributes.get("SentTimestamp", "0")) / 1000,
        )


class EveryRecordFailed(Exception):
    """No record of the batch could be handled: the invocation fails (the function's Errors
    alarm counts it) and SQS gives the whole batch back. It names the errors' types only: their
    messages may hold a phone number, and Lambda logs an unhandled error's message."""


def handle_batch(
    event: Mapping[str, Any],
    handle: Callable[[SqsRecord], None],
    *,
    raise_when_every_record_fails: bool = True,
) -> PartialBatchResponse:
    records = [SqsRecord.of(r) for r in event.get("Records", [])]
    failed: list[tuple[SqsRecord, Exception]] = []
    for record in records:
        try:
            handle(record)
        except Exception as error:  # a record's failure is its own, reported below
            failed.append((record, error))
            logger.warning(
                "record not handled; SQS will give it back",
                extra={
                    "sqs_message_id": record.message_id,
                    "receive_count": record.receive_count,
                    "error": type(error).__name__,  # not its message: it may hold a number
                },
            )
    if raise_when_every_record_fails and records and len(failed) == len(records):
        kinds = ", ".join(sorted({type(error).__name__ for _, error in failed}))
        raise EveryRecordFailed(f"All {len(records)} records of the batch failed: {kinds}")
    return {"batchItemFailures": [{"itemIdentifier": r.message_id} for r, _ in failed]}
