"""`make soak`: the local stack under faults and killed drainers; exits non-zero on any violation.

    .venv/bin/python bench/soak.py [--messages 1000] [--kills 3] [--seed 7] [--aws-faults]
                                   [--json FILE]

Against `make run`'s stack as separate processes: the send API takes the messages over two
senders; drainers run as their own processes (python -m local.drain_once, as Lambda would run
them), back to back as a busy schedule would start them; the Meta sandbox injects 5 % HTTP 5xx,
2 % timeouts, 1 % 130429 and 1 % 131056, and delivers every status webhook three times in
shuffled order. Meanwhile drainers are SIGKILLed mid-batch, two start at once, and one is frozen
(SIGSTOP) past its lease so that, woken, it drains beside the one that took over. With
--aws-faults, AWS fails too, between the functions and moto (local/aws_faults.py): 2 % DynamoDB
throttles, 1 % DynamoDB and SQS 500s, and 0.5 % of every write applied, then its answer dropped.

At the end it checks, from what the sandbox received and what the API shows:
- lost: accepted, yet never sent and not failed, expired or unknown for a reason shown;
- doubled: received twice by the sandbox (an answered or unanswered attempt, not a refused
  one) without `at_least_once`;
- rate-window violations: more sends of a sender in any interval of its limit than the limit,
  or two to one recipient within the pair limit, by the sandbox's clock;
- not final: not read, failed, expired or unknown once the retries are spent (an unknown is
  explained by Meta's fault at the send itself, never by AWS's);
- backwards timelines: our events out of time order, or Meta's out of order (read before
  delivered);
- webhooks lost: a status webhook the sandbox delivered for a message's send and our route
  accepted (a 200) that the message does not show (the sandbox retries a refused one, as Meta
  does);
- the dead-letter queues' contents, each explained (a copy of a message already final);
- log lines (stack and drainers) holding a secret or a full phone number.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.figures import most_in_window  # noqa: E402 - after the project root is on the path
from local.spawn import free_ports, spawn  # noqa: E402

API_KEY = "soak-api-key"
SECRETS = {
    "POSTINO_API_KEY": API_KEY,
    "META_APP_SECRET": "soak-app-secret-5c1e",
    "META_VERIFY_TOKEN": "soak-verify-token-77ab",
    "WAHA_API_KEY": "soak-waha-key-0d3f",
    "WAHA_HMAC_KEY": "soak-waha-hmac-91c2",
    "POSTINO_LINK_KEY": "soak-link-key-4b8e",
}
# What the stack keeps as the Cloud API token (local/embedded_aws.py): a secret too.
ACCESS_TOKEN = "local-access-token"  # noqa: S105 - the local stack's made-up token
SECOND_PHONE_NUMBER_ID = "100000000000009"
SHARDED_PHONE_NUMBER_ID = "100000000000010"
HELLO = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}
FAULTS = [
    {"http_status": 503, "rate": 0.05, "times": None},
    # Held past the Graph API client's 20 s read timeout: an attempt whose fate we cannot know.
    {"kind": "timeout", "rate": 0.02, "times": None, "hold_seconds": 21},
    {"error_code": 130429, "rate": 0.01, "times": None},
    {"error_code": 131056, "rate": 0.01, "times": None},
]
# --aws-faults: in force from the first message accepted to the last drainer's end.
AWS_FAULTS = {
    "seed": 7,
    "rules": [
        {"match": "dynamodb:*", "throttle": 0.02, "error_500": 0.01},
        {"match": "sqs:*", "error_500": 0.01},
        {"match": "writes", "applied_then_dropped": 0.005},
    ],
}
FINAL = {"read", "failed", "expired", "unknown", "cancelled"}
NOT_FINAL = ("scheduled", "queued", "sending", "sent", "delivered")
META_ORDER = {"sent": 1, "delivered": 2, "failed": 2, "read": 3}
# As postino/webhooks/receipts.py keeps Meta's statuses: "played" (a voice message) is read.
STATUS_ALIASES = {"played": "read"}
# A drain invocation's limit: 8 s of work before the drain's 20 s margin. A drain hides what it
# receives for its time left plus 10 s (postino/drain/intake.py), so a killed drainer's copies
# come back once it would have ended.
DRAIN_LIMIT_SECONDS = 28.0
# The whole stack, its drainers and the sandbox share this machine's few cores: a send thread
# often wakes more than the default 50 ms after its slot, gives the slot up and queues the
# message again. A wider grace keeps the drain moving here (and costs throughput, not safety).
# The sandbox stamps a request when it reached the host (local/arrival_stamps.py), so the
# grace's half for the trip need not cover its wait for the busy stack process.
GRACE_SECONDS = "0.25"


@dataclass
class SoakPlan:
    messages: int = 1000
    kills: int = 3
    seed: int = 7
    # One message in this many goes with at_least_once, one in this many to a recipient already
    # written to (the pair limit), one in this many to a number the sandbox fails (131026).
    at_least_once_every: int = 10
    repeat_every: int = 25
    failing_every: int = 50
    deadline_seconds: float = 900.0
    aws_faults: bool = False


@dataclass
class Sender:
    name: str
    phone_number_id: str
    per_second: int
    pair_seconds: int = 6


@dataclass
class Chaos:
    """What was done to the drainers, for the report."""

    started: int = 0
    kills: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    together: int = 0


@dataclass
class Soak:
    plan: SoakPlan
    api: httpx.Client
    sandbox: str
    env_file: Path
    senders: list[Sender]
    rng: random.Random
    chaos: Chaos = field(default_factory=Chaos)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    drainer_output: list[str] = field(default_factory=list)
    alive: list[tuple[subprocess.Popen[str], float, Path]] = field(default_factory=list)
    # What the AWS fault layer injected (its report, GET /_sandbox/aws-faults), with --aws-faults.
    aws_faults: dict[str, Any] | None = None
    # Every status webhook try the sandbox made (GET /_sandbox/webhooks), read at the checks.
    webhook_tries: list[dict[str, Any]] = field(default_factory=list)


# ---- the stack and its drainers ------------------------------------------------------------


@contextmanager
def local_stack(workdir: Path) -> Iterator[tuple[str, str, Path, list[str]]]:
    ports = free_ports(4)
    env_file = workdir / "stack-env.json"
    env = {
        **os.environ,
        **SECRETS,
        "POSTINO_LOCAL_PORT": str(ports[0]),
        "POSTINO_SANDBOX_PORT": str(ports[1]),
        "POSTINO_MOTO_PORT": str(ports[2]),
        "POSTINO_WAHA_PORT": str(ports[3]),
        "POSTINO_LOCAL_DRAIN": "off",  # the soak runs the drainers, each its own process
        "POSTINO_ENV_FILE": str(env_file),
        "POSTINO_LOG_LEVEL": "INFO",  # every log line the functions write, to be scanned
    }
    for name in ("AWS_ENDPOINT_URL", "GRAPH_API_BASE_URL", "WAHA_BASE_URL", "POSTINO_AWS_FAULTS"):
        env.pop(name, None)
    started = spawn(env)
    try:
        yield (
            f"http://127.0.0.1:{ports[0]}",
            f"http://127.0.0.1:{ports[1]}",
            env_file,
            started.later,
        )
    finally:
        started.process.send_signal(signal.SIGTERM)
        try:
            started.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            started.process.kill()


def start_drainer(soak: Soak) -> subprocess.Popen[str]:
    soak.chaos.started += 1
    # To a file, not a pipe: a drainer logging at INFO would fill a pipe nobody reads yet.
    log = soak.env_file.with_name(f"drainer-{soak.chaos.started}.log")
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - our venv's python, our own module
            [
                sys.executable,
                "-m",
                "local.drain_once",
                str(soak.env_file),
                str(DRAIN_LIMIT_SECONDS),
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "POSTINO_LOG_LEVEL": "INFO",
                "RATE_WINDOW_GRACE_SECONDS": GRACE_SECONDS,
            },
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    soak.alive.append((process, time.monotonic(), log))
    return process


def reap(soak: Soak) -> None:
    """Collect the output of drainers that ended (killed ones included)."""
    still = []
    for process, began, log in soak.alive:
        if process.poll() is None:
            still.append((process, began, log))
        else:
            soak.drainer_output.extend(log.read_text().splitlines())
    soak.alive = still


def stop_all(soak: Soak) -> None:
    for process, _, _ in soak.alive:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.kill()
        process.wait()
    reap(soak)


# ---- setting up --------------------------------------------------------------------------


def sqs_client(env_file: Path) -> Any:
    """SQS of the stack's moto, as its operator sees it (the functions have roles of their own)."""
    env = json.loads(env_file.read_text())
    return boto3.client(
        "sqs",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=env["OPERATOR_AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["OPERATOR_AWS_SECRET_ACCESS_KEY"],
    )


def prepare(soak: Soak) -> None:
    default = call(soak.api, "GET", "/v1/senders/default")
    for sender in soak.senders:
        profile = {
            "phone_number_id": sender.phone_number_id,
            "access_token_secret": default["access_token_secret"],
            "limits": [{"max": sender.per_second, "per_seconds": 1}],
            "pair_limit": {"max": 1, "per_seconds": sender.pair_seconds},
            "enforce_service_window": False,
        }
        call(soak.api, "PUT", f"/v1/senders/{sender.name}", profile)
    for fault in FAULTS:
        httpx.post(f"{soak.sandbox}/_sandbox/faults", json=fault).raise_for_status()
    shuffled = {"status_copies": 3, "shuffle_statuses": True}
    httpx.post(f"{soak.sandbox}/_sandbox/faults", json=shuffled).raise_for_status()
    if soak.plan.aws_faults:  # the senders are set up: from here on, what the product does
        httpx.post(f"{soak.sandbox}/_sandbox/aws-faults", json=AWS_FAULTS).raise_for_status()


def aws_faults_off(soak: Soak) -> None:
    """The checks read through an AWS without faults; what was injected is kept for the report."""
    if soak.plan.aws_faults:
        answer = httpx.delete(f"{soak.sandbox}/_sandbox/aws-faults", timeout=30)
        soak.aws_faults = answer.raise_for_status().json()


def webhooks_settled(soak: Soak, limit_seconds: float = 420.0) -> None:
    """Wait, a while at most, for the sandbox's last status webhooks and their retries to go out,
    and for the ingest queue to empty: a record the processor failed comes back only after the
    queue's visibility timeout (180 s)."""
    sqs = sqs_client(soak.env_file)
    ingest = [url for url in sqs.list_queues()["QueueUrls"] if url.endswith("-IngestQueue")]
    began = time.monotonic()
    while time.monotonic() - began < limit_seconds:
        shown = httpx.get(f"{soak.sandbox}/_sandbox/webhooks", timeout=60).json()
        if shown["delivering"] == 0 and not any(queued(sqs, url) for url in ingest):
            return
        time.sleep(1.0)


def queued(sqs: Any, url: str) -> int:
    """Records on a queue, in flight or waiting."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


# The harness's own reads (a listing is sixteen queries over the whole table) queue behind the
# drain's work on moto's one process, and with AWS faults on, behind their retries' backoff: it
# waits for them rather than failing the run. Each slow one is shown.
HARNESS_TIMEOUT_SECONDS = 180.0
SLOW_CALL_SECONDS = 20.0


def call(api: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    began = time.monotonic()
    answer = api.request(method, path, json=body)
    if (took := time.monotonic() - began) > SLOW_CALL_SECONDS:
        print(f"slow harness call: {method} {path.split('?')[0]} took {took:.0f} s", flush=True)
    if answer.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


def recipients(plan: SoakPlan, rng: random.Random) -> list[str]:
    numbers: list[str] = []
    for n in range(plan.messages):
        if n and n % plan.repeat_every == 0:
            numbers.append(numbers[n - 2])  # the same sender's recipient two messages back
        elif n % plan.failing_every == plan.failing_every - 1:
            numbers.append(f"3934{rng.randrange(10**4):04d}0000")
        else:
            numbers.append(f"3935{rng.randrange(10**8):08d}")
    return numbers


def enqueue(soak: Soak) -> None:
    items = []
    for n, number in enumerate(recipients(soak.plan, soak.rng)):
        sender = soak.senders[n % len(soak.senders)]
        item: dict[str, Any] = {
            "to": f"+{number}",
            "sender": sender.name,
            **HELLO,
            "reference": f"soak-{n}",
        }
        if n % soak.plan.at_least_once_every == 0:
            item["at_least_once"] = True
        items.append(item)
    for start in range(0, len(items), 100):
        batch = items[start : start + 100]
        for item, result in zip(
            batch, call(soak.api, "POST", "/v1/messages/batch", {"messages": batch})["results"],
            strict=True,
        ):  # fmt: skip
            if result.get("id") is None:
                raise RuntimeError(f"the API refused a soak message: {result}")
            soak.accepted[result["id"]] = item


# ---- the run -------------------------------------------------------------------------------


def anything_waiting(soak: Soak) -> bool:
    """Whether any message is not yet final. The harness asks every 3 s, and stops reading at
    the first such message: a page filtered by status may come back empty with a cursor (the
    filter reads a budget of the newest messages a page), so it follows the cursor until an
    item or the end. The checks at the end count them all."""
    for status in NOT_FINAL:
        cursor: str | None = None
        while True:
            query = f"/v1/messages?status={status}&limit=100" + (
                f"&cursor={cursor}" if cursor else ""
            )
            page = call(soak.api, "GET", query)
            if page["items"]:
                return True
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return False


def sending_now(soak: Soak) -> int:
    return len(call(soak.api, "GET", "/v1/messages?status=sending&limit=100")["items"])


def drive(soak: Soak) -> float:
    """Run drainers, with the chaos, until every message is final. Returns the seconds taken."""
    began = time.monotonic()
    # Two at once from the start: one takes the lease, the other finds it held.
    start_drainer(soak)
    start_drainer(soak)
    soak.chaos.together += 1
    next_kill = began + 4.0
    frozen_once = False
    last_look = 0.0
    while time.monotonic() - began < soak.plan.deadline_seconds:
        time.sleep(0.5)
        reap(soak)
        now = time.monotonic()
        if not soak.alive:
            start_drainer(soak)
            continue
        oldest, since, _ = soak.alive[0]
        if len(soak.chaos.kills) < soak.plan.kills and now >= next_kill and now - since > 2.0:
            caught = sending_now(soak)
            if caught:
                oldest.send_signal(signal.SIGKILL)
                soak.chaos.kills.append(
                    f"kill {len(soak.chaos.kills) + 1} at {now - began:.0f} s: "
                    f"{caught} message(s) in flight"
                )
                next_kill = now + 12.0
                continue
        if not frozen_once and soak.chaos.kills and now - since > 2.0 and sending_now(soak):
            frozen_once = True
            freeze(soak, oldest, began)
            continue
        if now - last_look > 3.0:
            last_look = now
            if not anything_waiting(soak):
                break
    stop_all(soak)
    return time.monotonic() - began


def freeze(soak: Soak, process: subprocess.Popen[str], began: float) -> None:
    """Stop a drainer past its lease; another takes over; then both drain at once."""
    process.send_signal(signal.SIGSTOP)
    lease_seconds = DRAIN_LIMIT_SECONDS - 20.0
    stopped, stopped_at = time.monotonic(), time.time()
    while time.monotonic() - stopped < lease_seconds + 2.0:
        time.sleep(0.5)
        reap(soak)
        if len(soak.alive) < 2:
            start_drainer(soak)
    process.send_signal(signal.SIGCONT)
    soak.chaos.frozen.append(
        f"frozen at {stopped - began:.0f} s ({_clock(stopped_at)} to {_clock(time.time())} UTC), "
        "past its lease; woken beside the drainer that took over"
    )


# ---- the checks ------------------------------------------------------------------------------


@dataclass
class Findings:
    counts: dict[str, int]
    statuses: Counter[str]
    # Why each message that was not read ended as it did.
    reasons: Counter[str]
    details: list[str]
    dead_letters: list[str]
    # With --aws-faults: how many of each kind the run met.
    aws_faults_injected: dict[str, int] | None = None

    @property
    def violations(self) -> int:
        return sum(self.counts.values())


def sends_by_message(requests: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for request in requests:
        body = request["body"] if isinstance(request["body"], dict) else {}
        if request["method"] == "POST" and request["path"].endswith("/messages") and "to" in body:
            by_message[str(body.get("biz_opaque_callback_data"))].append(request)
    return by_message


def rate_violations(
    senders: list[Sender],
    requests: list[dict[str, Any]],
    claims: Mapping[str, list[float]] | None = None,
) -> list[str]:
    """Every attempt reaching the sandbox counts against the limits, refused or not. A crowded
    second lists its sends, each with when its drainer claimed it (`claims`: message id →
    its `sending` events' times), to tell a drainer that started late from a peer that
    stamped late."""
    found = []
    by_phone = {s.phone_number_id: s for s in senders}
    starts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    pairs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for request in requests:
        body = request["body"] if isinstance(request["body"], dict) else {}
        phone = request["path"].strip("/").split("/")[1] if "to" in body else None
        if phone in by_phone:
            starts[phone].append(request)
            pairs[(phone, str(body["to"]))].append(request["at"])
    for phone, sent in starts.items():
        sender = by_phone[phone]
        times = sorted(r["at"] for r in sent)
        most = most_in_window(times, 1.0)
        if most > sender.per_second:
            last = crowded_at(times, 1.0, sender.per_second)
            crowd = sorted((r for r in sent if last - 1.0 < r["at"] <= last), key=lambda r: r["at"])
            found.append(
                f"{sender.name}: {most} sends in one second (limit {sender.per_second}), "
                f"first at {_clock(crowd[0]['at'])} UTC"
                + "".join(f"\n    {_crowded(r, claims or {})}" for r in crowd)
            )
    for (phone, to), times in pairs.items():
        sender = by_phone[phone]
        if most_in_window(sorted(times), sender.pair_seconds) > 1:
            found.append(f"{sender.name}: two sends to +{to[:4]}… within {sender.pair_seconds} s")
    return found


def _crowded(request: dict[str, Any], claims: Mapping[str, list[float]]) -> str:
    message_id = str(request["body"].get("biz_opaque_callback_data"))
    claimed = [t for t in claims.get(message_id, []) if t <= request["at"]]
    since = f", claimed {request['at'] - max(claimed):.3f} s before" if claimed else ""
    # An id's head is its time, the same for messages made together: its tail tells them apart.
    return f"{_clock(request['at'])} …{message_id[-8:]} HTTP {request['status']}{since}"


def crowded_at(times: list[float], seconds: float, limit: int) -> float:
    """The first start (of sorted `times`) that ends an interval holding more than `limit`."""
    return next(
        t for i, t in enumerate(times, 1) if i - bisect_right(times, t - seconds, hi=i) > limit
    )


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}"


def backwards(message: dict[str, Any]) -> str | None:
    ours = [e for e in message["events"] if e["detail"].get("source") != "webhook"]
    theirs = [e for e in message["events"] if e["detail"].get("source") == "webhook"]
    times = [datetime.fromisoformat(e["at"]) for e in ours]
    if times != sorted(times):
        return "our events out of time order"
    ranks = [META_ORDER[e["phase"]] for e in theirs]
    if ranks != sorted(ranks):
        return "Meta's statuses out of order: " + " → ".join(e["phase"] for e in theirs)
    if theirs and message["status"] in META_ORDER and theirs[-1]["phase"] != message["status"]:
        return f"status {message['status']} but Meta's last word was {theirs[-1]['phase']}"
    return None


def explain_unknown(message: dict[str, Any], sends: list[dict[str, Any]]) -> str | None:
    """Why an at-most-once message ended unknown; None if nothing explains it. Only a fault at
    the send itself (Meta's, or a killed drainer's) does: never an AWS fault around it."""
    reason = next(
        (
            e["detail"].get("reason", "")
            for e in reversed(message["events"])
            if e["phase"] == "outcome_unknown"
        ),
        "",
    )
    if any(r["status"] == 0 for r in sends):
        return "Meta never answered (a timeout): not resent, at most once"
    if "drainer stopped" in reason and not any(r["status"] == 200 for r in sends):
        return "its drainer was killed between the claim and the request: not resent"
    return None


def accepted_statuses(deliveries: list[dict[str, Any]]) -> dict[str, set[str]]:
    """By wamid: the statuses whose webhook our route accepted (a 200) at some try."""
    accepted: dict[str, set[str]] = defaultdict(set)
    for delivery in deliveries:
        if delivery["http_status"] == 200:
            name = delivery["status"]
            accepted[delivery["wamid"]].add(STATUS_ALIASES.get(name, name))
    return accepted


def webhooks_lost(
    message: dict[str, Any], sends: list[dict[str, Any]], accepted: dict[str, set[str]]
) -> list[str]:
    """The statuses accepted for any of the message's sends that its timeline does not show. A
    message keeps one receipt per status, whichever send it came for; Meta's plain `sent` is not
    kept once our own record says sent, so it is never required."""
    wamids = {r["wamid"] for r in sends if r.get("wamid")}
    due = set().union(*(accepted.get(w, set()) for w in wamids)) - {"sent"}
    shown = {e["phase"] for e in message["events"] if e["detail"].get("source") == "webhook"}
    return sorted(due - shown)


def check(soak: Soak) -> Findings:
    requests = httpx.get(f"{soak.sandbox}/_sandbox/requests", timeout=60).json()["requests"]
    by_message = sends_by_message(requests)
    webhooks = httpx.get(f"{soak.sandbox}/_sandbox/webhooks", timeout=60).json()["deliveries"]
    soak.webhook_tries = webhooks
    accepted = accepted_statuses(webhooks)
    counts = dict.fromkeys(
        (
            "lost",
            "doubled",
            "rate_violations",
            "not_final",
            "backwards",
            "webhooks_lost",
            "dlq_unexplained",
            "log_leaks",
        ),
        0,
    )
    details: list[str] = []
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    claims: dict[str, list[float]] = {}
    for message_id, item in soak.accepted.items():
        message = call(soak.api, "GET", f"/v1/messages/{message_id}")
        sends = by_message.get(message_id, [])
        status = message["status"]
        statuses[status] += 1
        reached = [r for r in sends if r["status"] in (200, 0)]
        if len(reached) > 1 and not item.get("at_least_once"):
            counts["doubled"] += 1
            details.append(f"doubled: {message_id} reached the sandbox {len(reached)} times")
        if status not in FINAL:
            counts["not_final"] += 1
            details.append(f"not final: {message_id} is {status}")
        if status == "unknown":
            why = explain_unknown(message, sends)
            reasons[f"unknown: {why}"] += 1
            if why is None:
                counts["lost"] += 1
                details.append(f"lost: {message_id} unknown, and nothing explains it")
        elif status in ("failed", "expired"):
            error = message.get("error") or {}
            reasons[f"{status}: {error.get('code')} {error.get('title', '')}"] += 1
        elif status in FINAL and not any(r["status"] == 200 for r in sends):
            counts["lost"] += 1
            details.append(f"lost: {message_id} is {status} but Meta never accepted it")
        claims[message_id] = [_epoch(e["at"]) for e in message["events"] if e["phase"] == "sending"]
        problem = backwards(message)
        if problem:
            counts["backwards"] += 1
            details.append(f"backwards: {message_id}: {problem}")
        for name in webhooks_lost(message, sends, accepted):
            counts["webhooks_lost"] += 1
            details.append(f"webhook lost: {message_id}: {name} accepted (200), not applied")
    for violation in rate_violations(soak.senders, requests, claims):
        counts["rate_violations"] += 1
        details.append(f"rate: {violation}")
    dead_letters = explain_dead_letters(soak)
    counts["dlq_unexplained"] = sum(1 for line in dead_letters if line.startswith("UNEXPLAINED"))
    return Findings(counts, statuses, reasons, details, dead_letters)


def explain_dead_letters(soak: Soak) -> list[str]:
    sqs = sqs_client(soak.env_file)
    lines = []
    for url in sqs.list_queues().get("QueueUrls", []):
        if "DeadLetter" not in url:
            continue
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)
            if not got.get("Messages"):
                break
            for copy in got["Messages"]:
                lines.append(explain_dead_letter(soak, url.rsplit("/", 1)[-1], copy["Body"]))
    return lines


def explain_dead_letter(soak: Soak, queue: str, body: str) -> str:
    try:
        ref = json.loads(body)
        message_id = ref["id"]
    except (ValueError, KeyError, TypeError):
        return f"UNEXPLAINED {queue}: a body that is not a queued message: {body[:80]}"
    answer = soak.api.get(f"/v1/messages/{message_id}")
    status = answer.json().get("status") if answer.status_code == 200 else None
    if status in FINAL:
        return f"{queue}: a copy of {message_id} (seq {ref.get('seq')}), whose message is {status}"
    return f"UNEXPLAINED {queue}: {message_id} is {status}"


def leaking_lines(lines: list[str], numbers: set[str]) -> list[str]:
    secrets = [*SECRETS.values(), ACCESS_TOKEN]
    return [
        line
        for line in lines
        if any(secret in line for secret in secrets) or any(n in line for n in numbers)
    ]


# ---- the report ----------------------------------------------------------------------------


GOALS = {
    "lost": "messages lost",
    "doubled": "messages the sandbox received twice without at_least_once",
    "rate_violations": "rate-window violations seen at the sandbox",
    "not_final": "messages not in a final state",
    "backwards": "timelines that go backwards",
    "webhooks_lost": "status webhooks accepted (200) but not applied",
    "dlq_unexplained": "dead-letter copies not explained",
    "log_leaks": "log lines with a secret or a full phone number",
}


def sent_by_drainer(soak: Soak) -> Counter[str]:
    """From the drainer processes' reports (a JSON list each): messages sent per sender#shard."""
    sent: Counter[str] = Counter()
    for line in soak.drainer_output:
        if line.startswith("[{"):
            with suppress(ValueError):
                for drained in json.loads(line):
                    if "drain" in drained:
                        sent[drained["drain"]] += drained.get("sent", 0)
    return sent


def report(soak: Soak, findings: Findings, seconds: float, log_lines: int) -> list[str]:
    senders = ", ".join(f"{s.name} {s.per_second}/s" for s in soak.senders)
    lines = [
        f"Soak: {len(soak.accepted)} messages over {len(soak.senders)} senders ({senders}), "
        f"in {seconds:.0f} s; "
        f"faults 5 % 503, 2 % timeouts, 1 % 130429, 1 % 131056; every status webhook 3 times, shuffled",
        f"drainer processes started {soak.chaos.started} (each a tick and the drainers it "
        f"woke, {DRAIN_LIMIT_SECONDS - 20:.0f} s of work each, rate-window grace "
        f"{GRACE_SECONDS} s), {soak.chaos.together} time(s) two at once",
        "sent by drainer (sender#shard): "
        + ", ".join(f"{scope} {sent}" for scope, sent in sorted(sent_by_drainer(soak).items())),
        *soak.chaos.kills,
        *soak.chaos.frozen,
        *aws_fault_lines(soak),
        webhook_line(soak.webhook_tries),
        f"{'check':<62}{'found':>7}{'goal':>6}",
        *(f"{what:<62}{findings.counts[key]:>7}{0:>6}" for key, what in GOALS.items()),
        "statuses: " + ", ".join(f"{k} {v}" for k, v in findings.statuses.most_common()),
        *(f"  {v} {k}" for k, v in findings.reasons.most_common()),
        f"dead-letter copies: {len(findings.dead_letters)}",
        *(f"  {line}" for line in findings.dead_letters),
        f"log lines scanned: {log_lines}",
        *findings.details[:40],
        "PASS" if findings.violations == 0 else f"FAIL: {findings.violations} violation(s)",
    ]
    return lines


def webhook_line(tries: list[dict[str, Any]]) -> str:
    """How the sandbox's status webhooks went: tries per status, and how the refused ones were
    refused (0: no answer within the sandbox's wait)."""
    statuses = {(t["wamid"], t["status"]) for t in tries}
    refused = Counter(t["http_status"] for t in tries if t["http_status"] != 200)
    how = ", ".join(f"{status}: {count}" for status, count in sorted(refused.items()))
    return (
        f"status webhooks: {len(tries)} tries for {len(statuses)} (wamid, status) pairs; "
        f"refused {sum(refused.values())}" + (f" ({how})" if how else "")
    )


def aws_fault_lines(soak: Soak) -> list[str]:
    if soak.aws_faults is None:
        return []
    lines = [
        "AWS faults: 2 % DynamoDB throttles, 1 % DynamoDB and SQS 500s, 0.5 % of writes applied "
        "then dropped; injected:"
    ]
    for kind, by_operation in soak.aws_faults["injected"].items():
        each = ", ".join(f"{operation} {count}" for operation, count in by_operation.items())
        lines.append(f"  {kind} {soak.aws_faults['totals'][kind]}" + (f" ({each})" if each else ""))
    return lines


def run(plan: SoakPlan, logs: Path | None = None) -> tuple[list[str], Findings]:
    with tempfile.TemporaryDirectory() as workdir:
        with (
            local_stack(Path(workdir)) as (api, sandbox, env_file, later),
            httpx.Client(
                base_url=api, headers={"x-api-key": API_KEY}, timeout=HARNESS_TIMEOUT_SECONDS
            ) as client,
        ):
            default_phone = call(client, "GET", "/v1/senders/default")["phone_number_id"]
            senders = [
                Sender("default", default_phone, 80),
                Sender("second", SECOND_PHONE_NUMBER_ID, 10),
                # Faster than one drainer sustains (DRAINER_RATE, postino/drain/targets.py):
                # two shards share its queue and its rate window.
                Sender("sharded", SHARDED_PHONE_NUMBER_ID, 200),
            ]
            soak = Soak(plan, client, sandbox, env_file, senders, random.Random(plan.seed))
            prepare(soak)
            enqueue(soak)
            try:
                seconds = drive(soak)
            finally:
                stop_all(soak)
                aws_faults_off(soak)
            webhooks_settled(soak)
            time.sleep(3)  # the last webhooks through the processor
            findings = check(soak)
        # Scanned once the stack has stopped: its last lines too.
        log_lines = [*later, *soak.drainer_output]
    if logs is not None:
        logs.write_text("\n".join(log_lines) + "\n")
    numbers = {item["to"].lstrip("+") for item in soak.accepted.values()}
    leaks = leaking_lines(log_lines, numbers)
    findings.counts["log_leaks"] = len(leaks)
    findings.details += [f"log leak: {line[:160]}" for line in leaks[:10]]
    if soak.aws_faults is not None:
        findings.aws_faults_injected = soak.aws_faults["totals"]
    return report(soak, findings, seconds, len(log_lines)), findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--deadline", type=float, default=2400.0, help="seconds to settle")
    parser.add_argument(
        "--aws-faults",
        action="store_true",
        help="AWS fails too: DynamoDB throttles, DynamoDB and SQS 500s, writes applied then dropped",
    )
    parser.add_argument("--json", type=Path, help="write the counts and statuses here")
    parser.add_argument("--logs", type=Path, help="keep every scanned log line here")
    args = parser.parse_args()
    lines, findings = run(
        SoakPlan(
            messages=args.messages,
            kills=args.kills,
            seed=args.seed,
            deadline_seconds=args.deadline,
            aws_faults=args.aws_faults,
        ),
        args.logs,
    )
    print("\n".join(lines))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "counts": findings.counts,
                    "statuses": findings.statuses,
                    "reasons": findings.reasons,
                    "aws_faults_injected": findings.aws_faults_injected,
                },
                indent=2,
            )
            + "\n"
        )
    return 0 if findings.violations == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
