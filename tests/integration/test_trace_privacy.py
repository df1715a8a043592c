"""X-Ray never holds a phone number or a message's text.

Tracing is switched on for real (the X-Ray SDK, sampling every request, an emitter that keeps
what it would send to the daemon), then the real handlers run a send, a drain, an inbound
webhook and a batch the processor cannot read; every segment and subsegment is scanned.
"""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_xray_sdk import global_sdk_config  # type: ignore[import-untyped]
from aws_xray_sdk.core import xray_recorder  # type: ignore[import-untyped]
from aws_xray_sdk.core.context import Context  # type: ignore[import-untyped]

from postino.observability import tracer
from postino.services import Services
from postino.sqs_batch import EveryRecordFailed
from tests.support.events import FakeLambdaContext, HttpResult
from tests.support.functions import load_function
from tests.support.webhooks import inbound, text_message

PHONE = "393331234567"
TEXT = "Il tavolo per due alle 20 è confermato, Giulia"
REPLY = "Grazie, a stasera! Porto una bottiglia"


class KeptEntities:
    """An X-Ray emitter that keeps each entity's JSON instead of sending it to the daemon."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_entity(self, entity: Any) -> None:
        self.sent.append(entity.serialize())

    def set_daemon_address(self, address: str | None) -> None:
        """No daemon to point at."""


@pytest.fixture
def traces() -> Iterator[KeptEntities]:
    kept = KeptEntities()
    saved = {
        "emitter": xray_recorder._emitter,
        "context": xray_recorder._context,
        "sampling": xray_recorder._sampling,
        "streaming_threshold": xray_recorder.streaming_threshold,
    }
    global_sdk_config.set_sdk_enabled(True)
    xray_recorder.configure(
        emitter=kept,
        context=Context(context_missing="IGNORE_ERROR"),  # the drain's threads trace nothing
        sampling=False,  # every request
        streaming_threshold=0,  # as in Lambda (Powertools): each subsegment as it ends
    )
    xray_recorder.begin_segment("postino-test")
    try:
        yield kept
    finally:
        xray_recorder.end_segment()
        xray_recorder.configure(**saved)
        global_sdk_config.set_sdk_enabled(False)


def unreadable_batch(body: dict[str, Any]) -> dict[str, Any]:
    """An SQS event of one record the processor cannot read."""
    return {
        "Records": [
            {
                "messageId": "7b1d6b1e-unreadable",
                "receiptHandle": "handle",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:postino-IngestQueue",
                "awsRegion": "us-east-1",
            }
        ]
    }


def test_a_full_run_leaves_no_phone_number_or_text_in_the_traces(
    traces: KeptEntities,
    services: Services,
    api: Callable[..., HttpResult],
    drain: Callable[..., dict[str, Any]],
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
) -> None:
    # GIVEN a send to a phone number, with a text
    body = {"to": "+39 333 123 4567", "type": "text", "text": {"body": TEXT}}
    assert api("POST", "/v1/messages", body).status == 202
    # AND the drain that sends it
    assert drain()["outcomes"]
    # AND the customer's reply, through the webhook and the processor
    assert webhook(inbound(text_message("wamid.REPLY1", REPLY, sender=PHONE))).status == 200
    assert process() == []
    # AND a record the processor cannot read (a number where Meta sends a string): the whole
    # batch fails, so the handler raises
    unreadable = inbound(text_message("wamid.BAD", REPLY, sender=PHONE))
    unreadable["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = int(PHONE)
    processor = load_function("webhook", "process")
    with pytest.raises(EveryRecordFailed) as failed:
        processor.lambda_handler(unreadable_batch(unreadable), FakeLambdaContext())
    # its message (which Lambda logs) names the error's type, not the record's content
    assert str(failed.value) == "All 1 records of the batch failed: ValidationError"
    # THEN the handlers were traced, and their failure too (its type and stack)
    recorded = "\n".join(traces.sent)
    assert recorded.count('"## lambda_handler"') >= 4
    assert "EveryRecordFailed" in recorded
    # AND no segment holds the number or either text, in any spelling
    for secret in (PHONE, "333 123 4567", TEXT, REPLY):
        assert secret not in recorded, secret
    assert json.dumps(TEXT)[1:-1] not in recorded  # as JSON escapes it (è → \u00e8)


def test_an_error_escaping_a_handler_is_traced_without_its_message(traces: KeptEntities) -> None:
    # GIVEN a traced handler whose error names a WAHA chat (a phone number in its id)
    @tracer.capture_lambda_handler(capture_response=False, capture_error=False)
    def handler(event: dict[str, Any], context: Any) -> None:
        raise LookupError(f"no chat true_{PHONE}@c.us_3EB0")

    # WHEN it escapes
    with pytest.raises(LookupError):
        handler({}, FakeLambdaContext())
    # THEN the trace has its type and not its message
    recorded = "\n".join(traces.sent)
    assert "LookupError" in recorded
    assert PHONE not in recorded
