"""Every sample event under events/ is a real event its function handles (for sam local invoke),
and a sample call of the send API succeeds once what it refers to exists."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.graph_api_peer import Fault
from local.template_stack import REPO_ROOT, StackResources, api_routes
from postino.send import accept
from postino.webhooks.ingest import ROUTES
from tests.support.events import FakeLambdaContext, HttpResult, as_http
from tests.support.functions import load_function
from tests.support.waha import waha_sender

EVENTS = sorted((REPO_ROOT / "events").glob("*.json"))
# The message that get_, force_, cancel_ and retry_message name.
SAMPLE_MESSAGE_ID = "019ab1c2d3e4f5061728394a5b6c7d8e"

Given = Callable[[pytest.FixtureRequest], None]


def sample(stem: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((REPO_ROOT / "events" / f"{stem}.json").read_text())
    return event


def call_send_api(event: dict[str, Any]) -> HttpResult:
    return as_http(load_function("send").lambda_handler(event, FakeLambdaContext()))


def played(stem: str, status: int = 200) -> None:
    """An API sample, played first for what it makes."""
    result = call_send_api(sample(stem))
    assert result.status == status, result.body


def studio(request: pytest.FixtureRequest) -> None:
    played("put_sender")


def paused_studio(request: pytest.FixtureRequest) -> None:
    studio(request)
    paused = request.getfixturevalue("api")("POST", "/v1/senders/studio/pause")
    assert paused.status == 200, paused.body


def groom_paired(request: pytest.FixtureRequest) -> None:
    """The groom's phone, paired with WAHA (the account webhook_waha's `me` names)."""
    waha = request.getfixturevalue("waha_peer")
    waha.add_session("groom", phone="393470000001", push_name="Marco")
    api = request.getfixturevalue("api")
    put = api("PUT", "/v1/senders/groom", waha_sender(waha.base_url, "groom"))
    assert put.status == 200, put.body


def own_waha_allowed(request: pytest.FixtureRequest) -> None:
    """The template's default WahaAllowedBaseUrls: the stack's own WAHA service, which the sample
    names (the tests' stack allows only the WAHA fake)."""
    stack: StackResources = request.getfixturevalue("stack")
    own = f"http://waha.{stack.stack_name}.internal:3000"
    request.getfixturevalue("monkeypatch").setenv("WAHA_ALLOWED_BASE_URLS", own)
    request.getfixturevalue("make_services")()


def laguna(request: pytest.FixtureRequest) -> None:
    played("put_operator")


def giulias_request(request: pytest.FixtureRequest) -> None:
    """Giulia's RES-AB12CD in ingest_records, routed to Laguna Tours: the request
    confirm_reservation names (its id derives from her message's wamid and the code)."""
    laguna(request)
    played("put_binding")
    played("put_reservation_code")
    processor = load_function("webhook", "process")
    answer = processor.lambda_handler(sample("ingest_records"), FakeLambdaContext())
    assert answer == {"batchItemFailures": []}


def queued_message(request: pytest.FixtureRequest) -> None:
    """send_text's message, under the id the message samples name."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accept, "new_message_id", lambda now: SAMPLE_MESSAGE_ID)
        played("send_text", 202)


def failed_message(request: pytest.FixtureRequest) -> None:
    """send_text's message, refused by Meta for good (131026: the number cannot receive it)."""
    request.getfixturevalue("peer").add_fault(Fault(error_code=131026))
    queued_message(request)
    request.getfixturevalue("drain")()
    assert call_send_api(sample("get_message")).body["status"] == "failed"


# What each API sample answers, given what it refers to (GIVEN): a change here is a sample, or
# the API it documents, that changed.
API_STATUS = {
    "cancel_message": 200,
    "confirm_reservation": 200,
    "force_message": 202,
    "get_message": 200,
    "get_openapi": 200,
    "get_sender": 200,
    "get_sender_session": 200,
    "list_messages": 200,
    "list_reservations": 200,
    "list_senders": 200,
    "list_templates": 200,
    "put_binding": 200,
    "put_operator": 200,
    "put_reservation_code": 200,
    "put_sender": 200,
    "put_waha_sender": 200,
    "resume_sender": 200,
    "retry_message": 202,
    "send_batch": 200,
    "send_template": 202,
    "send_text": 202,
}
GIVEN: dict[str, Given] = {
    "cancel_message": queued_message,
    "confirm_reservation": giulias_request,
    "force_message": queued_message,
    "get_message": queued_message,
    "get_sender": studio,
    "get_sender_session": groom_paired,
    "put_binding": laguna,
    "put_waha_sender": own_waha_allowed,
    "resume_sender": paused_studio,
    "retry_message": failed_message,
}


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.stem)
def test_each_sample_event_is_handled_as_its_call_would_be(
    path: Path, services: Any, request: pytest.FixtureRequest
) -> None:
    event = json.loads(path.read_text())
    if "httpMethod" in event:
        routes = {(r.method, r.path) for r in api_routes()}
        assert (event["httpMethod"], event["resource"]) in routes
        if path.stem in GIVEN:
            GIVEN[path.stem](request)
        result = call_send_api(event)
        assert result.status == API_STATUS[path.stem], result.body
    elif event.get("version") == "2.0":  # at the webhook function's URL
        assert event["requestContext"]["http"]["method"] in ROUTES[event["rawPath"]]
        result = as_http(load_function("webhook").lambda_handler(event, FakeLambdaContext()))
        # signed with the tests' app secret and WAHA key, so it gets in
        assert result.status == 200, result.body
    elif "Records" in event:
        processor = load_function("webhook", "process")
        assert processor.lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    else:
        # The schedule's tick wakes nobody (no queue holds copies); a drainer finds nothing.
        scheduler = load_function("scheduler")
        answer = scheduler.lambda_handler(event, FakeLambdaContext(remaining_millis=10_000))
        assert answer == ({"woken": 0, "due_enqueued": 0} if "sender" not in event else answer)
        if "sender" in event:
            assert answer["received"] == 0 and answer["drain"] == "default#0"


def test_every_api_sample_has_its_expected_status() -> None:
    api_samples = {p.stem for p in EVENTS if "httpMethod" in json.loads(p.read_text())}
    assert api_samples == set(API_STATUS)
    assert set(GIVEN) <= api_samples
