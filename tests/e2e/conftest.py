"""The local stack (`make run`), started once per test session as a subprocess, used over HTTP."""

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.meta_contract import spec_path
from local.spawn import PORT_TAKEN, StartedStack, free_ports, spawn

API_KEY = "e2e-key"
APP_SECRET = "e2e-app-secret"


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
    if not spec_path().exists():
        pytest.skip("the Meta sandbox checks requests against ../shared/contracts")
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
