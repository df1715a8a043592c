"""A drainer killed mid-batch (SIGKILL): nothing lost, nothing sent twice."""

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.template_stack import REPO_ROOT
from postino.settings import Settings
from tests.e2e.conftest import Stack, start_stack, stop_stack, until

HELLO = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}
SETTLED = {"sent", "delivered", "read", "unknown"}
# A drain stops taking work this long before its invocation's limit.
MARGIN = Settings().drain_margin_seconds


@pytest.fixture
def undrained(tmp_path: Path) -> Iterator[tuple[Stack, Path]]:
    """A stack whose drainers run only when the test starts them, each in its own process."""
    env_file = tmp_path / "stack-env.json"
    running, started = start_stack(POSTINO_LOCAL_DRAIN="off", POSTINO_ENV_FILE=str(env_file))
    yield running, env_file
    stop_stack(started)


def drainer(env_file: Path, seconds: float) -> subprocess.Popen[str]:
    """A drain invocation that may work `seconds` (its limit is that plus the margin)."""
    return subprocess.Popen(
        [sys.executable, "-m", "local.drain_once", str(env_file), str(seconds + MARGIN)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def sends_to(stack: Stack) -> dict[str, int]:
    """How many send requests reached the sandbox, per recipient."""
    counts: dict[str, int] = {}
    for request in httpx.get(f"{stack.sandbox}/_sandbox/requests").json()["requests"]:
        to = (request["body"] or {}).get("to") if request["path"].endswith("/messages") else None
        if to:
            counts[to] = counts.get(to, 0) + 1
    return counts


def test_a_drainer_killed_mid_batch_loses_nothing_and_doubles_nothing(
    undrained: tuple[Stack, Path],
) -> None:
    stack, env_file = undrained
    # GIVEN six messages, and a Meta that takes 3 s to answer each send
    assert httpx.post(f"{stack.sandbox}/_sandbox/faults", json={"latency": 3}).status_code == 200
    numbers = [f"3933{uuid.uuid4().int % 10**7:07d}5" for _ in range(6)]
    ids = [
        stack.call("POST", "/v1/messages", {"to": f"+{n}", **HELLO}).json()["id"] for n in numbers
    ]
    # WHEN a drainer is killed while its sends are in flight
    first = drainer(env_file, 8)
    assert until(lambda: sends_to(stack), seconds=30), "the drainer never sent"
    first.send_signal(signal.SIGKILL)
    first.wait()
    in_flight = sends_to(stack)
    httpx.post(f"{stack.sandbox}/_sandbox/faults", json={"latency": 0})

    # THEN later drainers (once its lease and the copies it held run out) settle every message
    def settled() -> bool:
        statuses = [stack.call("GET", f"/v1/messages/{i}").json()["status"] for i in ids]
        if all(s in SETTLED for s in statuses):
            return True
        later = drainer(env_file, 12)
        later.wait(timeout=60)
        return False

    assert until(settled, seconds=240)
    messages = [stack.call("GET", f"/v1/messages/{i}").json() for i in ids]
    sent = sends_to(stack)
    # nothing doubled: no recipient got two sends
    assert all(count == 1 for count in sent.values()), sent
    # nothing lost: every message was sent, or is unknown because the kill caught it between
    # its claim and its answer (its request in flight, or not yet out), and was never resent
    for number, message in zip(numbers, messages, strict=True):
        if message["status"] == "unknown":
            assert message["events"][-1]["phase"] == "outcome_unknown"
            assert sent.get(number) == in_flight.get(number), (number, sent, in_flight)
        else:
            assert sent.get(number) == 1
    # the kill caught sends in flight: those became unknown, never resent (their status
    # webhooks, retried meanwhile, may have settled them since: the timeline keeps the unknown)
    caught = [m for m in messages if "outcome_unknown" in (e["phase"] for e in m["events"])]
    assert in_flight and caught, [[(e["phase"], e["at"]) for e in m["events"]] for m in messages]
