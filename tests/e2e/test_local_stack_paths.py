"""The API's paths end to end on the local stack: what a user does, and what Meta throws."""

import json
import time
import uuid
from typing import Any

import httpx

from local.template_stack import REPO_ROOT
from tests.e2e.conftest import API_KEY, Stack, fresh_number, until

HELLO = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}


def send(stack: Stack, **fields: Any) -> dict[str, Any]:
    answer = stack.call("POST", "/v1/messages", {"to": fresh_number(), **HELLO, **fields})
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def status_of(stack: Stack, message_id: str) -> str:
    result: str = stack.call("GET", f"/v1/messages/{message_id}").json()["status"]
    return result


def phases(stack: Stack, message_id: str) -> list[str]:
    return [e["phase"] for e in stack.call("GET", f"/v1/messages/{message_id}").json()["events"]]


def fault(stack: Stack, **spec: Any) -> None:
    assert httpx.post(f"{stack.sandbox}/_sandbox/faults", json=spec).status_code == 200


def test_an_idempotency_key_makes_a_retried_post_one_message(stack: Stack) -> None:
    body = {"to": fresh_number(), **HELLO}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = stack.call("POST", "/v1/messages", body, headers=key)
    again = stack.call("POST", "/v1/messages", body, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = stack.call("POST", "/v1/messages", {**body, "to": fresh_number()}, headers=key)
    assert other.status_code == 409


def test_a_batch_queues_the_good_items_and_names_the_bad_one(stack: Stack) -> None:
    items = [
        {"to": fresh_number(), **HELLO},
        {"to": "12", **HELLO},
        {"to": fresh_number(), **HELLO},
    ]
    answer = stack.call("POST", "/v1/messages/batch", {"messages": items})
    results = answer.json()["results"]
    assert [r["error"] is None for r in results] == [True, False, True]
    assert until(lambda: all(status_of(stack, r["id"]) == "read" for r in results if r["id"]))


def test_a_scheduled_message_waits_and_a_cancelled_one_never_goes(stack: Stack) -> None:
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    scheduled = send(stack, send_at=soon)
    assert scheduled["status"] == "scheduled"
    cancelled = send(stack, send_at=later)
    assert stack.call("POST", f"/v1/messages/{cancelled['id']}/cancel").status_code == 200
    assert until(lambda: status_of(stack, scheduled["id"]) == "read")
    assert status_of(stack, cancelled["id"]) == "cancelled"


def test_a_throttled_send_is_retried_by_itself_and_arrives(stack: Stack) -> None:
    to = fresh_number()
    fault(stack, error_code=130429, times=1, match_to=to[-7:])
    message = stack.call("POST", "/v1/messages", {"to": to, **HELLO}).json()
    assert until(lambda: status_of(stack, message["id"]) == "read", seconds=40)
    assert "retry_scheduled" in phases(stack, message["id"])


def test_a_failed_message_is_sent_again_when_the_user_retries(stack: Stack) -> None:
    to = fresh_number()
    fault(stack, error_code=131009, times=1, match_to=to[-7:])  # Meta: a parameter is wrong
    message = stack.call("POST", "/v1/messages", {"to": to, **HELLO}).json()
    assert until(lambda: status_of(stack, message["id"]) == "failed")
    assert stack.call("POST", f"/v1/messages/{message['id']}/retry").status_code == 202
    assert until(lambda: status_of(stack, message["id"]) == "read")


def test_a_timeout_is_an_unknown_outcome_that_is_never_resent(stack: Stack) -> None:
    to = fresh_number()
    fault(stack, kind="timeout", hold_seconds=25, times=1, match_to=to[-7:])
    message = stack.call("POST", "/v1/messages", {"to": to, **HELLO}).json()
    assert until(lambda: status_of(stack, message["id"]) == "unknown", seconds=40)
    # WHEN two drains of its sender have run since: each sent a message queued after it
    for _ in range(2):
        later = send(stack)
        assert until(lambda: status_of(stack, later["id"]) == "read")  # noqa: B023
    # THEN it still is not resent
    sent = httpx.get(f"{stack.sandbox}/_sandbox/requests").json()["requests"]
    assert len([r for r in sent if (r["body"] or {}).get("to") == to.lstrip("+")]) == 1


def test_a_tight_window_spaces_sends_and_force_goes_past_it(stack: Stack) -> None:
    sender = {
        "phone_number_id": "100000000000001",
        "access_token_secret": "postino/meta/access-token",
        # a short window stands in for "10 an hour": the third waits past what a drainer holds
        # in hand (10 s), so it goes back to the queue with a rate_limited event
        "limits": [{"max": 2, "per_seconds": 15}],
        "enforce_service_window": False,
    }
    tight = f"tight-{uuid.uuid4().hex[:8]}"
    assert stack.call("PUT", f"/v1/senders/{tight}", sender).status_code == 200
    ids = [send(stack, sender=tight)["id"] for _ in range(3)]
    assert until(lambda: all(status_of(stack, i) == "read" for i in ids), seconds=60)
    waited = [i for i in ids if "rate_limited" in phases(stack, i)]
    assert len(waited) == 1 and phases(stack, waited[0]).count("rate_limited") == 1
    requests = httpx.get(f"{stack.sandbox}/_sandbox/requests").json()["requests"]
    arrivals = sorted(
        r["at"]
        for r in requests
        if r["status"] == 200 and (r["body"] or {}).get("biz_opaque_callback_data") in ids
    )
    assert len(arrivals) == 3 and arrivals[2] - arrivals[0] >= 15
    # WHEN a sender's window is full (another sender: a running drainer caches profiles for
    # a few seconds, so a changed limit is not the test), force sends at once anyway
    sender["limits"] = [{"max": 1, "per_seconds": 3600}]
    full = f"full-{uuid.uuid4().hex[:8]}"
    assert stack.call("PUT", f"/v1/senders/{full}", sender).status_code == 200
    first, second = send(stack, sender=full), send(stack, sender=full)
    assert until(lambda: status_of(stack, first["id"]) == "read")
    assert until(lambda: "rate_limited" in phases(stack, second["id"]))
    assert stack.call("POST", f"/v1/messages/{second['id']}/force").status_code == 202
    assert until(lambda: status_of(stack, second["id"]) == "read")


def test_a_server_error_at_meta_is_retried_and_the_message_arrives(stack: Stack) -> None:
    to = fresh_number()
    fault(stack, error_code=131000, http_status=500, times=2, match_to=to[-7:])
    message = stack.call("POST", "/v1/messages", {"to": to, **HELLO}).json()
    assert until(lambda: status_of(stack, message["id"]) == "read", seconds=60)
    assert phases(stack, message["id"]).count("retry_scheduled") == 2


def test_hostile_webhooks_at_the_local_route_change_nothing(stack: Stack) -> None:
    before = len(stack.call("GET", "/v1/reservations").json()["items"])
    url = f"{stack.webhooks}webhooks/meta"
    assert httpx.post(url, content=b"not json").status_code == 401  # unsigned
    huge = b'{"object": "whatsapp_business_account", "entry": [], "x": "' + b"y" * 300_000 + b'"}'
    assert httpx.post(url, content=huge).status_code == 413
    verify = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "42"}
    assert httpx.get(url, params=verify).status_code == 403
    assert len(stack.call("GET", "/v1/reservations").json()["items"]) == before


def test_each_sample_api_event_is_answered_through_the_local_gateway(stack: Stack) -> None:
    for path in sorted((REPO_ROOT / "events").glob("*.json")):
        event = json.loads(path.read_text())
        if "httpMethod" not in event:
            continue  # not the REST API's (the webhook samples are the function URL's)
        answer = httpx.request(
            event["httpMethod"],
            f"{stack.api}{event['path']}",
            params=event["queryStringParameters"],
            content=(event["body"] or "").encode(),
            headers={"x-api-key": API_KEY, "content-type": "application/json"},
        )
        assert answer.status_code < 500, (path.name, answer.text)
