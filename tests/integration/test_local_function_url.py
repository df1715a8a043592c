"""Lambda's function URL rules, through the local function URL (local/function_url.py).

What the function sees is what Lambda builds (payload format 2.0), and what the peer gets is what
Lambda makes of the answer; and a URL whose resource-based policy lacks either statement
AuthType NONE needs (since October 2025, lambda:InvokeFunction too) never runs the function.
"""

import base64
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.function_url import FunctionUrl, LocalFunctionUrl, function_urls
from local.http_server import Served

URL = FunctionUrl("WebhookFunction", "NONE", "BUFFERED", public=True)
Serve = Callable[..., Served]


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    return []


def local_url(url: FunctionUrl, handler: Callable[..., Any]) -> Serve:
    """The local URL in front of `handler`, called without a socket."""
    front = LocalFunctionUrl(url, handler, port=0)
    front.server.server_close()
    return front.serve


@pytest.fixture
def serve(seen: list[dict[str, Any]]) -> Serve:
    """A function that keeps its events and answers 200 "ok", behind the local URL."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}

    return local_url(URL, handler)


def test_the_event_is_lambdas_payload_format_2(serve: Serve, seen: list[dict[str, Any]]) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=ab",
        "Cookie": "a=1; b=2",
    }
    status, _, body = serve("POST", "/webhooks/meta?x=1&x=2&y=", headers, b'{"k": "v"}')
    assert (status, body) == (200, b"ok")
    (event,) = seen
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/webhooks/meta" and event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["a=1", "b=2"] and "cookie" not in event["headers"]
    # every header in lowercase, the host the URL's own
    assert event["headers"]["x-hub-signature-256"] == "sha256=ab"
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["host"] == URL.domain == event["requestContext"]["domainName"]
    http = event["requestContext"]["http"]
    assert http["method"] == "POST" and http["path"] == "/webhooks/meta"
    assert event["requestContext"]["accountId"] == "anonymous"  # AuthType NONE
    assert event["body"] == '{"k": "v"}' and event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    ("content_type", "as_text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", True),
        ("application/xml", True),
        ("application/octet-stream", False),
        ("application/x-www-form-urlencoded", False),
        ("image/png", False),
        (None, False),
    ],
)
def test_a_body_is_text_only_under_a_text_type(
    serve: Serve, seen: list[dict[str, Any]], content_type: str | None, as_text: bool
) -> None:
    raw = b'{"object": "whatsapp_business_account"}'
    serve("POST", "/webhooks/meta", {"Content-Type": content_type} if content_type else {}, raw)
    (event,) = seen
    assert event["isBase64Encoded"] is not as_text
    assert event["body"] == (raw.decode() if as_text else base64.b64encode(raw).decode())


def test_a_request_without_a_body_has_none(serve: Serve, seen: list[dict[str, Any]]) -> None:
    serve("GET", "/webhooks/meta", {}, b"")
    (event,) = seen
    assert "body" not in event and event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event and event["rawQueryString"] == ""


def test_the_answer_is_mapped_as_lambda_maps_it() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        encoded = base64.b64encode(b"\x89PNG").decode()
        return {
            "statusCode": 201,
            "headers": {"X-A": "1"},
            "body": encoded,
            "isBase64Encoded": True,
        }

    serve = local_url(URL, handler)
    assert serve("POST", "/", {}, b"") == (201, {"X-A": "1"}, b"\x89PNG")


def test_a_function_that_raises_is_a_502() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    serve = local_url(URL, handler)
    status, _, body = serve("POST", "/webhooks/meta", {}, b"{}")
    assert status == 502 and body == b"Internal Server Error"


def rendered_with(*permissions: dict[str, Any]) -> dict[str, Any]:
    url = {"TargetFunctionArn": {"Ref": "F"}, "AuthType": "NONE", "InvokeMode": "BUFFERED"}
    resources = {"FUrl": {"Type": "AWS::Lambda::Url", "Properties": url}}
    for n, permission in enumerate(permissions):
        properties = {"FunctionName": {"Ref": "F"}, "Principal": "*", **permission}
        resources[f"P{n}"] = {"Type": "AWS::Lambda::Permission", "Properties": properties}
    return {"Resources": resources}


URL_PERMISSION = {"Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE"}
INVOKE_PERMISSION = {"Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True}


@pytest.mark.parametrize(
    ("permissions", "public"),
    [
        ((URL_PERMISSION, INVOKE_PERMISSION), True),
        ((URL_PERMISSION,), False),  # a URL made before October 2025 had only this one
        ((INVOKE_PERMISSION,), False),
        ((), False),
    ],
)
def test_without_both_statements_every_request_is_lambdas_403(
    permissions: tuple[dict[str, Any], ...], public: bool
) -> None:
    # GIVEN a rendered template whose URL has these statements in its function's policy
    url = function_urls(rendered_with(*permissions))["F"]
    assert url.public is public
    calls: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"statusCode": 200}

    serve = local_url(url, handler)
    # WHEN anyone calls it
    status, _, body = serve("POST", "/webhooks/meta", {}, b"{}")
    # THEN Lambda answers for a URL not public, and the function never runs
    assert (status == 403) is not public and (calls == []) is not public
    if not public:
        assert body == b'{"Message":"Forbidden"}'


def test_what_it_cannot_emulate_is_refused() -> None:
    template = rendered_with(URL_PERMISSION, INVOKE_PERMISSION)
    template["Resources"]["FUrl"]["Properties"]["AuthType"] = "AWS_IAM"
    with pytest.raises(ValueError, match="AWS_IAM"):
        function_urls(template)


def test_a_request_whose_client_gave_up_while_it_waited_is_not_run() -> None:
    # Lambda would have run it at once in another environment; the local URL has one, and a
    # request queued behind a slow one is the local stack's queue, not the function's work. Run
    # after its client gave up (Meta's sandbox retries it), it would be work done twice.
    first_running, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        ran.append(event["body"])  # text: it came as text/plain
        first_running.set()
        release.wait(10)
        return {"statusCode": 200, "body": "ok"}

    front = LocalFunctionUrl(URL, handler, port=0)
    threading.Thread(target=front.server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{front.server.server_address[1]}/webhooks/meta"
    try:
        # GIVEN one request is being served, slowly
        slow = threading.Thread(target=lambda: post(url, b"first", 10))
        slow.start()
        assert first_running.wait(5)
        # WHEN a second one waits behind it longer than its client will wait
        with pytest.raises(httpx.ReadTimeout):
            post(url, b"second", 0.3)
        release.set()
        slow.join(10)
        # THEN the function ran the first only; AND the URL still serves the next one
        assert post(url, b"third", 10).status_code == 200
        assert ran == ["first", "third"]
    finally:
        release.set()
        front.server.shutdown()
        front.server.server_close()


def post(url: str, body: bytes, timeout: float) -> httpx.Response:
    return httpx.post(url, content=body, headers={"Content-Type": "text/plain"}, timeout=timeout)
