"""`make run`'s stack, started as a subprocess and used over HTTP only, as a newcomer would."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.meta_contract import spec_path
from local.template_stack import REPO_ROOT
from postino.webhooks.signature import sign

API_KEY = "e2e-key"
APP_SECRET = "e2e-app-secret"


@dataclass
class Stack:
    api: str
    sandbox: str
    output: list[str]

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"x-api-key": API_KEY, **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.api}{path}", json=body, headers=headers, timeout=10, **kwargs
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not spec_path().exists():
        pytest.skip("the Meta sandbox checks requests against ../shared/contracts")
    ports = [free_port() for _ in range(3)]
    env = {
        **os.environ,
        "POSTINO_API_KEY": API_KEY,
        "META_APP_SECRET": APP_SECRET,
        "POSTINO_LOCAL_PORT": str(ports[0]),
        "POSTINO_SANDBOX_PORT": str(ports[1]),
        "POSTINO_MOTO_PORT": str(ports[2]),
    }
    for name in ("AWS_ENDPOINT_URL", "GRAPH_API_BASE_URL"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local.run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("ready: "):
            break
    assert output and output[-1].startswith("ready: "), "".join(output)
    stack = Stack(f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", output)
    yield stack
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    output.append(rest)
    assert process.returncode == 0 and "stopped" in rest


def until(check: Callable[[], Any], seconds: float = 30) -> Any:
    """Poll a condition over HTTP (the stack runs in real time)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_a_template_goes_queued_sent_delivered_read(stack: Stack) -> None:
    body = {
        "to": "+39 333 123 4567",
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
    assert phases[4:] == ["sent", "delivered", "read"]
    assert message["pricing"]["category"] == "utility"


def test_keyed_routes_answer_403_like_api_gateway(stack: Stack) -> None:
    for headers in ({"x-api-key": ""}, {"x-api-key": "wrong"}):
        answer = httpx.get(f"{stack.api}/v1/messages", headers=headers)
        assert answer.status_code == 403 and answer.json() == {"message": "Forbidden"}
    assert httpx.get(f"{stack.api}/v1/openapi.json").status_code == 200  # public by design
    assert httpx.get(f"{stack.api}/v1/nowhere").status_code == 403


def test_a_number_the_sandbox_fails_ends_failed_with_metas_error(stack: Stack) -> None:
    body = {
        "to": "+39 333 000 0000",
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }
    path = f"/v1/messages/{stack.call('POST', '/v1/messages', body).json()['id']}"
    assert until(lambda: stack.call("GET", path).json()["status"] == "failed")
    assert stack.call("GET", path).json()["error"]["code"] == "131026"


def test_an_inbound_res_code_becomes_a_request_and_notifies_the_operator(stack: Stack) -> None:
    operator = {"name": "Laguna Tours", "default_target": {"to": "+39 333 999 1234"}}
    assert stack.call("PUT", "/v1/operators/laguna", operator).status_code == 200
    binding = {"operator_id": "laguna"}
    assert stack.call("PUT", "/v1/experiences/gondola/binding", binding).status_code == 200
    code = {"experience_id": "gondola"}
    assert stack.call("PUT", "/v1/reservation-codes/RES-E2E001", code).status_code == 200
    played = httpx.post(
        f"{stack.sandbox}/_sandbox/inbound",
        json={"from": "393331112222", "text": "Hi! Booking RES-E2E001 for 2", "name": "Ada"},
    )
    assert played.status_code == 200 and played.json()["webhook_status"] == 200

    def notified() -> Any:
        items = stack.call("GET", "/v1/reservations", params={"status": "notified"}).json()
        return [r for r in items["items"] if r["code"] == "RES-E2E001"]

    (request,) = until(notified)
    assert request["profile_name"] == "Ada" and request["from"] == "393331112222"
    notification = stack.call("GET", f"/v1/messages/{request['notification_message_id']}")
    assert notification.json()["type"] == "template"
    # the operator gets it, through the queue and the rate window, like any message
    path = f"/v1/messages/{request['notification_message_id']}"
    assert until(lambda: stack.call("GET", path).json()["status"] == "read")
    assert stack.call("GET", path).json()["to"] == "393339991234"


def test_the_local_webhook_refuses_a_bad_signature(stack: Stack) -> None:
    raw = b'{"object": "whatsapp_business_account", "entry": []}'
    bad = httpx.post(
        f"{stack.api}/webhooks/meta", content=raw, headers={"X-Hub-Signature-256": "sha256=00"}
    )
    assert bad.status_code == 401
    good = httpx.post(
        f"{stack.api}/webhooks/meta",
        content=raw,
        headers={"X-Hub-Signature-256": sign(raw, APP_SECRET), "Content-Type": "application/json"},
    )
    assert good.status_code == 200
