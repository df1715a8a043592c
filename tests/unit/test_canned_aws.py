"""The drain CPU bench's canned AWS (bench/canned_aws.py): botocore reads its answers as AWS's,
and each message it hands out is the one its claim answers with."""

import json
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from bench.canned_aws import Answer, CannedAws, Recording
from postino import aws
from postino.messages.model import WAITING, Phase, Status, event
from postino.outbox import Outbox, recipient_hash
from postino.store.codec import to_item
from postino.store.messages import MessageStore

RECORDED_ID = "019a00000000aaaaaaaaaaaaaaaaaaaa"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/postino-OutboundQueue"


def _item(status: str) -> str:
    message = {
        "id": RECORDED_ID, "sender": "canned", "to": "393330000099", "type": "text",
        "content": '{"body":"Ciao"}', "status": status, "created_at": 1.0, "updated_at": 2.0,
        "valid_until": 9e9, "validity_seconds": 86400, "queue_seq": 1, "attempts": 1,
        "claimed_by": "recorded-sqs-id", "events": [{"at": "2026-01-01T00:00:00Z", "phase": "queued"}],
    }  # fmt: skip
    return json.dumps({"Attributes": to_item(message)})


def _recording() -> Recording:
    ref = {"id": RECORDED_ID, "seq": 1, "attempt": 1, "sender": "canned", "pair": "x",
           "visible_at": 1.0, "forced": False, "waiting": False}  # fmt: skip
    return Recording(
        answers={
            "dynamodb:UpdateItem:messages:sending": Answer(200, _item("sending")),
            "dynamodb:PutItem:rate_window": Answer(200, "{}"),
        },
        tables={"postino-MessagesTable": "messages", "postino-RateWindowTable": "rate_window"},
        queue_message={"MessageId": "m", "ReceiptHandle": "r" * 40, "MD5OfBody": "",
                       "Body": json.dumps(ref), "Attributes": {"ApproximateReceiveCount": "1"}},
    )  # fmt: skip


@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch) -> Iterator[CannedAws]:
    server = CannedAws(_recording()).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "canned")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canned")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset_clients()
    try:
        yield server
    finally:
        aws.reset_clients()
        server.stop()


def test_a_received_message_is_the_one_its_claim_answers_with(canned: CannedAws) -> None:
    # GIVEN two messages to hand out
    canned.supply(2)
    # WHEN the outbox receives them and claims the first, through real botocore
    deliveries = Outbox(QUEUE_URL).receive(wait_seconds=0)
    ref = deliveries[0].ref
    assert ref is not None
    now = 10.0
    claimed = MessageStore("postino-MessagesTable", 90).update(
        ref.id, statuses=WAITING, now=now, equals={"queue_seq": ref.seq},
        changes={"status": Status.SENDING, "claimed_by": deliveries[0].sqs_message_id},
        events=[event(Phase.SENDING, now, attempt=1)],
    )  # fmt: skip
    # THEN each is a fresh message to its own recipient, and the claim's item is that message
    assert len(deliveries) == 2
    assert len({d.ref.id for d in deliveries if d.ref}) == 2
    assert len({d.ref.pair for d in deliveries if d.ref}) == 2
    assert (claimed.id, claimed.status) == (ref.id, Status.SENDING)
    assert claimed.claimed_by == deliveries[0].sqs_message_id
    assert recipient_hash(claimed.to) == ref.pair
    # AND once they are handed out, the queue answers empty
    assert Outbox(QUEUE_URL).receive(wait_seconds=0) == []


def test_a_requeue_is_answered_with_its_status_and_an_unrecorded_call_is_refused(
    canned: CannedAws,
) -> None:
    messages = MessageStore("postino-MessagesTable", 90)
    requeued = messages.update(
        RECORDED_ID, statuses=(Status.SENDING,), now=1.0, changes={"status": Status.QUEUED}
    )
    assert requeued.status is Status.QUEUED
    with pytest.raises(ClientError, match="nothing recorded for dynamodb:GetItem:messages"):
        messages.get(RECORDED_ID)
    assert canned.counts()["unrecorded dynamodb:GetItem:messages"] == 1
