"""What one message costs in AWS requests, counted where the requests are served (moto).

These are the bill: they are asserted exactly, so a change that adds a request per message
shows up here. Run with -s to see the table.

Everything runs on a FakeClock. On the real clock a send thread that wakes late for its slot (a
busy machine: past its start by half the grace) gives its entries back and reserves again, with
retries when threads race on a window: a cost that varies with the machine, not the message.
Simulated time moves only when every thread sleeps, so no thread wakes late and each count is
the same on any machine (test_drain.py covers what a late wakeup does).
"""

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from local.graph_api_peer import GraphApiPeer
from local.waha_peer import WahaPeer
from postino.clock import FakeClock
from postino.services import Services
from tests.support.events import HttpResult
from tests.support.waha import ack, envelope, waha_sender
from tests.support.webhooks import inbound, status, statuses, text_message

BATCH = 10


def operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    if target:
        service, _, action = target.partition(".")
        return f"{service.split('_')[0].lower().replace('amazonsqs', 'sqs')}:{action}"
    return f"{request.url.split('//')[1].split('.')[0]}:{request.method} {request.url.split('.com')[-1]}"


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services(FakeClock())


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    serve = BotocoreStubber.process_request

    def counting(self: BotocoreStubber, request: Any) -> Any:
        counts[operation(request)] += 1
        return serve(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", counting)
    return counts


def by_service(counts: Counter[str]) -> dict[str, int]:
    services: Counter[str] = Counter()
    for name, count in counts.items():
        services[name.split(":")[0]] += count
    return dict(services)


def billed(counts: Counter[str]) -> dict[str, int]:
    """Every request but SQS receives: the fixtures' simulated long poll makes several short
    polls of what on AWS is one long poll, so their count is the harness's, not the drain's."""
    return {name: count for name, count in counts.items() if name != "sqs:ReceiveMessage"}


def test_accepting_a_message_costs_three_dynamodb_and_one_sqs_request(
    api: Callable[..., HttpResult], services: Services, counted: Counter[str]
) -> None:
    message = {"to": "+393331234567", "type": "text", "text": {"body": "hi"}}
    # The first message a process queues for a sender finds its queue (and creates it, the
    # first time ever): once per process and sender.
    assert api("POST", "/v1/messages", message).status == 202
    assert counted["sqs:GetQueueUrl"] == 1 and counted["sqs:CreateQueue"] == 1
    counted.clear()
    services.nudger.targets.clear()  # type: ignore[attr-defined]
    assert api("POST", "/v1/messages", message).status == 202
    print("\naccept:", dict(counted))
    # The sender profile (GetItem), the message with its timeline (PutItem), the lease (GetItem),
    # the queue (SendMessage); the nudge is one Lambda Invoke more when no drainer is at work.
    assert dict(counted) == {
        "dynamodb:GetItem": 2,
        "dynamodb:PutItem": 1,
        "sqs:SendMessage": 1,
    }
    assert services.nudger.nudges == 1  # type: ignore[attr-defined]


def test_a_batch_of_100_costs_ten_sqs_requests_a_write_per_message_and_one_sender_read(
    api: Callable[..., HttpResult], services: Services, counted: Counter[str]
) -> None:
    # GIVEN a sender whose queue this process knows already
    one = {"to": "+393331234567", "type": "text", "text": {"body": "hi"}}
    assert api("POST", "/v1/messages", one).status == 202
    counted.clear()
    # WHEN 100 messages come in one batch, to two senders' worth of recipients
    items = [one | {"to": f"+3933310{n:05d}"} for n in range(100)]
    answer = api("POST", "/v1/messages/batch", {"messages": items})
    print("\nbatch of 100:", dict(counted))
    # THEN each is queued, ten copies to an SQS request, and stored with one write each; the
    # reads are the batch's (the sender once, the drain's lease for its nudge), none a message
    assert [r["status"] for r in answer.body["results"]] == ["queued"] * 100
    assert counted["sqs:SendMessageBatch"] == 10 and counted["sqs:SendMessage"] == 0
    assert counted["dynamodb:PutItem"] == 100 and counted["dynamodb:GetItem"] <= 3


def test_draining_costs_three_dynamodb_writes_per_message_and_a_little_per_batch(
    api: Callable[..., HttpResult],
    drain: Callable[..., dict[str, Any]],
    peer: GraphApiPeer,
    counted: Counter[str],
) -> None:
    for n in range(BATCH):
        api(
            "POST",
            "/v1/messages",
            {"to": f"+39333123{n:04d}", "type": "text", "text": {"body": "hi"}},
        )
    counted.clear()
    report = drain()
    assert report["sent"] == BATCH
    per_message = {name: count / BATCH for name, count in sorted(counted.items())}
    print(f"\ndrain of {BATCH}:", dict(counted), "\nper message:", per_message)
    # On simulated time every send thread is on time for its slot: no entry is given back.
    assert report["late_wakeups"] == 0 and report["missed_slot"] == 0
    # No PutEvents: under the default StatusEvents (failures) a message sent is no event
    # (EventBridge bills each one; tests/integration/test_events.py puts every status ten to a
    # request).
    assert billed(counted) == {
        # Per message: the claim and the result.
        "dynamodb:UpdateItem": 2 * BATCH,
        # Per message the pair window; per batch of up to ten the sender's window; per run the
        # lease.
        "dynamodb:PutItem": BATCH + 1 + 1,
        # Per batch of up to ten one batched delete of the copies.
        "sqs:DeleteMessageBatch": 1,
        # The schedule's tick: the senders (one Scan), the due index and, for the sweep of
        # messages parked by a pause that has ended, the parked partition of each sender not
        # paused (one Query each: here the one sender); each sender's backlog (one
        # GetQueueAttributes) and its drainer's lease (GetItem).
        "dynamodb:Scan": 1,
        "dynamodb:Query": 1 + 1,
        "sqs:GetQueueAttributes": 1,
        # Then the drainer it woke: its sender profile (the second GetItem), the token; its
        # lease given up before its last look at the queue and again as it stops.
        "dynamodb:GetItem": 1 + 1,
        "secretsmanager:GetSecretValue": 1,
        "dynamodb:DeleteItem": 2,
    }
    assert len(peer.sent_messages()) == BATCH


def test_a_status_webhook_is_one_read_and_one_write_at_the_route_and_nothing_queued(
    api: Callable[..., HttpResult],
    drain: Callable[..., dict[str, Any]],
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
    counted: Counter[str],
) -> None:
    message_id = api(
        "POST", "/v1/messages", {"to": "+393331234567", "type": "text", "text": {"body": "hi"}}
    ).body["id"]
    drain()
    wamid = api("GET", f"/v1/messages/{message_id}").body["provider_message_id"]
    webhook(statuses(status(wamid, "sent", 1795600000, callback=message_id)))  # warms the secret
    counted.clear()
    webhook(statuses(status(wamid, "delivered", 1795600001, callback=message_id)))
    route = dict(counted)
    counted.clear()
    process()
    print("\nstatus webhook, route:", route, "processor:", dict(counted))
    # The route settles it: the message by the echoed id (GetItem) and the conditional update
    # (no event under the default StatusEvents). No SQS request, and nothing for the processor.
    assert route == {"dynamodb:GetItem": 1, "dynamodb:UpdateItem": 1}
    assert not [name for name in counted if not name.startswith("sqs:ReceiveMessage")]


def test_an_inbound_message_costs_three_dynamodb_writes(
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
    counted: Counter[str],
) -> None:
    webhook(inbound(text_message("wamid.WARM", "warms the secret and the sender cache")))
    process()
    counted.clear()
    webhook(
        inbound(text_message("wamid.COUNTED", "Ciao, a question about my booking", at=1795600100))
    )
    counted.clear()
    process()
    print("\ninbound, processor:", dict(counted))
    # The inbound record (conditional PutItem), the contact and its conversation (UpdateItem
    # each); no code, no reply to thread (no context), no more.
    ours = {k: v for k, v in counted.items() if k.startswith("dynamodb:")}
    assert ours == {"dynamodb:PutItem": 1, "dynamodb:UpdateItem": 2}


def test_a_waha_send_adds_one_timeline_write_per_human_step(
    api: Callable[..., HttpResult],
    drain: Callable[..., dict[str, Any]],
    waha_peer: WahaPeer,
    counted: Counter[str],
) -> None:
    waha_peer.add_session("groom")
    quick = {"think_seconds": {"min": 0, "max": 0}, "typing_max_seconds": 0}
    api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom", human_like=quick))
    api("POST", "/v1/messages", {"to": "+393331234567", "sender": "groom", "type": "text",
                                 "text": {"body": "Ci sarai?"}})  # fmt: skip
    counted.clear()
    report = drain()
    assert report["sent"] == 1
    print("\nWAHA drain of one:", dict(counted))
    assert report["late_wakeups"] == 0 and report["missed_slot"] == 0
    assert billed(counted) == {
        # The claim, the result, and reading, waiting_human, typing, sending on the timeline.
        "dynamodb:UpdateItem": 2 + 4,
        # The lease, the sender's window and the recipient's pair window; the key, once.
        "dynamodb:PutItem": 3,
        "secretsmanager:GetSecretValue": 1,
        # The tick as above, for two senders (a parked partition each): the default sender's
        # queue looked for (there is none yet, so no backlog read) and the groom's backlog;
        # then the drainer's sender profile and its lease given up twice.
        "dynamodb:Scan": 1,
        "dynamodb:Query": 1 + 2,
        "sqs:GetQueueUrl": 1,
        "sqs:GetQueueAttributes": 1,
        "dynamodb:GetItem": 1 + 1,
        "dynamodb:DeleteItem": 2,
        "sqs:DeleteMessageBatch": 1,
    }


def test_a_waha_ack_costs_one_sqs_write_then_four_dynamodb_requests(
    api: Callable[..., HttpResult],
    drain: Callable[..., dict[str, Any]],
    waha_peer: WahaPeer,
    waha_webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
    counted: Counter[str],
) -> None:
    waha_peer.add_session("groom")
    api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom"))
    body = {"to": "+393331234567", "sender": "groom", "type": "text", "text": {"body": "Ciao"}}
    message_id = api("POST", "/v1/messages", body).body["id"]
    drain()
    key = api("GET", f"/v1/messages/{message_id}").body["provider_message_id"]
    waha_webhook(envelope("message.ack", ack(key, 1)))  # warms the secret and the senders
    process()
    counted.clear()
    waha_webhook(envelope("message.ack", ack(key, 2)))
    route = dict(counted)
    counted.clear()
    process()
    print("\nWAHA ack, route:", route, "processor:", dict(counted))
    assert route == {"sqs:SendMessage": 1}
    # Seen before? (GetItem); our id by WAHA's key (Query: WAHA echoes nothing of ours); the
    # message (GetItem); its conditional update; the envelope id marked seen (PutItem).
    ours = {k: v for k, v in counted.items() if k.startswith("dynamodb:")}
    assert ours == {
        "dynamodb:GetItem": 2,
        "dynamodb:Query": 1,
        "dynamodb:UpdateItem": 1,
        "dynamodb:PutItem": 1,
    }
