"""The events on the user's bus through the real handlers: an inbound message once, each forward
status change of an outbound message once, each valid against its schema in docs/events/; and a
bus that refuses them changes nothing else."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from jsonschema import Draft202012Validator
from moto.events.models import EventsBackend

from local.bus_log import printing
from local.graph_api_peer import Fault, GraphApiPeer
from local.moto_faults import answers_lost
from local.template_stack import StackResources
from postino.clock import iso
from postino.services import Services
from tests.support.events import HttpResult
from tests.support.webhooks import inbound, status, statuses, text_message

Api = Callable[..., HttpResult]
Webhook = Callable[..., HttpResult]
Process = Callable[[], list[str]]
Drain = Callable[..., dict[str, Any]]
BusEvents = Callable[[], list[dict[str, Any]]]

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "events"
GUEST = "393331234567"
T0 = 1795600000


@pytest.fixture
def every_status(stack: StackResources, monkeypatch: pytest.MonkeyPatch) -> None:
    """StatusEvents=all, before the services read their settings (list it before `api`)."""
    monkeypatch.setenv("STATUS_EVENTS", "all")


@pytest.fixture
def bus_events(services: Services) -> BusEvents:
    """Everything from source postino on the default bus so far, through a rule into a queue,
    each checked against its detail type's schema."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="postino-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events")
    events.put_rule(Name="postino-all", EventPattern=json.dumps({"source": ["postino"]}))
    events.put_targets(Rule="postino-all", Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            found += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)
                ],
            )
        for event in found:
            assert event["source"] == "postino"
            schema = json.loads((SCHEMAS / f"{event['detail-type']}.schema.json").read_text())
            errors = [e.message for e in Draft202012Validator(schema).iter_errors(event["detail"])]
            assert errors == [], (event["detail-type"], errors)
        return found

    return received


def of_type(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in events if e["detail-type"] == detail_type]


def button_reply(wamid: str, replied_to_wamid: str) -> dict[str, Any]:
    return {
        "from": GUEST,
        "id": wamid,
        "timestamp": str(T0 + 10),
        "type": "interactive",
        "context": {"from": "15550783881", "id": replied_to_wamid},
        "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sì"}},
    }


def test_an_inbound_message_is_one_message_received_however_often_meta_repeats_it(
    webhook: Webhook, process: Process, bus_events: BusEvents
) -> None:
    # GIVEN a text and a button reply, each delivered three times
    text = inbound(text_message("wamid.IN1", "Ciao, a che ora?", at=T0))
    reply = inbound(button_reply("wamid.IN2", "wamid.NOT-OURS"))
    for _ in range(3):
        assert webhook(text).status == 200 and webhook(reply).status == 200
    # WHEN the processor takes them
    assert process() == []
    # THEN one event each, with what the user's systems need
    received = of_type(bus_events(), "MessageReceived")
    assert sorted(e["message_id"] for e in received) == ["wamid.IN1", "wamid.IN2"]
    first, second = sorted(received, key=lambda e: e["message_id"])
    assert first["sender"] == "default" and first["contact"] == GUEST
    assert first["name"] == "Giulia" and first["type"] == "text"
    assert first["text"] == "Ciao, a che ora?" and first["reply_id"] is None
    assert first["timestamp"] == iso(T0)
    assert second["type"] == "interactive" and second["text"] is None
    assert (second["reply_id"], second["reply_title"]) == ("yes", "Sì")
    assert second["replied_to"] is None  # it answers no message of ours


def test_each_forward_status_of_a_message_is_one_event_from_the_drain_and_the_webhooks(
    every_status: None,
    api: Api,
    drain: Drain,
    webhook: Webhook,
    process: Process,
    bus_events: BusEvents,
) -> None:
    # GIVEN a message the drain sent
    body = {"to": f"+{GUEST}", "type": "text", "text": {"body": "hi"}, "reference": "order-7"}
    message_id = api("POST", "/v1/messages", body).body["id"]
    drain()
    wamid = api("GET", f"/v1/messages/{message_id}").body["provider_message_id"]
    # WHEN Meta reports it sent, delivered, read, then delivered again and sent late
    for name, at in (
        ("sent", T0), ("delivered", T0 + 5), ("read", T0 + 60), ("delivered", T0 + 5), ("sent", T0)
    ):  # fmt: skip
        webhook(statuses(status(wamid, name, at, callback=message_id)))
        assert process() == []
    # THEN one event per status it reached: sent (the drain's), delivered and read (Meta's);
    # the receipt that only confirms "sent", and the repeats, change no status
    changes = {c["status"]: c for c in of_type(bus_events(), "MessageStatusChanged")}
    assert len(changes) == 3 and set(changes) == {"sent", "delivered", "read"}
    assert {c["id"] for c in changes.values()} == {message_id}
    assert {c["reference"] for c in changes.values()} == {"order-7"}
    assert all(c["error"] is None and c["campaign"] is None for c in changes.values())
    assert changes["read"]["at"] == iso(T0 + 60)  # Meta's time of the read


def test_by_default_only_the_statuses_that_need_someone_are_events(
    api: Api, drain: Drain, webhook: Webhook, process: Process, bus_events: BusEvents
) -> None:
    # GIVEN the template's default StatusEvents (failures): EventBridge bills every event
    # WHEN a message is sent, delivered and read
    message_id = api("POST", "/v1/messages", {"to": f"+{GUEST}", "type": "text",
                                              "text": {"body": "hi"}}).body["id"]  # fmt: skip
    drain()
    wamid = api("GET", f"/v1/messages/{message_id}").body["provider_message_id"]
    for name, at in (("sent", T0), ("delivered", T0 + 5), ("read", T0 + 60)):
        webhook(statuses(status(wamid, name, at, callback=message_id)))
        assert process() == []
    # THEN nothing went on the bus, though the API has every status
    assert of_type(bus_events(), "MessageStatusChanged") == []
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "read"


def test_a_message_the_drain_fails_is_one_event_with_its_error(
    api: Api, drain: Drain, peer: GraphApiPeer, bus_events: BusEvents
) -> None:
    peer.add_fault(Fault(error_code=131026, times=1))
    message_id = api("POST", "/v1/messages", {"to": f"+{GUEST}", "type": "text",
                                              "text": {"body": "hi"}}).body["id"]  # fmt: skip
    drain()
    (change,) = of_type(bus_events(), "MessageStatusChanged")
    assert (change["id"], change["status"]) == (message_id, "failed")
    assert change["error"]["code"] == "131026" and change["error"]["title"]


def test_the_drain_puts_its_events_ten_to_a_request(
    every_status: None,
    api: Api,
    drain: Drain,
    bus_events: BusEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests: list[int] = []
    put = EventsBackend.put_events

    def counted(backend: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        requests.append(len(events))
        return put(backend, events)

    monkeypatch.setattr(EventsBackend, "put_events", counted)
    for n in range(12):
        api("POST", "/v1/messages", {"to": f"+39333100{n:04d}", "type": "text",
                                     "text": {"body": "hi"}})  # fmt: skip
    report = drain()
    assert report["sent"] == 12
    # Ten as soon as they are recorded, the rest as the drainer lets go.
    assert sorted(requests, reverse=True) == [10, 2]
    assert len(of_type(bus_events(), "MessageStatusChanged")) == 12


@pytest.fixture
def refusing_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    """EventBridge refusing every entry (as it does in an outage), in its answer."""

    def refuse(backend: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"ErrorCode": "InternalFailure", "ErrorMessage": "try later"} for _ in events]

    monkeypatch.setattr(EventsBackend, "put_events", refuse)


def test_a_bus_that_refuses_the_events_changes_nothing_else_and_logs_no_number(
    every_status: None,
    api: Api,
    drain: Drain,
    webhook: Webhook,
    process: Process,
    refusing_bus: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a bus that refuses everything
    # WHEN a message goes out, is delivered, and an inbound message comes in
    message_id = api("POST", "/v1/messages", {"to": f"+{GUEST}", "type": "text",
                                              "text": {"body": "hi"}}).body["id"]  # fmt: skip
    assert drain()["sent"] == 1
    wamid = api("GET", f"/v1/messages/{message_id}").body["provider_message_id"]
    webhook(statuses(status(wamid, "delivered", T0, callback=message_id)))
    webhook(inbound(text_message("wamid.IN3", "Il mio numero è 393339998877", at=T0)))
    # THEN every state change stands, and no record goes back to be retried
    assert process() == []
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "delivered"
    # and the logs say it, with the count as a metric, and no number nor text
    refused = [vars(r) for r in caplog.records if r.getMessage() == "events not published"]
    assert len(refused) == 3 and {r["why"] for r in refused} == {"1 of 1 refused: InternalFailure"}
    logged = str([vars(r) for r in caplog.records])
    assert GUEST not in logged and "393339998877" not in logged and "Il mio numero" not in logged
    assert '"EventsNotPublished"' in capsys.readouterr().out


def test_the_local_stack_prints_each_event_without_numbers_or_text(
    webhook: Webhook,
    process: Process,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(EventsBackend, "put_events", printing(EventsBackend.put_events))
    webhook(inbound(text_message("wamid.IN4", "Ciao, sono Giulia", at=T0)))
    assert process() == []
    lines = [line for line in capsys.readouterr().out.splitlines() if "bus " in line]
    assert len(lines) == 1
    assert "MessageReceived" in lines[0] and "contact=39*******567" in lines[0]
    assert GUEST not in lines[0] and "Ciao" not in lines[0] and "Giulia" not in lines[0]


def test_a_status_whose_merge_lost_its_answer_is_still_its_one_event(
    every_status: None, api: Api, drain: Drain, webhook: Webhook, bus_events: BusEvents
) -> None:
    # GIVEN a message sent
    message_id = api("POST", "/v1/messages", {"to": f"+{GUEST}", "type": "text",
                                              "text": {"body": "hi"}}).body["id"]  # fmt: skip
    drain()
    wamid = api("GET", f"/v1/messages/{message_id}").body["provider_message_id"]
    # WHEN the route merges Meta's delivered, and the merge's answer is lost (botocore retries)
    with answers_lost("dynamodb:UpdateItem") as dropped:
        answer = webhook(statuses(status(wamid, "delivered", T0 + 5, callback=message_id)))
    # THEN Meta gets its 200 and the change is one event: the retry that found the receipt
    # merged knew it for its own, not for a repeat to keep quiet about
    assert dropped and answer.status == 200
    changes = of_type(bus_events(), "MessageStatusChanged")
    assert [c["status"] for c in changes].count("delivered") == 1
