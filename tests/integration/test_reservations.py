"""Reservation requests from inbound WhatsApp messages: detection, routing, announcing, status."""

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from postino import aws
from postino.services import Services
from tests.support.events import HttpResult
from tests.support.webhooks import inbound, text_message

Api = Callable[..., HttpResult]
Webhook = Callable[..., HttpResult]
Process = Callable[[], list[str]]

OPERATOR_PHONE = "393339990000"
OVERRIDE_PHONE = "393338880000"


@pytest.fixture
def bus_events(services: Services) -> Callable[[], list[dict[str, Any]]]:
    """The reservation requests that reach the default bus, through a rule into a queue."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="reservation-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events")
    pattern = {"source": ["postino"], "detail-type": ["ReservationRequested"]}
    events.put_rule(Name="postino-reservations", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="postino-reservations", Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


def setup_routing(api: Api, *, override: bool) -> None:
    operator = {"name": "Laguna Tours", "default_target": {"to": f"+{OPERATOR_PHONE}"}}
    assert api("PUT", "/v1/operators/laguna", operator).status == 200
    binding: dict[str, Any] = {"operator_id": "laguna", "is_override": override}
    if override:
        binding["target"] = {"to": f"+{OVERRIDE_PHONE}"}
    assert api("PUT", "/v1/experiences/gondola-sunset/binding", binding).status == 200
    registered = api("PUT", "/v1/reservation-codes/res-ab12cd", {"experience_id": "gondola-sunset"})
    assert registered.status == 200 and registered.body["code"] == "RES-AB12CD"


def queued_to(services: Services) -> list[str]:
    """The recipients of the messages queued so far (the notifications)."""
    items = aws.dynamodb().scan(TableName=services.settings.messages_table)["Items"]
    return sorted(item["to"]["S"] for item in items)


def test_a_code_in_a_text_makes_one_routed_announced_request_however_often_meta_repeats(
    api: Api,
    webhook: Webhook,
    process: Process,
    services: Services,
    bus_events: Callable[[], list[dict[str, Any]]],
) -> None:
    setup_routing(api, override=False)
    body = inbound(text_message("wamid.R1", "Ciao! Booking res-ab12cd for two, please 🙏"))
    for _ in range(3):
        webhook(body)
    assert process() == []
    (request,) = api("GET", "/v1/reservations").body["items"]
    assert request["code"] == "RES-AB12CD" and request["from"] == "393331234567"
    assert request["profile_name"] == "Giulia" and "two, please" in request["text"]
    assert request["experience_id"] == "gondola-sunset" and request["operator_id"] == "laguna"
    assert request["target"] == {"sender": "default", "to": f"+{OPERATOR_PHONE}"}
    assert request["status"] == "notified" and request["routed"] and request["matched"]
    # one event for the user's other systems, one notification queued for the operator
    (event,) = bus_events()
    assert event["source"] == "postino" and event["detail-type"] == "ReservationRequested"
    assert event["detail"]["id"] == request["id"]
    assert queued_to(services) == [OPERATOR_PHONE]
    notification = api("GET", f"/v1/messages/{request['notification_message_id']}").body
    assert notification["reference"] == f"reservation:{request['id']}"


def test_an_override_binding_wins_over_the_operators_default(
    api: Api, webhook: Webhook, process: Process, services: Services
) -> None:
    setup_routing(api, override=True)
    webhook(inbound(text_message("wamid.R2", "RES-AB12CD")))
    assert process() == []
    (request,) = api("GET", "/v1/reservations").body["items"]
    assert request["target"]["to"] == f"+{OVERRIDE_PHONE}"
    assert queued_to(services) == [OVERRIDE_PHONE]


def test_an_unknown_code_is_still_a_request_unmatched_and_unrouted(
    api: Api,
    webhook: Webhook,
    process: Process,
    services: Services,
    bus_events: Callable[[], list[dict[str, Any]]],
) -> None:
    webhook(inbound(text_message("wamid.R3", "I have RES-ZZZ999")))
    assert process() == []
    (request,) = api("GET", "/v1/reservations", query={"status": "new"}).body["items"]
    assert request["code"] == "RES-ZZZ999"
    assert not request["matched"] and not request["routed"] and request["target"] is None
    assert len(bus_events()) == 1 and queued_to(services) == []


@pytest.mark.parametrize(
    "message",
    [
        {"type": "image", "image": {"id": "1", "mime_type": "image/jpeg", "caption": "RES-AB12CD"}},
        {"type": "document", "document": {"id": "2", "caption": "see res-ab12cd", "filename": "x"}},
        {"type": "button", "button": {"text": "Book RES-AB12CD", "payload": "p"}},
        {"type": "button", "button": {"text": "Book", "payload": "RES-AB12CD"}},
        {
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": "RES-AB12CD", "title": "Yes"},
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "list_reply",
                "list_reply": {"id": "x", "title": "Tour RES-AB12CD"},
            },
        },
    ],
    ids=[
        "image-caption",
        "document-caption",
        "button-text",
        "button-payload",
        "reply-id",
        "list-title",
    ],
)
def test_codes_are_found_wherever_a_message_can_carry_them(
    message: dict[str, Any], api: Api, webhook: Webhook, process: Process
) -> None:
    body = inbound({"from": "393331234567", "id": "wamid.W", "timestamp": "1795600000"} | message)
    webhook(body)
    assert process() == []
    assert [r["code"] for r in api("GET", "/v1/reservations").body["items"]] == ["RES-AB12CD"]


def test_no_request_without_a_code_and_two_codes_make_two(
    api: Api, webhook: Webhook, process: Process
) -> None:
    webhook(inbound(text_message("wamid.N", "RES- nothing here, RESAB12 neither")))
    webhook(inbound(text_message("wamid.T", "RES-AAA111 and res-bbb222 and RES-AAA111 again")))
    assert process() == []
    codes = sorted(r["code"] for r in api("GET", "/v1/reservations").body["items"])
    assert codes == ["RES-AAA111", "RES-BBB222"]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        # a code stands alone, or between spaces, punctuation, brackets, quotes or emoji
        ("RES-AB12CD", ["RES-AB12CD"]),
        ("Booking RES-AB12CD", ["RES-AB12CD"]),
        ("RES-AB12CD, see you at nine", ["RES-AB12CD"]),
        ("Gondola (RES-AB12CD) for two.", ["RES-AB12CD"]),
        ("Il codice è «RES-AB12CD»", ["RES-AB12CD"]),
        ("\"RES-AB12CD\"? or 'RES-AB12CD'!", ["RES-AB12CD"]),
        ("code:RES-AB12CD;", ["RES-AB12CD"]),
        ("🎉RES-AB12CD🙏", ["RES-AB12CD"]),
        # in any case, upper-cased: the same code twice is one request
        ("res-ab12cd", ["RES-AB12CD"]),
        ("Res-Ab12Cd and RES-AB12CD", ["RES-AB12CD"]),
        # every code in a message is a request of its own
        ("RES-AAA111 or RES-BBB222?", ["RES-AAA111", "RES-BBB222"]),
        # a booking link the customer pastes names its code
        ("https://book.example.com/r/RES-AB12CD?lang=it", ["RES-AB12CD"]),
        # 3 to 12 letters or digits after `RES-`
        ("RES-AB1", ["RES-AB1"]),
        ("RES-AB", []),
        ("RES-AB12CD34EF56", ["RES-AB12CD34EF56"]),
        ("RES-AB12CD34EF567", []),
        ("RES-AB12CD34EF56G booked", []),
        # glued to a letter, digit or underscore on either side, it is part of another word
        ("xRES-AB12CD", []),
        ("PRES-AB12CD", []),
        ("1RES-AB12CD", []),
        ("àRES-AB12CD", []),
        ("RES-AB12CDè", []),
        ("RES-AB12CD_2", []),
        ("https://book.example.com/?ref=XRES-AB12CD", []),
        # only the letters A to Z and the digits, and only `RES-`
        ("RES-ÀB12CD", []),
        ("RES_AB12CD RES AB12CD", []),
    ],
)
def test_a_code_is_a_whole_word_of_its_own(
    text: str, codes: list[str], api: Api, webhook: Webhook, process: Process
) -> None:
    # GIVEN a customer's message with that text
    webhook(inbound(text_message("wamid.B", text)))
    # WHEN it is processed
    assert process() == []
    # THEN it makes a request for each code it carries, and none for what only looks like one
    found = sorted(r["code"] for r in api("GET", "/v1/reservations").body["items"])
    assert found == codes


def test_operators_move_requests_along_and_invalid_transitions_are_409(
    api: Api, webhook: Webhook, process: Process
) -> None:
    setup_routing(api, override=False)
    webhook(inbound(text_message("wamid.S", "RES-AB12CD")))
    process()
    (request,) = api("GET", "/v1/reservations").body["items"]
    path = f"/v1/reservations/{request['id']}/status"
    assert api("POST", path, {"status": "acknowledged"}).body["status"] == "acknowledged"
    assert api("POST", path, {"status": "confirmed"}).body["status"] == "confirmed"
    refused = api("POST", path, {"status": "rejected"})
    assert refused.status == 409 and refused.body["error"]["code"] == "wrong_state"
    assert api("POST", path, {"status": "maybe"}).status == 422
    assert (
        api("GET", "/v1/reservations", query={"status": "confirmed"}).body["items"][0]["id"]
        == request["id"]
    )
    assert api("GET", "/v1/reservations", query={"status": "notified"}).body["items"] == []
    assert api("GET", "/v1/reservations/nope").status == 404
    assert api("POST", "/v1/reservations/nope/status", {"status": "confirmed"}).status == 404


def test_routing_data_is_validated(api: Api) -> None:
    assert api("PUT", "/v1/reservation-codes/NOT-A-CODE", {"experience_id": "x"}).status == 422
    assert api("PUT", "/v1/reservation-codes/RES-AB12CD", {"experience": "x"}).status == 422
    unknown = api("PUT", "/v1/experiences/x/binding", {"operator_id": "ghost"})
    assert unknown.status == 422 and unknown.body["error"]["code"] == "unknown_operator"
    assert api("PUT", "/v1/operators/o1", {"name": ""}).status == 422
    assert api("PUT", "/v1/operators/o1", {"name": "Ok"}).status == 200
    no_target = api("PUT", "/v1/experiences/x/binding", {"operator_id": "o1", "is_override": True})
    assert no_target.status == 422
    assert api("GET", "/v1/experiences/x/binding").status == 404
    assert api("PUT", "/v1/experiences/x/binding", {"operator_id": "o1"}).status == 200
    assert api("DELETE", "/v1/experiences/x/binding").body["operator_id"] == "o1"
    assert api("DELETE", "/v1/experiences/x/binding").status == 404
    assert api("GET", "/v1/operators/o2").status == 404


def test_routing_data_is_listed_and_deleted(api: Api) -> None:
    # GIVEN two operators, a binding and two codes, written in no particular order
    assert api("GET", "/v1/operators").body == {"items": []}
    for operator_id, name in (("rialto", "Rialto desk"), ("laguna", "Laguna tours")):
        assert api("PUT", f"/v1/operators/{operator_id}", {"name": name}).status == 200
    assert api("PUT", "/v1/experiences/kayak/binding", {"operator_id": "laguna"}).status == 200
    for code in ("RES-ZZ0001", "res-aa0001"):
        assert api("PUT", f"/v1/reservation-codes/{code}", {"experience_id": "kayak"}).status == 200
    # THEN each list holds them all, in order of their ids, as GET shows each
    operators = api("GET", "/v1/operators").body["items"]
    assert [(o["id"], o["name"]) for o in operators] == [
        ("laguna", "Laguna tours"),
        ("rialto", "Rialto desk"),
    ]
    assert operators[0] == api("GET", "/v1/operators/laguna").body
    assert [b["experience_id"] for b in api("GET", "/v1/bindings").body["items"]] == ["kayak"]
    codes = api("GET", "/v1/reservation-codes").body["items"]
    assert [c["code"] for c in codes] == ["RES-AA0001", "RES-ZZ0001"]
    # AND an operator an experience is bound to is not deleted: the binding names it
    in_use = api("DELETE", "/v1/operators/laguna")
    assert in_use.status == 409 and "kayak" in in_use.body["error"]["message"]
    # AND once unbound it is, and the lists forget what was deleted
    assert api("DELETE", "/v1/experiences/kayak/binding").status == 200
    assert api("DELETE", "/v1/operators/laguna").body["id"] == "laguna"
    assert api("DELETE", "/v1/operators/laguna").status == 404
    assert api("DELETE", "/v1/reservation-codes/res-zz0001").body["code"] == "RES-ZZ0001"
    assert api("DELETE", "/v1/reservation-codes/RES-ZZ0001").status == 404
    assert api("DELETE", "/v1/reservation-codes/NOT-A-CODE").status == 422
    assert [o["id"] for o in api("GET", "/v1/operators").body["items"]] == ["rialto"]
    assert [c["code"] for c in api("GET", "/v1/reservation-codes").body["items"]] == ["RES-AA0001"]
    assert api("GET", "/v1/bindings").body == {"items": []}


def test_a_bound_operator_without_a_default_target_leaves_the_request_unrouted(
    api: Api, webhook: Webhook, process: Process, services: Services
) -> None:
    assert api("PUT", "/v1/operators/solo", {"name": "Solo"}).status == 200
    # a target without is_override is not used: the operator's own choice comes first
    binding = {"operator_id": "solo", "target": {"to": f"+{OVERRIDE_PHONE}"}}
    assert api("PUT", "/v1/experiences/kayak/binding", binding).status == 200
    api("PUT", "/v1/reservation-codes/RES-KAYAK1", {"experience_id": "kayak"})
    webhook(inbound(text_message("wamid.K", "RES-KAYAK1")))
    assert process() == []
    (request,) = api("GET", "/v1/reservations").body["items"]
    assert request["matched"] and request["operator_id"] == "solo"
    assert not request["routed"] and request["target"] is None and request["status"] == "new"
    assert queued_to(services) == []


def test_the_customer_gets_the_configured_acknowledgement_once(
    api: Api,
    webhook: Webhook,
    process: Process,
    make_services: Callable[..., Services],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "RESERVATION_ACKNOWLEDGEMENT_TEXT", "Grazie {profile_name}! {code} received."
    )
    services = make_services()
    setup_routing(api, override=False)
    body = inbound(text_message("wamid.ACK", "RES-AB12CD please"))
    webhook(body)
    webhook(body)
    assert process() == []
    assert queued_to(services) == ["393331234567", OPERATOR_PHONE]
    items = aws.dynamodb().scan(TableName=services.settings.messages_table)["Items"]
    (ack,) = [i for i in items if i["to"]["S"] == "393331234567"]
    assert json.loads(ack["content"]["S"])["body"] == "Grazie Giulia! RES-AB12CD received."


def test_a_target_that_cannot_receive_a_message_is_noted_on_the_request(
    api: Api, webhook: Webhook, process: Process
) -> None:
    # GIVEN an operator whose target is a group id, which only a WAHA sender can reach
    operator = {"name": "Group desk", "default_target": {"to": "120363025246125486@g.us"}}
    assert api("PUT", "/v1/operators/desk", operator).status == 200
    assert api("PUT", "/v1/experiences/tour/binding", {"operator_id": "desk"}).status == 200
    api("PUT", "/v1/reservation-codes/RES-TOUR01", {"experience_id": "tour"})
    # WHEN a code for it arrives
    webhook(inbound(text_message("wamid.G", "RES-TOUR01")))
    # THEN the request stands, not notified, with the reason; the record did not fail
    assert process() == []
    (request,) = api("GET", "/v1/reservations").body["items"]
    assert request["status"] == "new" and request["routed"]
    assert "only from a WAHA sender" in request["notification_error"]


CRM, BOOKINGS = "crm0key111", "bookings22"


def test_a_status_change_records_the_callers_key_id(
    api: Api, webhook: Webhook, process: Process
) -> None:
    setup_routing(api, override=False)
    webhook(inbound(text_message("wamid.W", "RES-AB12CD")))
    process()
    (request,) = api("GET", "/v1/reservations").body["items"]
    # GIVEN a request made from a customer's message: no key made it
    assert request["updated_by"] is None
    path = f"/v1/reservations/{request['id']}/status"
    # WHEN one system acknowledges it and another confirms it
    acknowledged = api("POST", path, {"status": "acknowledged"}, api_key_id=CRM).body
    assert acknowledged["updated_by"] == CRM
    api("POST", path, {"status": "confirmed"}, api_key_id=BOOKINGS)
    # THEN the request names the key of the last change, on GET and in the list
    assert api("GET", f"/v1/reservations/{request['id']}").body["updated_by"] == BOOKINGS
    assert api("GET", "/v1/reservations").body["items"][0]["updated_by"] == BOOKINGS
    # AND a refused change names no one
    api("POST", path, {"status": "rejected"}, api_key_id=CRM)
    assert api("GET", f"/v1/reservations/{request['id']}").body["updated_by"] == BOOKINGS


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/operators/laguna", {"name": "Laguna Tours"}),
        ("/v1/experiences/gondola-sunset/binding", {"operator_id": "laguna"}),
        ("/v1/reservation-codes/RES-AB12CD", {"experience_id": "gondola-sunset"}),
    ],
)
def test_routing_data_records_the_key_id_of_its_last_writer(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    assert api("PUT", "/v1/operators/laguna", {"name": "Laguna"}, api_key_id=CRM).status == 200
    # WHEN one system writes the item, then another
    written = api("PUT", path, body, api_key_id=CRM)
    assert written.status == 200 and written.body["updated_by"] == CRM
    assert api("GET", path).body["updated_by"] == CRM
    api("PUT", path, body, api_key_id=BOOKINGS)
    # THEN the item names the second key
    assert api("GET", path).body["updated_by"] == BOOKINGS


def test_removing_a_binding_logs_the_key_id_that_removed_it(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api("PUT", "/v1/operators/laguna", {"name": "Laguna"}, api_key_id=CRM)
    api("PUT", "/v1/experiences/gondola/binding", {"operator_id": "laguna"}, api_key_id=CRM)
    # WHEN another system removes the binding
    removed = api("DELETE", "/v1/experiences/gondola/binding", api_key_id=BOOKINGS)
    # THEN the answer is the binding as it was (its last writer), and no item is left to hold
    # the remover's id: the function's log line does
    assert removed.status == 200 and removed.body["updated_by"] == CRM
    logged = [r for r in caplog.records if r.getMessage() == "binding removed"]
    assert [
        (getattr(r, "experience_id", None), getattr(r, "api_key_id", None)) for r in logged
    ] == [("gondola", BOOKINGS)]
