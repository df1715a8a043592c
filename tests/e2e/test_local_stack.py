"""`make run`'s stack, started as a subprocess and used over HTTP only, as a newcomer would."""

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.template_stack import REPO_ROOT
from postino.webhooks.signature import sign
from tests.e2e.conftest import (
    API_KEY,
    APP_SECRET,
    Stack,
    fresh_number,
    start_stack,
    stop_stack,
    until,
)


@pytest.fixture
def newcomers_stack() -> Iterator[Stack]:
    """A stack as `make run` leaves it for a newcomer, for the demo alone: the demo pairs the
    seeded groom and bride, and sends to and from the numbers it tells about."""
    running, started = start_stack()
    yield running
    stop_stack(started)


def test_a_template_goes_queued_sent_delivered_read(stack: Stack) -> None:
    body = {
        "to": fresh_number(),
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }
    accepted = stack.call("POST", "/v1/messages", body)
    assert accepted.status_code == 202, accepted.text
    path = f"/v1/messages/{accepted.json()['id']}"
    assert until(lambda: stack.call("GET", path).json()["status"] == "read")
    message = stack.call("GET", path).json()
    phases = [e["phase"] for e in message["events"]]
    assert phases[:4] == ["accepted", "queued", "sending", "provider_accepted"]
    # Meta's `sent` repeats provider_accepted (our record of the send) and is not written
    assert phases[4:] == ["delivered", "read"]
    assert message["pricing"]["category"] == "utility"


def test_keyed_routes_answer_403_like_api_gateway(stack: Stack) -> None:
    for headers in ({"x-api-key": ""}, {"x-api-key": "wrong"}):
        answer = httpx.get(f"{stack.api}/v1/messages", headers=headers)
        assert answer.status_code == 403 and answer.json() == {"message": "Forbidden"}
    assert httpx.get(f"{stack.api}/v1/openapi.json").status_code == 200  # public by design
    assert httpx.get(f"{stack.api}/v1/nowhere").status_code == 403


def test_a_number_the_sandbox_fails_ends_failed_with_metas_error(stack: Stack) -> None:
    body = {
        "to": fresh_number(ending="0000"),
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }
    path = f"/v1/messages/{stack.call('POST', '/v1/messages', body).json()['id']}"
    assert until(lambda: stack.call("GET", path).json()["status"] == "failed")
    assert stack.call("GET", path).json()["error"]["code"] == "131026"


def test_an_inbound_res_code_becomes_a_request_and_notifies_the_operator(stack: Stack) -> None:
    # GIVEN an operator of the test's own, an experience bound to it, and the experience's code
    suffix = uuid.uuid4().hex[:6]
    laguna, gondola, code = f"laguna-{suffix}", f"gondola-{suffix}", f"RES-{suffix.upper()}"
    desk, customer = fresh_number(), fresh_number().lstrip("+")
    operator = {"name": "Laguna Tours", "default_target": {"to": desk}}
    assert stack.call("PUT", f"/v1/operators/{laguna}", operator).status_code == 200
    binding = {"operator_id": laguna}
    assert stack.call("PUT", f"/v1/experiences/{gondola}/binding", binding).status_code == 200
    registered = {"experience_id": gondola}
    assert stack.call("PUT", f"/v1/reservation-codes/{code}", registered).status_code == 200
    # WHEN a customer writes the code
    played = httpx.post(
        f"{stack.sandbox}/_sandbox/inbound",
        json={"from": customer, "text": f"Hi! Booking {code} for 2", "name": "Ada"},
    )
    assert played.status_code == 200 and played.json()["webhook_status"] == 200

    def notified() -> Any:
        items = stack.call("GET", "/v1/reservations", params={"status": "notified"}).json()
        return [r for r in items["items"] if r["code"] == code]

    # THEN it becomes a request, and the operator is notified with a template
    (request,) = until(notified)
    assert request["profile_name"] == "Ada" and request["from"] == customer
    notification = stack.call("GET", f"/v1/messages/{request['notification_message_id']}")
    assert notification.json()["type"] == "template"
    # the operator gets it, through the queue and the rate window, like any message
    path = f"/v1/messages/{request['notification_message_id']}"
    assert until(lambda: stack.call("GET", path).json()["status"] == "read")
    assert stack.call("GET", path).json()["to"] == desk.lstrip("+")


def test_the_local_webhook_refuses_a_bad_signature(stack: Stack) -> None:
    raw = b'{"object": "whatsapp_business_account", "entry": []}'
    bad = httpx.post(
        f"{stack.webhooks}webhooks/meta", content=raw, headers={"X-Hub-Signature-256": "sha256=00"}
    )
    assert bad.status_code == 401
    good = httpx.post(
        f"{stack.webhooks}webhooks/meta",
        content=raw,
        headers={"X-Hub-Signature-256": sign(raw, APP_SECRET), "Content-Type": "application/json"},
    )
    assert good.status_code == 200
    # AND signed bytes sent under a binary type arrive base64-encoded, and verify all the same
    binary = httpx.post(
        f"{stack.webhooks}webhooks/meta",
        content=raw,
        headers={
            "X-Hub-Signature-256": sign(raw, APP_SECRET),
            "Content-Type": "application/octet-stream",
        },
    )
    assert binary.status_code == 200


def test_the_webhooks_are_on_the_function_url_the_stack_prints_not_on_the_api(
    stack: Stack,
) -> None:
    # GIVEN the stack's welcome: the webhook URLs, as the WebhookUrl outputs name them
    printed = {line.split()[0]: line.split()[-1] for line in stack.welcome if "WebhookUrl" in line}
    assert printed == {
        "WebhookUrl": f"{stack.webhooks}webhooks/meta",
        "WahaWebhookUrl": f"{stack.webhooks}webhooks/waha",
    }
    # WHEN a webhook is posted to the REST API THEN it is no route there (API Gateway's 403)
    answer = httpx.post(f"{stack.api}/webhooks/meta", content=b"{}")
    assert answer.status_code == 403 and answer.json() == {
        "message": "Missing Authentication Token"
    }
    # AND the function URL answers what is no webhook in the one error shape
    unknown = httpx.post(f"{stack.webhooks}wp-login.php", content=b"{}")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    wrong = httpx.get(f"{stack.webhooks}webhooks/waha")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    # AND Meta's handshake works at the printed URL
    handshake = {
        "hub.mode": "subscribe",
        "hub.verify_token": "local-verify-token",
        "hub.challenge": "1158201444",
    }
    verified = httpx.get(printed["WebhookUrl"], params=handshake)
    assert verified.status_code == 200 and verified.text == "1158201444"


def test_the_demo_tells_the_story_and_exits_0(newcomers_stack: Stack) -> None:
    stack = newcomers_stack
    env = {
        **os.environ,
        "POSTINO_LOCAL_PORT": stack.api.rsplit(":", 1)[1],
        "POSTINO_SANDBOX_PORT": stack.sandbox.rsplit(":", 1)[1],
        "POSTINO_WAHA_PORT": stack.waha.rsplit(":", 1)[1],
        "POSTINO_API_KEY": API_KEY,
    }
    demo = subprocess.run(
        [sys.executable, "-m", "local.demo"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "failed: 131026 Message undeliverable" in demo.stdout
    assert "status notified" in demo.stdout and demo.stdout.rstrip().endswith("DynamoDB.")
    # The wedding: both WAHA phones paired, each invitation read after a person's gestures
    assert "groom: scanned → WORKING" in demo.stdout and "bride: scanned → WORKING" in demo.stdout
    for phase in ("reading", "waiting_human", "typing", "provider_accepted"):
        assert demo.stdout.count(f" {phase} ") >= 2, phase
    # The guests' answers, threaded on the invitations and counted in the campaign's report
    assert demo.stdout.count("answer is threaded on the invitation") == 2
    assert "campaign wedding: " in demo.stdout
    assert re.search(r"\breplied [1-9][0-9]* of [0-9]+\b", demo.stdout), demo.stdout
