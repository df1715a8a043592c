"""The local stack (`make run`), started once per test session as a subprocess, used over HTTP."""

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.meta_contract import spec_path
from local.spawn import PORT_TAKEN, StartedStack, free_ports, spawn
from local.waha_contract import spec_path as waha_spec_path
from tests.support.prerequisites import require_contract

API_KEY = "e2e-key"
APP_SECRET = "e2e-app-secret"
# The seeded WAHA senders' key (local/embedded_aws.py): a test's own WAHA phone uses it too.
WAHA_KEY_SECRET = "postino/waha/api-key"


@dataclass
class Stack:
    api: str
    # The webhook function's URL, ending in "/" as Lambda gives it.
    webhooks: str
    sandbox: str
    waha: str
    # The dashboard's WebSocket (ws://…/prod), as the LiveUrl output gives it on AWS.
    live: str
    # Its @connections API (http://…/prod), which LiveFunction posts to.
    live_connections: str
    output: list[str]
    welcome: list[str]

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"x-api-key": API_KEY, **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.api}{path}", json=body, headers=headers, timeout=10, **kwargs
        )


def start_stack(**settings: str) -> tuple[Stack, StartedStack]:
    # The Meta sandbox and the WAHA fake check every request against their peer's contract.
    require_contract(spec_path())
    require_contract(waha_spec_path())
    try:
        return _start_stack(free_ports(6), settings)
    except RuntimeError as error:
        if PORT_TAKEN not in str(error):
            raise
        # Another stack (a test on the other worker) took a port between the choice and the
        # bind: once more, with new ports.
        return _start_stack(free_ports(6), settings)


def _start_stack(ports: list[int], settings: dict[str, str]) -> tuple[Stack, StartedStack]:
    env = {
        **os.environ,
        "POSTINO_API_KEY": API_KEY,
        "META_APP_SECRET": APP_SECRET,
        "POSTINO_LOCAL_PORT": str(ports[0]),
        "POSTINO_SANDBOX_PORT": str(ports[1]),
        "POSTINO_MOTO_PORT": str(ports[2]),
        "POSTINO_WAHA_PORT": str(ports[3]),
        "POSTINO_WEBHOOK_PORT": str(ports[4]),
        "POSTINO_LIVE_PORT": str(ports[5]),
        # retries and waits come back on the next scheduled drain: every 2 s, not every minute
        "POSTINO_DRAIN_EVERY_SECONDS": "2",
        **settings,
    }
    for name in ("AWS_ENDPOINT_URL", "GRAPH_API_BASE_URL", "WAHA_BASE_URL"):
        env.pop(name, None)
    started = spawn(env)
    api, sandbox, waha, webhooks = (f"http://127.0.0.1:{ports[i]}" for i in (0, 1, 3, 4))
    live = f"ws://127.0.0.1:{ports[5]}/prod"
    connections = next(line.split()[-1] for line in started.welcome if "@connections" in line)
    stack = Stack(
        api, f"{webhooks}/", sandbox, waha, live, connections, started.later, started.welcome
    )
    return stack, started


def stop_stack(started: StartedStack) -> None:
    started.process.send_signal(signal.SIGTERM)
    # 60 s: in a full `make test` a stack busy to the end once took more than 30 s to get to
    # its signal (local/run.py then exits within 20 s, dumping its threads if it hangs).
    started.process.wait(timeout=60)
    time.sleep(0.2)  # the reader thread takes the last lines
    output = "".join(started.later)
    assert started.process.returncode == 0 and "stopped" in output, output[-2000:]
    # Each function ran under its own role: a refusal anywhere in the run fails it.
    denied = [line for line in started.later if " DENIED " in line]
    assert not denied, "".join(denied)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    running, started = start_stack()
    yield running
    stop_stack(started)


def until(check: Callable[[], Any], seconds: float = 30) -> Any:
    """Poll a condition over HTTP (the stack runs in real time)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def fresh_number(ending: str = "5") -> str:
    """An Italian mobile number no other test sends to or writes from. It ends in `ending`: 5
    by default, never the 0000 or 0001 that the Meta sandbox fails."""
    width = 8 - len(ending)
    return f"+3933{uuid.uuid4().int % 10**width:0{width}d}{ending}"


def session_status(stack: Stack, sender: str) -> str:
    """The session's status, as WAHA has it now."""
    status: str = stack.call("GET", f"/v1/senders/{sender}/session").json()["status"]
    return status


def heard_status(stack: Stack, sender: str) -> str | None:
    """The session's status as Postino last heard it, from WAHA's `session.status` webhooks."""
    status: str | None = stack.call("GET", f"/v1/senders/{sender}").json()["session_status"]
    return status


def new_waha_sender(stack: Stack, role: str) -> str:
    """A WAHA sender of the test's own (named after its `role`), on a session WAHA has never
    seen: no other test's sends, gaps or pairing touch it."""
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    settings = {
        "provider": "waha",
        "base_url": stack.waha,
        "api_key_secret": WAHA_KEY_SECRET,
        "session": name,
    }
    answer = stack.call("PUT", f"/v1/senders/{name}", settings)
    assert answer.status_code == 200, answer.text
    return name


def new_phone(stack: Stack, role: str) -> str:
    """A WAHA sender of its own whose session is started: its phone waits for the QR code, and
    Postino has heard so from the session's webhooks."""
    name = new_waha_sender(stack, role)
    # The webhook processor re-reads its senders at most every 5 s, and drops the events of a
    # session it does not know yet: the session is restarted until one of its events lands.
    for action in ("start", "restart", "restart", "restart"):
        answer = stack.call("POST", f"/v1/senders/{name}/session/{action}")
        assert answer.status_code == 200, answer.text
        if until(lambda: heard_status(stack, name) == "SCAN_QR_CODE", seconds=3):
            return name
    raise AssertionError(f"Postino never heard of the session {name}")


def scan(stack: Stack, sender: str) -> None:
    """The phone scans its session's QR code (the WAHA sandbox plays it): the session works,
    and Postino has heard so."""
    assert httpx.post(f"{stack.waha}/_sandbox/waha/{sender}/scan").status_code == 200
    assert until(lambda: session_status(stack, sender) == heard_status(stack, sender) == "WORKING")
