"""Meta's webhook route through its real lambda_handler, as the function URL calls it: the
handshake, signatures, hostile input, and what is no route at all."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from local.functions import under_role
from local.template_stack import REPO_ROOT
from postino import aws
from postino.services import Services
from postino.webhooks.process import Processor
from postino.webhooks.signature import sign
from tests.conftest import VERIFY_TOKEN, sqs_depth
from tests.support.events import FakeLambdaContext, HttpResult, as_http, function_url_event
from tests.support.functions import load_function
from tests.support.stack_secrets import UNSET, assert_named_as_missing, unset_secret
from tests.support.webhooks import (
    APP_SECRET,
    inbound,
    status,
    statuses,
    text_message,
    webhook_event,
)

Webhook = Callable[..., HttpResult]


def ingest_depth(services: Services) -> int:
    return sqs_depth(services.settings.ingest_queue_url, "", "NotVisible")


def verify(query: dict[str, str]) -> HttpResult:
    route = load_function("webhook")
    event = webhook_event(None, method="GET", query=query)
    return as_http(route.lambda_handler(event, FakeLambdaContext()))


def test_meta_verification_answers_the_challenge_only_with_the_right_token(
    services: Services,
) -> None:
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    answer = verify(good)
    assert answer.status == 200 and answer.body == 1158201444  # as_http parses the text
    assert answer.headers["Content-Type"] == "text/plain"
    for wrong in (
        good | {"hub.verify_token": "guess"},
        good | {"hub.mode": "unsubscribe"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ):
        refused = verify(wrong)
        assert refused.status == 403 and refused.body["error"]["code"] == "verification_failed"


def at_the_url(method: str, path: str, raw: bytes = b"") -> HttpResult:
    """Any request at the webhook function's URL, through its real entry point and role."""
    route = under_role("WebhookFunction", load_function("webhook").lambda_handler)
    headers = {"Content-Type": "application/json"}
    return as_http(
        route(function_url_event(method, path, raw, headers=headers), FakeLambdaContext())
    )


@pytest.mark.parametrize("path", ["/", "/webhooks", "/webhooks/meta/", "/v1/messages", "/.env"])
def test_a_path_that_is_no_webhook_is_a_404_in_the_one_error_shape(
    services: Services, path: str
) -> None:
    # GIVEN the function URL, which hands the function every path (scanners find it)
    # WHEN a request comes for a path that is neither webhook
    answer = at_the_url("POST", path, b'{"object": "whatsapp_business_account", "entry": []}')
    # THEN it is a 404 in the one error shape, and nothing is queued
    assert answer.status == 404 and answer.headers["Content-Type"] == "application/json"
    assert answer.body == {
        "error": {
            "code": "not_found",
            "message": "There is no such route: the webhooks are /webhooks/meta and /webhooks/waha.",
            "details": [],
        }
    }
    assert ingest_depth(services) == 0


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/webhooks/waha", "POST"),
        ("PUT", "/webhooks/waha", "POST"),
        ("DELETE", "/webhooks/meta", "GET, POST"),
        ("PATCH", "/webhooks/meta", "GET, POST"),
    ],
)
def test_a_method_a_webhook_does_not_take_is_a_405_that_says_which_it_takes(
    services: Services, method: str, path: str, allow: str
) -> None:
    answer = at_the_url(method, path)
    assert answer.status == 405 and answer.headers["Allow"] == allow
    assert answer.body["error"]["code"] == "method_not_allowed"
    assert answer.body["error"]["message"].endswith(f"not {method}.")
    assert ingest_depth(services) == 0


def test_a_signed_notification_is_queued_then_answered(
    webhook: Webhook, services: Services
) -> None:
    body = inbound(text_message("wamid.A", "Ciao"))
    answer = webhook(body)
    assert answer.status == 200 and answer.body == {"received": True}
    (queued,) = aws.sqs().receive_message(QueueUrl=services.settings.ingest_queue_url)["Messages"]
    assert json.loads(queued["Body"]) == body


def test_the_signature_is_checked_over_the_raw_bytes_as_meta_sent_them(
    webhook: Webhook, services: Services
) -> None:
    # Meta's bytes: unusual spacing and escaped unicode that a re-serialisation would change
    raw = (
        b'{"object":"whatsapp_business_account",  "entry":[{"id":"1","changes":[]}],"x":"\\u00e8"}'
    )
    assert webhook(raw).status == 200
    # The same body sent as a binary type, which the function URL base64-encodes, verifies too
    assert webhook(raw, base64_encoded=True).status == 200
    assert ingest_depth(services) == 2


def test_a_base64_body_signed_over_its_bytes_is_accepted_and_queued_as_sent(
    webhook: Webhook, services: Services
) -> None:
    # GIVEN a notification Meta signed over its bytes, sent under a type that is not text
    body = inbound(text_message("wamid.B64", "Ciao"))
    raw = json.dumps(body, separators=(",", ":")).encode()
    event = webhook_event(raw, base64_encoded=True)
    assert event["isBase64Encoded"] and event["body"] != raw.decode()
    # WHEN it reaches the route
    route = under_role("WebhookFunction", load_function("webhook").lambda_handler)
    answer = as_http(route(event, FakeLambdaContext()))
    # THEN the signature holds over the decoded bytes, and the queue gets those bytes
    assert answer.status == 200
    (queued,) = aws.sqs().receive_message(QueueUrl=services.settings.ingest_queue_url)["Messages"]
    assert queued["Body"] == raw.decode()


@pytest.mark.parametrize(
    ("signature", "why"),
    [
        ("", "missing"),
        ("sha256=", "empty"),
        ("sha256=deadbeef", "wrong"),
        ("sha1=" + "0" * 40, "sha1"),
        (sign(b"another body", APP_SECRET), "signed another body"),
        (sign(b"{}", "not-the-app-secret"), "another secret"),
        ("garbage", "malformed"),
    ],
)
def test_a_bad_signature_is_refused_and_nothing_is_queued(
    webhook: Webhook,
    services: Services,
    capsys: pytest.CaptureFixture[str],
    signature: str,
    why: str,
) -> None:
    body = statuses(status("wamid.SECRET_BODY_MARKER", "read", 1795600000))
    answer = webhook(body, signature=signature)
    assert answer.status == 401, why
    assert answer.body["error"]["code"] == "invalid_signature"
    assert ingest_depth(services) == 0
    # counted, and the body never reaches the log
    out = capsys.readouterr().out
    assert '"WebhookSignatureInvalid"' in out and "SECRET_BODY_MARKER" not in out


@pytest.mark.parametrize("how", UNSET)
def test_without_the_app_secret_every_signature_is_a_401_and_nothing_is_queued(
    webhook: Webhook, services: Services, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    # GIVEN the app secret is not set up (the template leaves it to the operator)
    name = os.environ["APP_SECRET_NAME"]
    unset_secret(name, how)
    # WHEN a notification comes signed with the empty key, as anyone can sign, or with the
    # secret that was meant to be there
    for secret in ("", APP_SECRET):
        answer = webhook(inbound(text_message("wamid.NO_SECRET", "Ciao")), secret=secret)
        # THEN it is a 401 in the one error shape
        assert answer.status == 401, secret
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.body == {
            "error": {
                "code": "invalid_signature",
                "message": "The X-Hub-Signature-256 header is missing or does not match the body.",
                "details": [],
            }
        }
    # AND nothing is queued, and the log names the secret to create
    assert ingest_depth(services) == 0
    assert_named_as_missing(name, caplog.records)


@pytest.mark.parametrize(
    ("raw", "status_code", "code"),
    [
        (b"not json at all", 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (b"[1, 2, 3]", 400, "unsupported_object"),
        (b'"a string"', 400, "unsupported_object"),
        (b'{"object": "page", "entry": []}', 400, "unsupported_object"),
        (b'{"object": "whatsapp_business_account"}', 400, "invalid_field"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', 400, "invalid_field"),
        (b'{"object": "whatsapp_business_account", "x": "\xff\xfe"}', 400, "malformed_json"),
    ],
)
def test_hostile_bodies_are_refused_even_when_signed(
    webhook: Webhook, services: Services, raw: bytes, status_code: int, code: str
) -> None:
    # Invalid UTF-8 can only arrive base64-encoded: the function URL passes text as text
    answer = webhook(raw, base64_encoded=True)
    assert answer.status == status_code and answer.body["error"]["code"] == code
    assert answer.body["error"]["message"]
    assert ingest_depth(services) == 0


def test_a_body_larger_than_sqs_takes_is_413(
    webhook: Webhook, services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    body: dict[str, Any] = statuses(status("wamid.BIG", "sent", 1795600000))
    body["padding"] = "x" * 300_000
    answer = webhook(body)
    assert answer.status == 413 and answer.body["error"]["code"] == "payload_too_large"
    assert ingest_depth(services) == 0
    assert '"WebhookTooLarge"' in capsys.readouterr().out


def test_when_the_queue_fails_meta_gets_a_500_to_retry(
    webhook: Webhook, services: Services
) -> None:
    aws.sqs().delete_queue(QueueUrl=services.settings.ingest_queue_url)
    answer = webhook(inbound(text_message("wamid.C", "Ciao")))
    assert answer.status == 500 and answer.body["error"]["code"] == "enqueue_failed"


def test_statuses_the_route_cannot_settle_and_cannot_queue_are_a_500_to_retry(
    webhook: Webhook, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the messages table failing, then the queue gone too
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(Processor, "apply_status", unavailable)
    aws.sqs().delete_queue(QueueUrl=services.settings.ingest_queue_url)
    answer = webhook(statuses(status("wamid.D", "delivered", 1795600000)))
    assert answer.status == 500 and answer.body["error"]["code"] == "enqueue_failed"


def test_the_route_imports_nothing_heavy() -> None:
    # On Meta's clock, a cold start pays for every import: no pydantic, X-Ray SDK or settings.
    folder = REPO_ROOT / "functions" / "webhook"
    probe = (
        "import sys, app; "
        "print([m for m in ('pydantic', 'aws_xray_sdk', 'postino.settings', 'httpx') "
        "if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'layers' / 'common'}:{folder}"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
