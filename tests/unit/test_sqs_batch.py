"""The processor's and the media function's SQS batches: failed records reported by id."""

from typing import Any

import pytest

from postino.sqs_batch import EveryRecordFailed, SqsRecord, handle_batch


def sqs_event(*bodies: str, receives: str = "1") -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"id-{n}",
                "receiptHandle": f"handle-{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": receives, "SentTimestamp": "0"},
                "eventSource": "aws:sqs",
            }
            for n, body in enumerate(bodies)
        ]
    }


def fail_on(bad: str) -> Any:
    def handle(record: SqsRecord) -> None:
        if record.body == bad:
            raise ValueError(f"cannot read {record.body} for 393331234567")

    return handle


def test_only_the_failed_records_are_reported() -> None:
    result = handle_batch(sqs_event("a", "bad", "c"), fail_on("bad"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "id-1"}]}


def test_a_batch_that_went_through_reports_nothing() -> None:
    assert handle_batch(sqs_event("a", "b"), fail_on("bad")) == {"batchItemFailures": []}


def test_a_batch_whose_every_record_failed_raises_naming_only_the_error_types() -> None:
    with pytest.raises(EveryRecordFailed) as failed:
        handle_batch(sqs_event("bad", "bad"), fail_on("bad"))
    assert str(failed.value) == "All 2 records of the batch failed: ValueError"


def test_a_batch_whose_every_record_failed_may_report_each_instead() -> None:
    result = handle_batch(
        sqs_event("bad", "bad"), fail_on("bad"), raise_when_every_record_fails=False
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "id-0"}, {"itemIdentifier": "id-1"}]}


def test_a_failure_is_logged_by_its_type_without_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handle_batch(sqs_event("a", "bad"), fail_on("bad"))
    (logged,) = caplog.records
    assert (logged.sqs_message_id, logged.error) == ("id-1", "ValueError")  # type: ignore[attr-defined]
    assert "393331234567" not in str(logged.__dict__)


def test_a_record_carries_its_delivery_number() -> None:
    seen: list[SqsRecord] = []
    handle_batch(sqs_event("a", receives="3"), seen.append)
    assert seen == [SqsRecord("id-0", "a", "handle-0", 3)]
