"""The drain through its real lambda_handler, sending to the Graph API peer that checks Meta's schema."""

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import httpx
import pytest
from moto.sqs.models import sqs_backends

from local.graph_api_peer import Fault, GraphApiPeer
from postino import aws
from postino.clock import FakeClock, iso
from postino.drain import intake
from postino.drain.drainer import Drainer
from postino.drain.due import enqueue_due
from postino.drain.record import CLAIM_EXPIRES_SECONDS
from postino.drain.slots import CLAIM_LEAD_SECONDS
from postino.messages.model import Phase, Status, event
from postino.outbox import Outbox, QueuedRef, recipient_hash
from postino.senders.model import CLOUD_API_PAIR_LIMIT
from postino.services import Services
from postino.store.rate_window import pair_window_key
from tests.conftest import ACCESS_TOKEN, DRAIN, outbox, queue_depth, queue_url, sqs_depth
from tests.support.events import HttpResult
from tests.support.webhooks import PHONE_NUMBER_ID

Api = Callable[..., HttpResult]
Drain = Callable[..., dict[str, Any]]


def text(to: str = "+39 333 123 4567", **fields: Any) -> dict[str, Any]:
    return {"to": to, "type": "text", "text": {"body": "Ciao 👋"}} | fields


def phases(api: Api, message_id: str) -> list[str]:
    return [e["phase"] for e in api("GET", f"/v1/messages/{message_id}").body["events"]]


def limit_default_sender(api: Api, *, max: int, per_seconds: int) -> None:
    sender = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token_secret": "postino/meta/access-token",
        "limits": [{"max": max, "per_seconds": per_seconds}],
        "enforce_service_window": False,
    }
    assert api("PUT", "/v1/senders/default", sender).status == 200


def dlq_depth(services: Services) -> int:
    url = aws.sqs().get_queue_url(QueueName="postino-OutboundDeadLetterQueue")["QueueUrl"]
    return sqs_depth(url, "", "NotVisible")


def test_a_queued_message_is_sent_in_metas_shape_and_recorded(
    api: Api, drain: Drain, services: Services, peer: GraphApiPeer
) -> None:
    message_id = api("POST", "/v1/messages", text()).body["id"]
    # WHEN the schedule runs the drain
    report = drain()
    # THEN the peer received exactly Meta's request, with our id to match webhooks later
    assert report["sent"] == 1
    # (the queue emptied before the deadline: no hand-over)
    assert not report["out_of_time"] and report["handed_over"] == []
    (request,) = peer.sent_messages()
    assert request.path == f"/v23.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "393331234567",
        "type": "text",
        "text": {"body": "Ciao 👋", "preview_url": False},
        "biz_opaque_callback_data": message_id,
    }
    # AND the message is sent, with the wamid and the whole timeline
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "sent" and message["provider_message_id"].startswith("wamid.")
    assert message["attempts"] == 1 and message["sent_at"]
    assert [e["phase"] for e in message["events"]] == [
        "accepted",
        "queued",
        "sending",
        "provider_accepted",
    ]
    assert message["events"][-1]["detail"]["message_status"] == "accepted"


def test_every_content_type_reaches_the_peer_valid(
    api: Api, drain: Drain, peer: GraphApiPeer
) -> None:
    bodies = [
        {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}},
        {
            "type": "image",
            "image": {"link": "https://example.com/boat.jpg", "caption": "Your boat"},
        },
        {"type": "document", "document": {"id": "1037543291543636", "filename": "ticket.pdf"}},
        {
            "type": "location",
            "location": {"latitude": 45.4333, "longitude": 12.3384, "name": "Molo"},
        },
        {
            "type": "reaction",
            "reaction": {"message_id": "wamid.HBgLMzkzMzMxMjM0NTY3FQIAERgSMTIz", "emoji": "👍"},
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Confirm?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]},
            },
        },
    ]
    for n, body in enumerate(bodies):
        assert api("POST", "/v1/messages", {"to": f"+3933312345{n:02d}"} | body).status == 202
    drain()
    assert all(r.status == 200 for r in peer.requests), [r.problems for r in peer.requests]
    assert len(peer.sent_messages()) == len(bodies)


@pytest.mark.parametrize(
    ("code", "status", "last_phase"),
    [
        (131026, "failed", "failed"),
        (131047, "failed", "failed"),
        (131000, "queued", "retry_scheduled"),
        (130429, "queued", "retry_scheduled"),
        (131056, "queued", "retry_scheduled"),
        (190, "queued", "sender_paused"),
        (131048, "queued", "sender_paused"),
        (368, "queued", "sender_paused"),
    ],
)
def test_each_class_of_meta_error_leads_to_its_outcome(
    api: Api,
    drain: Drain,
    peer: GraphApiPeer,
    services: Services,
    code: int,
    status: str,
    last_phase: str,
) -> None:
    peer.add_fault(Fault(error_code=code, times=1))
    message_id = api("POST", "/v1/messages", text()).body["id"]
    drain()
    message = api("GET", f"/v1/messages/{message_id}").body
    phases = [e["phase"] for e in message["events"]]
    if last_phase == "retry_scheduled" and message["status"] == "sent":
        # Its retry waits 2-4 s: on a slow machine the same drain is still there to send it.
        assert phases.index("retry_scheduled") < phases.index("provider_accepted")
        assert len(peer.requests) == 2
        return
    assert message["status"] == status
    assert phases[-1] == last_phase
    assert message["error"]["code"] == str(code)
    if code == 131047:
        assert "24-hour" in message["error"]["message"]
    if last_phase == "sender_paused":
        sender = api("GET", "/v1/senders/default").body
        assert sender["paused"] is True and str(code) in sender["paused_reason"]
        assert (sender["paused_until"] is not None) == (code == 131048)
    if last_phase == "retry_scheduled":
        assert queue_depth(services) == 1  # a delayed copy waits on the queue
    assert len(peer.requests) == 1


def test_a_paused_sender_holds_its_messages_until_resumed(
    api: Api, drain: Drain, peer: GraphApiPeer, services: Services
) -> None:
    peer.add_fault(Fault(error_code=190, times=1))
    first = api("POST", "/v1/messages", text()).body["id"]
    drain()
    second = api("POST", "/v1/messages", text("+39 333 765 4321")).body["id"]
    drain()
    assert phases(api, second)[-1] == "sender_paused"
    assert len(peer.requests) == 1 and queue_depth(services) == 0
    # WHEN the token is fixed and the sender resumed
    assert api("POST", "/v1/senders/default/resume").body["requeued"] == 2
    drain()
    # THEN both go out
    assert api("GET", f"/v1/messages/{first}").body["status"] == "sent"
    assert api("GET", f"/v1/messages/{second}").body["status"] == "sent"


def test_a_message_parked_after_a_resume_looked_goes_on_the_next_drain(
    api: Api, drain: Drain, peer: GraphApiPeer, services: Services
) -> None:
    # GIVEN a paused sender and a message parked by its pause
    peer.add_fault(Fault(error_code=190, times=1))
    first = api("POST", "/v1/messages", text()).body["id"]
    drain()
    assert phases(api, first)[-1] == "sender_paused"
    # WHEN the pause is lifted without the message being moved (a drainer that read the pause
    # just before a resume parked it just after the resume looked for parked messages)
    services.senders.set_pause("default", paused=False, reason=None, until=None, now=time.time())
    drain()
    # THEN the next drain finds it and sends it, once
    assert api("GET", f"/v1/messages/{first}").body["status"] == "sent"
    assert len(peer.requests) == 2 and queue_depth(services) == 0


def test_a_timeout_after_sending_is_an_unknown_outcome_and_never_resent(
    api: Api, drain: Drain, peer: GraphApiPeer, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.provider.cloud_api.http, "timeout", httpx.Timeout(0.5))
    peer.add_fault(Fault(kind="timeout", hold_seconds=1.5, times=1))
    message_id = api("POST", "/v1/messages", text()).body["id"]
    drain()
    drain()
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "unknown" and message["events"][-1]["phase"] == "outcome_unknown"
    assert len(peer.requests) == 1
    # WHEN the user decides to retry it
    assert api("POST", f"/v1/messages/{message_id}/retry").status == 202
    drain()
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "sent"
    assert len(peer.requests) == 2


def test_a_reset_after_the_body_went_out_is_resent_only_with_at_least_once(
    api: Api, drain: Drain, peer: GraphApiPeer
) -> None:
    peer.add_fault(Fault(kind="reset", times=2))
    held = api("POST", "/v1/messages", text()).body["id"]
    resent = api("POST", "/v1/messages", text("+39 333 765 4321", at_least_once=True)).body["id"]
    drain()
    assert api("GET", f"/v1/messages/{held}").body["status"] == "unknown"
    message = api("GET", f"/v1/messages/{resent}").body
    phases = [event["phase"] for event in message["events"]]
    assert "retry_scheduled" in phases
    # Its retry waits 2-4 s: on a slow machine the same drain may still be there to send it.
    if message["status"] == "queued":
        assert phases[-1] == "retry_scheduled"
        assert len(peer.requests) == 2  # each once
    else:
        assert message["status"] == "sent"
        assert phases.index("retry_scheduled") < phases.index("provider_accepted")
        assert len(peer.requests) == 3  # the held one once, the at-least-once one again


def test_a_redelivered_message_found_sending_is_an_unknown_outcome(
    api: Api, services: Services, peer: GraphApiPeer
) -> None:
    # GIVEN a drainer that claimed the message and died before recording anything
    message_id = api("POST", "/v1/messages", text()).body["id"]
    (delivery,) = outbox(services).receive()
    assert delivery.ref is not None
    services.messages.update(
        message_id,
        statuses=("queued",),  # type: ignore[arg-type]
        now=services.clock.now(),
        equals={"queue_seq": delivery.ref.seq},
        changes={"status": "sending", "claimed_by": delivery.sqs_message_id, "attempts": 1},
    )
    outbox(services).retry_later(delivery.receipt, 0)
    # WHEN SQS gives the copy to another drainer
    Drainer(services, DRAIN).run(services.clock.now() + 5, use_lease=False)
    # THEN it is not sent again
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "unknown"
    assert peer.requests == []


def test_connection_refused_is_retried_and_gives_up_after_five_attempts(
    api: Api, make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    services = make_services(clock)
    monkeypatch.setattr(services.provider.cloud_api, "base_url", "http://127.0.0.1:9")
    message_id = api("POST", "/v1/messages", text()).body["id"]
    for _ in range(6):
        Drainer(services, DRAIN).run(clock.now() + 2, use_lease=False)
        clock.advance(1000)
        _undelay()
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "failed" and message["error"]["code"] == "attempts_exhausted"
    assert message["attempts"] == 5
    assert [e["phase"] for e in message["events"]].count("retry_scheduled") == 4


def _undelay() -> None:
    """Make delayed copies visible now: moto delays in real time, the test's clock is fake."""
    for queue in sqs_backends["123456789012"]["us-east-1"].queues.values():
        for message in queue._messages:
            message.delay(0)


def test_scheduled_messages_wait_in_the_due_index_and_go_when_due(
    api: Api, make_services: Callable[..., Services], peer: GraphApiPeer
) -> None:
    clock = FakeClock()
    services = make_services(clock)
    send_at = iso(clock.now() + 3600)
    message = api("POST", "/v1/messages", text(send_at=send_at)).body
    assert message["status"] == "scheduled" and queue_depth(services) == 0
    Drainer(services, DRAIN).run(clock.now() + 2, use_lease=False)
    assert peer.requests == []
    # WHEN the time comes, and the schedule's tick puts it on its sender's queue
    clock.advance(3600)
    assert enqueue_due(services) == 1
    Drainer(services, DRAIN).run(clock.now() + 3, use_lease=False)
    assert api("GET", f"/v1/messages/{message['id']}").body["status"] == "sent"
    assert phases(api, message["id"]) == [
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "provider_accepted",
    ]


def test_a_cancelled_scheduled_message_is_never_sent(
    api: Api, make_services: Callable[..., Services], peer: GraphApiPeer
) -> None:
    clock = FakeClock()
    services = make_services(clock)
    soon = api("POST", "/v1/messages", text(send_at=iso(clock.now() + 60))).body
    later = api("POST", "/v1/messages", text(send_at=iso(clock.now() + 7200))).body
    assert api("POST", f"/v1/messages/{soon['id']}/cancel").status == 200
    assert api("POST", f"/v1/messages/{later['id']}/cancel").status == 200
    clock.advance(7200)
    _undelay()
    Drainer(services, DRAIN).run(clock.now() + 3, use_lease=False)
    assert peer.requests == []
    assert queue_depth(services) == 0


def test_an_expired_message_is_not_sent(
    api: Api, make_services: Callable[..., Services], peer: GraphApiPeer
) -> None:
    clock = FakeClock()
    services = make_services(clock)
    message_id = api("POST", "/v1/messages", text(validity_seconds=60)).body["id"]
    clock.advance(61)
    Drainer(services, DRAIN).run(clock.now() + 2, use_lease=False)
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "expired"
    assert peer.requests == []
    assert api("POST", f"/v1/messages/{message_id}/retry").status == 202


def test_two_concurrent_drainers_never_exceed_the_rate_window(
    api: Api, make_services: Callable[..., Services], peer: GraphApiPeer
) -> None:
    # GIVEN a sender limited to 5 sends a second and 20 queued messages to 20 people
    limit_default_sender(api, max=5, per_seconds=1)
    peer.latency = 0.05
    for n in range(20):
        assert api("POST", "/v1/messages", text(f"+39 333 000 {n:04d}")).status == 202

    # WHEN two drainers run at once, each as the drain function in a Lambda environment of its
    # own: its own services, so its own rate window store (cache, locks). They meet only in
    # DynamoDB, through the window's conditional write, as two environments do on AWS.
    environments = [make_services(), make_services()]

    def drain_as_the_function(services: Services) -> None:
        with aws.acting_as("SchedulerFunction"):
            Drainer(services, DRAIN).run(services.clock.now() + 15, use_lease=False)

    drainers = [threading.Thread(target=drain_as_the_function, args=(s,)) for s in environments]
    for thread in drainers:
        thread.start()
    for thread in drainers:
        thread.join()
    # (a send that missed its slot on a starved machine is queued again, perhaps to wait for
    # a slot: later drains send it, as the schedule's would)
    give_up_at = time.monotonic() + 60
    while len(peer.sent_messages()) < 20 and time.monotonic() < give_up_at:
        drain_as_the_function(environments[0])
    # THEN all were sent, and no 1-second interval at the peer holds more than 5
    arrivals = sorted(r.received_at for r in peer.sent_messages())
    assert len(arrivals) == 20
    busiest = max(sum(1 for a in arrivals if start <= a < start + 1) for start in arrivals)
    assert busiest <= 5
    assert arrivals[-1] - arrivals[0] >= 3  # 20 at 5/s cannot take less than 3 s


def test_the_pair_limit_spaces_messages_to_one_person(
    api: Api, services: Services, peer: GraphApiPeer
) -> None:
    for _ in range(2):
        api("POST", "/v1/messages", text())
    Drainer(services, DRAIN).run(services.clock.now() + 10, use_lease=False)
    arrivals = sorted(r.received_at for r in peer.sent_messages())
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 6


def test_a_send_that_misses_its_slot_gives_its_reservations_back_and_goes_later(
    api: Api, drain: Drain, services: Services, peer: GraphApiPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a machine so loaded that a send thread wakes up late for its slot, every time
    clock = services.clock
    real_sleep = clock.sleep
    late_wakeups: list[float] = []

    def oversleep(seconds: float) -> None:
        real_sleep(seconds)
        # Four: the sleep before the claim, then the three tries of its slot
        if threading.current_thread().name.startswith("send") and len(late_wakeups) < 4:
            late_wakeups.append(seconds)
            real_sleep(1.0)

    monkeypatch.setattr(clock, "sleep", oversleep)
    message_id = api("POST", "/v1/messages", text()).body["id"]
    # WHEN the drain runs
    report = drain()
    # THEN the claimed copy is given back (not an attempt), and the next copy is sent at once:
    # the entries it reserved and never used no longer block the recipient's pair window
    assert len(late_wakeups) == 4 and report["missed_slot"] == 1
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "sent" and message["attempts"] == 1
    assert "rate_limited" in phases(api, message_id)
    assert len(peer.sent_messages()) == 1
    pair_log = services.rate_windows.read(
        pair_window_key("default", recipient_hash("393331234567")),
        [CLOUD_API_PAIR_LIMIT],
        clock.now(),
    )
    assert sum(len(entries) for entries in pair_log.values()) == 1


def test_a_send_held_up_between_its_slot_and_the_wire_takes_a_new_slot_and_goes_once(
    api: Api, drain: Drain, services: Services, peer: GraphApiPeer
) -> None:
    # GIVEN a send thread that wakes in time for its slot, then is held up for a second before
    # its request is written (a starved process: the peer would count it in a later second)
    held_until: list[float] = []

    def hold_up_once(request: httpx.Request) -> None:
        if request.url.path.endswith("/messages") and not held_until:
            time.sleep(1.0)
            held_until.append(time.time())

    services.provider.cloud_api.http.event_hooks["request"].append(hold_up_once)
    message_id = api("POST", "/v1/messages", text()).body["id"]
    # WHEN the drain runs
    report = drain()
    # THEN the late request was kept back, and sent once, in a slot reserved after the hold-up
    # (a busy machine may add late wake-ups of its own)
    assert report["late_wakeups"] >= 1 and report["missed_slot"] == 0
    [sent] = peer.sent_messages()
    assert sent.received_at >= held_until[0] + CLAIM_LEAD_SECONDS
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "sent" and message["attempts"] == 1


def test_waiting_for_the_window_never_spends_the_redrive_budget(
    api: Api, services: Services, peer: GraphApiPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a sender allowed one message an hour, and three messages
    limit_default_sender(api, max=1, per_seconds=3600)
    ids = [api("POST", "/v1/messages", text(f"+39 333 000 {n:04d}")).body["id"] for n in range(3)]
    # WHEN the waiting copies come back after a second instead of an hour, again and again
    put = Outbox.put
    monkeypatch.setattr(
        Outbox, "put", lambda self, ref, delay_seconds=0: put(self, ref, min(delay_seconds, 1))
    )
    deferred = 0
    for _ in range(4):
        deferred += Drainer(services, DRAIN).run(services.clock.now() + 3, use_lease=False).deferred
        time.sleep(1.1)
    assert deferred >= 6
    # THEN one was sent, the others wait, each with one rate_limited event, and nothing is in the DLQ
    assert len(peer.sent_messages()) == 1
    waiting = [m for m in ids if api("GET", f"/v1/messages/{m}").body["status"] == "queued"]
    assert len(waiting) == 2
    for message_id in waiting:
        events = api("GET", f"/v1/messages/{message_id}").body["events"]
        # (A send thread woken late on a busy machine adds a "missed its slot" one: not a wait.)
        waits = [
            e for e in events if e["phase"] == "rate_limited" and "next_slot_at" in e["detail"]
        ]
        assert len(waits) == 1
        assert events[-1] == waits[0]
    assert dlq_depth(services) == 0


def test_a_drainer_out_of_time_passes_on_what_it_holds_without_spending_receives(
    api: Api, services: Services, peer: GraphApiPeer
) -> None:
    # GIVEN a sender allowed one message in 4 s, and two messages: the second waits in memory
    limit_default_sender(api, max=1, per_seconds=4)
    ids = [api("POST", "/v1/messages", text(f"+39 333 000 {n:04d}")).body["id"] for n in range(2)]
    # WHEN the drainer's time runs out before that wait ends
    Drainer(services, DRAIN).run(services.clock.now() + 1.5, use_lease=False)
    assert len(peer.sent_messages()) == 1
    # THEN the waiting one is on the queue again as a fresh copy (no receive spent), still queued
    time.sleep(4)
    (delivery,) = outbox(services).receive()
    assert delivery.receive_count == 1 and delivery.ref is not None
    assert delivery.ref.id in ids
    assert api("GET", f"/v1/messages/{delivery.ref.id}").body["status"] == "queued"


def test_a_drain_out_of_time_with_work_left_hands_over_to_a_new_invocation_at_once(
    api: Api, drain: Drain, services: Services
) -> None:
    # GIVEN a sender allowed one message in 4 s, and two messages: the second must wait
    limit_default_sender(api, max=1, per_seconds=4)
    for n in range(2):
        api("POST", "/v1/messages", text(f"+39 333 000 {n:04d}"))
    # WHEN the scheduled drain's time runs out during that wait
    report = drain(1.5)
    # THEN it says so, and invokes itself again now instead of leaving it to the next minute
    assert report["out_of_time"] and report["sent"] == 1
    assert report["handed_over"] == [DRAIN]
    assert services.nudger.named[-1] == "postino-SchedulerFunction"  # type: ignore[attr-defined]
    # as a takeover: the new invocation waits for the lease this one lets go at its deadline
    assert services.nudger.takeovers[-1] is True  # type: ignore[attr-defined]


def test_a_copy_a_drain_took_is_hidden_only_until_its_invocation_has_surely_ended(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a message, and a drain invocation that ends in 1 s (no clock slack, for the test)
    monkeypatch.setattr(intake, "HIDDEN_PAST_END_SECONDS", 0)
    api("POST", "/v1/messages", text())
    drainer = Drainer(services, DRAIN)
    drainer.state.outbox = outbox(services)
    drainer.state.ends_at = services.clock.now() + 1
    # WHEN it takes the copy and dies with it
    (taken,) = drainer.intake.receive(wait_seconds=1)
    assert outbox(services).receive(wait_seconds=0) == []
    # THEN the copy is back as soon as that invocation is over, not after the queue's 120 s
    time.sleep(1.5)
    (back,) = outbox(services).receive(wait_seconds=0)
    assert back.ref == taken.ref and back.receive_count == 2


def test_force_sends_past_the_window(api: Api, services: Services, peer: GraphApiPeer) -> None:
    limit_default_sender(api, max=1, per_seconds=3600)
    first, second = (
        api("POST", "/v1/messages", text(f"+39 333 000 {n:04d}")).body["id"] for n in range(2)
    )
    Drainer(services, DRAIN).run(services.clock.now() + 3, use_lease=False)
    assert api("GET", f"/v1/messages/{second}").body["status"] == "queued"
    forced = api("POST", f"/v1/messages/{second}/force")
    assert forced.status == 202 and forced.body["events"][-1]["phase"] == "forced"
    Drainer(services, DRAIN).run(services.clock.now() + 3, use_lease=False)
    assert api("GET", f"/v1/messages/{second}").body["status"] == "sent"
    assert len(peer.sent_messages()) == 2 and first


def test_an_orphan_copy_is_dropped_and_a_stale_copy_skipped(
    api: Api, services: Services, peer: GraphApiPeer
) -> None:
    outbox(services).put(
        QueuedRef(
            id="f" * 32,
            seq=1,
            attempt=1,
            sender="default",
            pair="x",
            visible_at=services.clock.now() - 120,
        )
    )
    message_id = api("POST", "/v1/messages", text()).body["id"]
    outbox(services).put(
        QueuedRef(
            id=message_id,
            seq=0,
            attempt=1,
            sender="default",
            pair="x",
            visible_at=services.clock.now(),
        )
    )
    # A generous deadline (the run ends once the queue is empty): at the deadline a copy still
    # waiting for its slot goes back to the queue, as on a loaded machine it once did.
    Drainer(services, DRAIN).run(services.clock.now() + 15, use_lease=False)
    assert len(peer.sent_messages()) == 1 and queue_depth(services) == 0


def test_a_drainer_exits_at_once_while_another_holds_the_lease(services: Services) -> None:
    assert services.lease.acquire(DRAIN.scope, "other", services.clock.now(), 60)
    report = Drainer(services, DRAIN).run(services.clock.now() + 30)
    assert report.received == 0


def slow_window_locks(
    monkeypatch: pytest.MonkeyPatch,
    services: Services,
    clock: FakeClock,
    prefix: str,
    seconds: float,
) -> None:
    """Taking the lock of a rate window whose key starts with `prefix` costs `seconds` of the clock."""
    store = services.rate_windows
    real_lock = store._key_lock

    def slow_lock(key: str) -> AbstractContextManager[Any]:
        if key.startswith(prefix):
            clock.advance(seconds)
        return real_lock(key)

    monkeypatch.setattr(store, "_key_lock", slow_lock)


def test_a_reservation_that_waited_for_the_windows_lock_plans_its_starts_after_the_wait(
    api: Api, make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a drainer whose threads each wait a second for the sender window's lock (a busy
    # drainer: many send threads giving slots back and reserving again on one key)
    clock = FakeClock()
    services = make_services(clock)
    # (a recipient's pair window is rarely shared: only the sender's lock is slow)
    slow_window_locks(monkeypatch, services, clock, "sender#", 1.0)
    ids = [api("POST", "/v1/messages", text(f"+39 333 100 000{n}")).body["id"] for n in range(3)]
    # WHEN the drain runs
    report = Drainer(services, DRAIN).run(clock.now() + 5, use_lease=False)
    # THEN every start was planned from the time the lock was held: no send thread woke past
    # its slot, and each message went on its first reservation
    assert report.late_wakeups == 0 and report.missed_slot == 0, report
    assert all(api("GET", f"/v1/messages/{i}").body["status"] == "sent" for i in ids)


def test_a_drainer_whose_writes_are_slow_reserves_further_ahead_instead_of_missing_slots(
    api: Api, make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a table so slow that a recipient's pair reservation takes half a second, more than
    # the 200 ms the drain reserves ahead for it and the claim
    clock = FakeClock()
    services = make_services(clock)
    slow_window_locks(monkeypatch, services, clock, "pair#", 0.5)
    ids = [api("POST", "/v1/messages", text(f"+39 333 200 000{n}")).body["id"] for n in range(6)]
    # WHEN the drain runs
    report = Drainer(services, DRAIN).run(clock.now() + 8, use_lease=False)
    # THEN the late wakeups of the first batch lengthen the lead: the next reservations are
    # far enough ahead, and no message misses its slot for good (all did, before)
    assert report.late_wakeups and report.missed_slot == 0, report
    assert all(api("GET", f"/v1/messages/{i}").body["status"] == "sent" for i in ids)


def test_a_claim_write_slower_than_most_costs_its_slot_but_does_not_stretch_the_lead(
    api: Api, make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a table whose first claim write takes half a second (most take milliseconds); one
    # message, as the test's clock is every thread's: a slow write here delays them all
    clock = FakeClock()
    services = make_services(clock)
    real_update = services.messages.update
    slowed: list[str] = []

    def update(message_id: str, **kwargs: Any) -> Any:
        result = real_update(message_id, **kwargs)
        if kwargs.get("changes", {}).get("status") is Status.SENDING and not slowed:
            slowed.append(message_id)
            clock.advance(0.5)
        return result

    monkeypatch.setattr(services.messages, "update", update)
    message_id = api("POST", "/v1/messages", text()).body["id"]
    # WHEN the drain sends it
    drainer = Drainer(services, DRAIN)
    report = drainer.run(clock.now() + 8, use_lease=False)
    # THEN the claim landed after its start and the send took a later slot, and the lead
    # (which a slow claim write does not cure) stayed as it was
    assert slowed and report.late_wakeups == 1 and report.missed_slot == 0, report
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "sent"
    assert drainer.slots.lead == CLAIM_LEAD_SECONDS


def test_a_message_is_claimed_just_before_its_start_however_far_ahead_it_was_reserved(
    api: Api, make_services: Callable[..., Services]
) -> None:
    # GIVEN a drainer that reserves two seconds ahead (its lead once writes were slow)
    clock = FakeClock()
    services = make_services(clock)
    drainer = Drainer(services, DRAIN)
    drainer.slots.lead = 2.0
    ids = [api("POST", "/v1/messages", text(f"+39 333 300 000{n}")).body["id"] for n in range(3)]
    # WHEN it sends the messages
    drainer.run(clock.now() + 10, use_lease=False)
    # THEN each was claimed (queued → sending) only just before it went: a drainer killed in
    # the two seconds before would have left it queued, to be sent by the next, not unknown
    for message_id in ids:
        events = {
            e["phase"]: e["at"] for e in api("GET", f"/v1/messages/{message_id}").body["events"]
        }
        claimed, accepted = (
            datetime.fromisoformat(events[p]) for p in ("sending", "provider_accepted")
        )
        assert (accepted - claimed).total_seconds() < 0.2, events


def _claimed_by_a_dead_drainer(api: Api, services: Services, clock: FakeClock) -> str:
    """A message claimed through a copy that is gone (its drainer died after putting the copy
    SQS now holds back to wait): the copy in the queue is another, of the same seq."""
    message_id: str = api("POST", "/v1/messages", text()).body["id"]
    services.messages.update(
        message_id,
        statuses=(Status.QUEUED,),
        now=clock.now(),
        changes={"status": Status.SENDING, "attempts": 1, "claimed_by": "a-copy-now-gone"},
        events=[event(Phase.SENDING, clock.now(), attempt=1)],
    )
    return message_id


def test_a_claim_whose_drainer_died_is_settled_by_any_copy_once_no_drain_could_hold_it(
    api: Api, make_services: Callable[..., Services], peer: GraphApiPeer
) -> None:
    # GIVEN a message claimed long ago by a copy that is gone, and another copy of its seq
    clock = FakeClock()
    services = make_services(clock)
    message_id = _claimed_by_a_dead_drainer(api, services, clock)
    clock.advance(CLAIM_EXPIRES_SECONDS + 1)
    # WHEN a drainer receives that copy
    Drainer(services, DRAIN).run(clock.now() + 5, use_lease=False)
    # THEN the message is unknown (it may have gone: never resent), not `sending` for good
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "unknown" and not peer.sent_messages()
    assert queue_depth(services) == 0


def test_a_fresh_claim_of_another_copy_is_looked_at_again_when_it_would_have_expired(
    api: Api, make_services: Callable[..., Services], peer: GraphApiPeer
) -> None:
    # GIVEN a message just claimed through another copy (its drainer may be sending it now)
    clock = FakeClock()
    services = make_services(clock)
    message_id = _claimed_by_a_dead_drainer(api, services, clock)
    # WHEN a drainer receives this copy
    Drainer(services, DRAIN).run(clock.now() + 5, use_lease=False)
    # THEN it neither sends nor settles it, and keeps the copy (in flight, to come back later)
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "sending"
    assert not peer.sent_messages()
    assert sqs_depth(queue_url(services), "NotVisible") == 1
