"""What one message costs in AWS requests, counted where the requests are served (moto).

These are the bill: they are asserted as tightly as the drain's timing allows, so a change that
adds a request per message shows up here. Run with -s to see the table.
"""

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from local.graph_api_peer import GraphApiPeer
from local.waha_peer import WahaPeer
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
    # Per message: the pair window (PutItem), the claim and the result (two UpdateItems). A
    # claimed send that missed its slot every time (a starved machine) is put back (one more
    # UpdateItem) and claimed again (another).
    assert counted["dynamodb:UpdateItem"] == 2 * BATCH + 2 * report["missed_slot"]
    # Per message one pair-window write; per batch of up to ten one sender-window write, one
    # receive and one batched delete; per run the lease. A send thread that wakes late for its
    # slot (a busy machine) costs more: giving its entries back and reserving again, with
    # retries when threads race on the sender's window. Exact only when nobody was late.
    if report["late_wakeups"] == 0:
        assert counted["dynamodb:PutItem"] == BATCH + 2
    else:
        assert counted["dynamodb:PutItem"] > BATCH + 2
    assert counted["sqs:DeleteMessageBatch"] <= 2
    # Under the default StatusEvents (failures) a message sent is no event (EventBridge bills
    # each one; tests/integration/test_events.py puts every status ten to a request).
    assert counted["awsevents:PutEvents"] == 0
    # The schedule's tick: the senders (one Scan), the due index and, for the sweep of
    # messages parked by a pause that has ended, the parked partition of each sender not
    # paused (one Query each: here the one sender); each sender's backlog (one
    # GetQueueAttributes) and its drainer's lease (GetItem). Then the drainer it woke: lease,
    # sender profile, the token, idle receives.
    assert counted["dynamodb:Scan"] == 1 and counted["dynamodb:Query"] == 1 + 1
    assert counted["sqs:GetQueueAttributes"] == 1
    assert counted["secretsmanager:GetSecretValue"] == 1
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
    # The claim, the result, and reading, waiting_human, typing, sending on the timeline. A
    # send that missed its slot on a starved machine is put back (one UpdateItem) and claimed
    # again (another), as in the Cloud API's drain above.
    assert counted["dynamodb:UpdateItem"] == 2 + 4 + 2 * report["missed_slot"]
    # The lease, the sender's window and the recipient's pair window; the key, once. A send
    # thread late for its slot on a busy machine reserves again (as for the Cloud API).
    if report["late_wakeups"] == 0:
        assert counted["dynamodb:PutItem"] == 3
    assert counted["secretsmanager:GetSecretValue"] == 1


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
