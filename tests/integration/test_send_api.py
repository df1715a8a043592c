"""The send API through its real lambda_handler, against moto built from template.yaml."""

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local.graph_api_peer import GraphApiPeer
from postino import aws
from postino.messages.model import Status
from postino.services import Services
from tests.conftest import DRAIN, queue_depth, queue_url
from tests.support.events import HttpResult

Api = Callable[..., HttpResult]
TEXT = {"to": "+39 333 123 4567", "type": "text", "text": {"body": "Ciao Giulia 👋"}}


def stored_messages(services: Services) -> int:
    return aws.dynamodb().scan(TableName=services.settings.messages_table, Select="COUNT")["Count"]


def assert_error_shape(result: HttpResult, status: int, code: str | None = None) -> None:
    assert result.status == status, result.body
    error = result.body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"].endswith((".", ")")) and len(error["message"]) > 10
    if code:
        assert error["code"] == code


def test_a_valid_message_is_stored_queued_and_the_drain_nudged(
    api: Api, services: Services
) -> None:
    # WHEN a text message is posted
    result = api("POST", "/v1/messages", TEXT)
    # THEN it is accepted with the message resource, digits only, and its timeline
    assert result.status == 202
    message = result.body
    assert message["to"] == "393331234567" and message["status"] == "queued"
    assert [e["phase"] for e in message["events"]] == ["accepted", "queued"]
    assert message["sender"] == "default" and message["attempts"] == 0
    # AND it is stored, one copy is on the queue carrying only references, and the drain was woken
    assert stored_messages(services) == 1
    sqs = aws.sqs().receive_message(QueueUrl=queue_url(services))["Messages"]
    body = json.loads(sqs[0]["Body"])
    assert body["id"] == message["id"] and "393331234567" not in sqs[0]["Body"]
    assert services.nudger.nudges == 1  # type: ignore[attr-defined]


# An emoji and a letter outside the BMP (surrogate pairs in UTF-16 and in JSON's \u escapes), an
# emoji sequence joined by ZWJs, a combining accent (not NFC-normalised into é), right-to-left
# Hebrew and Arabic with a right-to-left mark, and CJK.
UNICODE_BODY = "Ciao Giulia 👋 𝒜 👩\u200d👩\u200d👧 cafe\u0301 \u200fשלום עולם مرحبا\u200f 你好"


def test_a_unicode_body_is_stored_and_reaches_meta_unchanged(
    api: Api, services: Services, drain: Callable[..., Any], peer: GraphApiPeer
) -> None:
    # GIVEN a text in many scripts
    assert len(UNICODE_BODY.encode("utf-16-le")) // 2 > len(UNICODE_BODY)  # surrogate pairs
    # WHEN it is sent and drained
    result = api("POST", "/v1/messages", TEXT | {"text": {"body": UNICODE_BODY}})
    assert result.status == 202
    assert drain()["outcomes"] == {"sent": 1}
    # THEN the store and Meta hold the very same code points (the API does not show a body)
    message_id = result.body["id"]
    stored = services.messages.get(message_id)
    assert stored is not None and stored.content["body"] == UNICODE_BODY
    (sent,) = peer.sent_messages()
    assert sent.body["text"]["body"] == UNICODE_BODY


def test_no_nudge_while_a_drainer_holds_the_lease(api: Api, services: Services) -> None:
    assert services.lease.acquire(DRAIN.scope, "someone", services.clock.now(), 30)
    assert api("POST", "/v1/messages", TEXT).status == 202
    assert services.nudger.nudges == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (TEXT | {"to": "12345"}, "to"),
        (TEXT | {"to": 393331234567}, "to"),
        (TEXT | {"to": "+39 333 ١٢٣ 4567"}, "to"),
        (TEXT | {"sender": "nobody"}, "sender"),
        (TEXT | {"type": "image"}, "body"),
        (TEXT | {"text": {"body": "x" * 4097}}, "text.body"),
        (TEXT | {"text": {"body": "hi", "preview": True}}, "text.preview"),
        (
            {"to": "+393331234567", "type": "image", "image": {"url": "https://x.example/a.png"}},
            "image.url",
        ),
        (
            {"to": "+393331234567", "type": "template", "template": {"name": "hello_world"}},
            "template.language",
        ),
        (TEXT | {"send_at": "2099-01-01T00:00:00Z"}, "send_at"),
        (TEXT | {"send_at": "tomorrow"}, "send_at"),
        (TEXT | {"metadata": {"blob": "x" * 3000}}, "metadata"),
        (TEXT | {"reference": "r" * 129}, "reference"),
        (TEXT | {"validity_seconds": "soon"}, "validity_seconds"),
        (TEXT | {"at_least_once": "maybe"}, "at_least_once"),
        ([TEXT], "body"),
    ],
)
def test_an_invalid_message_is_refused_naming_the_field_and_changes_nothing(
    api: Api, services: Services, body: Any, field: str
) -> None:
    result = api("POST", "/v1/messages", body)
    assert_error_shape(result, 422)
    assert field in {d["field"] for d in result.body["error"]["details"]}, result.body
    assert stored_messages(services) == 0 and queue_depth(services) == 0


@pytest.mark.parametrize("raw", ['{"to": "+39333", ', "not json", "", "\x00\x01"])
def test_malformed_json_is_a_400(api: Api, services: Services, raw: str) -> None:
    result = api("POST", "/v1/messages", raw_body=raw)
    assert_error_shape(result, 400 if raw else 422)
    assert stored_messages(services) == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "x/y"])
def test_a_body_not_labelled_json_is_a_415_and_changes_nothing(
    api: Api, services: Services, content_type: str
) -> None:
    # GIVEN a good message, labelled with a type the API does not read
    result = api("POST", "/v1/messages", TEXT, headers={"Content-Type": content_type})
    # THEN it is refused in the error shape (Powertools' own exception was a 500), nothing stored
    assert_error_shape(result, 415, "unsupported_media_type")
    assert stored_messages(services) == 0


def test_a_huge_body_is_a_413_and_changes_nothing(api: Api, services: Services) -> None:
    result = api("POST", "/v1/messages", raw_body=json.dumps(TEXT | {"pad": "x" * 1_100_000}))
    assert_error_shape(result, 413, "body_too_large")
    assert stored_messages(services) == 0


def test_the_same_idempotency_key_and_body_returns_the_same_message(
    api: Api, services: Services
) -> None:
    headers = {"Idempotency-Key": "invite-giulia-1"}
    first = api("POST", "/v1/messages", TEXT, headers=headers)
    again = api("POST", "/v1/messages", TEXT, headers=headers)
    assert first.status == again.status == 202
    assert first.body["id"] == again.body["id"]
    assert stored_messages(services) == 1 and queue_depth(services) == 1


def test_the_same_idempotency_key_with_another_body_is_a_409(api: Api, services: Services) -> None:
    headers = {"idempotency-key": "invite-giulia-2"}
    assert api("POST", "/v1/messages", TEXT, headers=headers).status == 202
    other = api("POST", "/v1/messages", TEXT | {"text": {"body": "Another"}}, headers=headers)
    assert_error_shape(other, 409, "idempotency_key_reused")
    assert stored_messages(services) == 1 and queue_depth(services) == 1


def test_an_overlong_idempotency_key_is_refused(api: Api, services: Services) -> None:
    result = api("POST", "/v1/messages", TEXT, headers={"Idempotency-Key": "k" * 129})
    assert_error_shape(result, 422)
    assert stored_messages(services) == 0


def test_a_batch_queues_the_good_items_and_explains_the_bad_ones(
    api: Api, services: Services
) -> None:
    batch = {
        "messages": [
            TEXT,
            TEXT | {"to": "nope"},
            TEXT | {"idempotency_key": "row-3"},
            TEXT | {"idempotency_key": "row-3"},
        ]
    }
    result = api("POST", "/v1/messages/batch", batch)
    assert result.status == 200
    results = result.body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["status"] == "queued" and results[0]["id"]
    assert results[1]["error"]["details"][0]["field"] == "to"
    assert results[2]["id"] == results[3]["id"]
    assert stored_messages(services) == 2 and queue_depth(services) == 2
    assert services.nudger.nudges == 1  # type: ignore[attr-defined]


def test_a_batch_item_the_queue_refuses_is_said_so_and_not_stored(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN SQS refusing the second entry of a SendMessageBatch (it answers, it does not raise)
    with aws.acting_as("SendFunction"):  # the send function's own client
        client = aws.sqs()
    send_batch = client.send_message_batch

    def refusing_one(**request: Any) -> Any:
        entries = request["Entries"]
        answer = send_batch(**request | {"Entries": [entries[0], *entries[2:]]})
        failed = {"Id": entries[1]["Id"], "SenderFault": False, "Code": "InternalError"}
        return answer | {"Failed": [*answer.get("Failed", []), failed]}

    monkeypatch.setattr(client, "send_message_batch", refusing_one)
    # WHEN a batch of three comes in
    results = api("POST", "/v1/messages/batch", {"messages": [TEXT] * 3}).body["results"]
    # THEN the refused item says so and left nothing behind; the others are queued and stored
    assert [r.get("status") for r in results] == ["queued", None, "queued"]
    assert results[1]["error"]["code"] == "not_queued"
    assert stored_messages(services) == 2 and queue_depth(services) == 2


@pytest.mark.parametrize("count", [0, 101])
def test_a_batch_holds_one_to_a_hundred_items(api: Api, services: Services, count: int) -> None:
    assert_error_shape(api("POST", "/v1/messages/batch", {"messages": [TEXT] * count}), 422)
    assert stored_messages(services) == 0


def test_unknown_ids_and_routes_are_404s(api: Api) -> None:
    assert_error_shape(api("GET", "/v1/messages/" + "0" * 32), 404, "message_not_found")
    assert_error_shape(api("GET", "/v1/messages/../../etc"), 404)
    assert_error_shape(api("POST", "/v1/messages/" + "0" * 32 + "/retry"), 404)
    assert_error_shape(api("GET", "/v1/nothing-here"), 404, "not_found")


def test_listing_is_newest_first_filtered_and_paged(api: Api, services: Services) -> None:
    ids = [
        api("POST", "/v1/messages", TEXT | {"reference": f"booking-{i % 2}"}).body["id"]
        for i in range(5)
    ]
    page = api("GET", "/v1/messages", query={"limit": "2"}).body
    assert [m["id"] for m in page["items"]] == ids[::-1][:2]
    rest = api("GET", "/v1/messages", query={"limit": "100", "cursor": page["next_cursor"]}).body
    assert [m["id"] for m in rest["items"]] == ids[::-1][2:]
    by_ref = api("GET", "/v1/messages", query={"reference": "booking-1"}).body["items"]
    assert [m["id"] for m in by_ref] == [ids[3], ids[1]]
    by_status = api("GET", "/v1/messages", query={"status": "queued", "sender": "default"}).body
    assert len(by_status["items"]) == 5
    assert api("GET", "/v1/messages", query={"status": "sent"}).body["items"] == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"limit": "101"}, 422),
        ({"limit": "zero"}, 422),
        ({"status": "lost"}, 422),
        ({"cursor": "garbage!"}, 400),
        # An empty filter is no key DynamoDB can look up (found by test_openapi_fuzz.py)
        ({"sender": ""}, 422),
        ({"reference": ""}, 422),
    ],
)
def test_bad_list_parameters_are_refused(api: Api, query: dict[str, str], status: int) -> None:
    assert_error_shape(api("GET", "/v1/messages", query=query), status)


def test_cancel_works_from_queued_only_once(api: Api) -> None:
    message_id = api("POST", "/v1/messages", TEXT).body["id"]
    cancelled = api("POST", f"/v1/messages/{message_id}/cancel")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    assert cancelled.body["events"][-1]["phase"] == "cancelled"
    again = api("POST", f"/v1/messages/{message_id}/cancel")
    assert_error_shape(again, 409, "wrong_state")
    assert again.body["error"]["details"] == [{"field": "status", "problem": "cancelled"}]


def test_retry_of_a_queued_message_is_a_409_with_its_status(api: Api) -> None:
    message_id = api("POST", "/v1/messages", TEXT).body["id"]
    assert_error_shape(api("POST", f"/v1/messages/{message_id}/retry"), 409, "wrong_state")


def test_the_openapi_description_and_swagger_ui_are_served(api: Api) -> None:
    document = api("GET", "/v1/openapi.json")
    assert document.status == 200
    paths = document.body["paths"]
    assert "/v1/messages" in paths and "/v1/senders/{name}" in paths
    assert document.body["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"
    docs = api("GET", "/v1/docs", headers={"Accept": "text/html"})
    assert docs.status == 200


def test_every_operation_documents_its_success_and_errors_in_the_one_shape(api: Api) -> None:
    document = api("GET", "/v1/openapi.json").body
    # GIVEN each operation the document describes
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            # THEN it documents a 2xx, and every 4xx it documents is the API's error shape
            assert any(code.startswith("2") for code in answers), (method, path)
            for code, answer in answers.items():
                if code.startswith("4"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
    # AND no schema points at definitions the document does not hold (they validate anything)
    assert "#/$defs/" not in json.dumps(document)


def test_the_readmes_api_table_matches_the_served_openapi(api: Api) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    documented = set(
        re.findall(r"^\| (GET|POST|PUT|DELETE|PATCH) \| (/v1/\S+) \|", readme, re.MULTILINE)
    )
    served = {
        (method.upper(), path)
        for path, operations in api("GET", "/v1/openapi.json").body["paths"].items()
        for method in operations
    }
    assert documented == served


# ---- who did it: the id of the caller's API key on each event it caused --------------------

CRM, BOOKINGS = "crm0key111", "bookings22"


def key_ids(message: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["phase"], e.get("api_key_id")) for e in message["events"]]


def test_a_send_records_the_callers_key_id_and_two_keys_show_as_two(api: Api) -> None:
    # WHEN two systems, each with its own key, send a message
    first = api("POST", "/v1/messages", TEXT, api_key_id=CRM)
    second = api("POST", "/v1/messages", TEXT, api_key_id=BOOKINGS)
    # THEN each timeline says which key accepted and queued it, in the answer and on GET
    assert key_ids(first.body) == [("accepted", CRM), ("queued", CRM)]
    assert key_ids(api("GET", f"/v1/messages/{second.body['id']}").body) == [
        ("accepted", BOOKINGS),
        ("queued", BOOKINGS),
    ]


def test_a_scheduled_send_records_the_callers_key_id(api: Api) -> None:
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    message = api("POST", "/v1/messages", TEXT | {"send_at": later}, api_key_id=CRM).body
    assert key_ids(message) == [("accepted", CRM), ("scheduled", CRM)]


def test_each_message_of_a_batch_records_the_callers_key_id(api: Api) -> None:
    results = api(
        "POST", "/v1/messages/batch", {"messages": [TEXT, TEXT]}, api_key_id=BOOKINGS
    ).body["results"]
    for result in results:
        accepted = api("GET", f"/v1/messages/{result['id']}").body["events"][0]
        assert accepted["phase"] == "accepted" and accepted["api_key_id"] == BOOKINGS


def test_a_replayed_idempotent_send_is_the_first_answer_whoever_replays_it(api: Api) -> None:
    headers = {"Idempotency-Key": "invite-giulia-who"}
    first = api("POST", "/v1/messages", TEXT, headers=headers, api_key_id=CRM)
    # WHEN the same system replays it, and then another key does
    again = api("POST", "/v1/messages", TEXT, headers=headers, api_key_id=CRM)
    other = api("POST", "/v1/messages", TEXT, headers=headers, api_key_id=BOOKINGS)
    # THEN both get the first answer: the key id is not part of what must match
    assert first.status == again.status == other.status == 202
    assert first.body == again.body == other.body
    assert key_ids(first.body)[0] == ("accepted", CRM)


def test_cancel_force_and_retry_record_the_callers_key_id(api: Api, services: Services) -> None:
    # GIVEN two messages sent by the CRM's key
    to_cancel = api("POST", "/v1/messages", TEXT, api_key_id=CRM).body["id"]
    to_force = api("POST", "/v1/messages", TEXT, api_key_id=CRM).body["id"]
    # WHEN the bookings system cancels one and forces the other
    cancelled = api("POST", f"/v1/messages/{to_cancel}/cancel", api_key_id=BOOKINGS).body
    forced = api("POST", f"/v1/messages/{to_force}/force", api_key_id=BOOKINGS).body
    # THEN each event names the key that caused it, the sender's key stays on its own events
    assert key_ids(cancelled)[-1] == ("cancelled", BOOKINGS)
    assert key_ids(forced)[0] == ("accepted", CRM) and key_ids(forced)[-1] == ("forced", BOOKINGS)
    # AND a retry of a failed message names its key
    services.messages.update(
        to_force,
        statuses=(Status.QUEUED,),
        now=services.clock.now(),
        changes={"status": Status.FAILED},
    )
    retried = api("POST", f"/v1/messages/{to_force}/retry", api_key_id=CRM)
    assert retried.status == 202 and key_ids(retried.body)[-1] == ("queued", CRM)
    assert key_ids(api("GET", f"/v1/messages/{to_force}").body)[-1] == ("queued", CRM)


def test_the_openapi_event_model_describes_the_api_key_id(api: Api) -> None:
    schemas = api("GET", "/v1/openapi.json").body["components"]["schemas"]
    assert "api_key_id" in schemas["Event"]["properties"]
