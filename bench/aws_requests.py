"""AWS requests per message over its whole life, counted where moto serves them, and their price.

The real handlers run in this process against moto built from template.yaml, as the tests do:
accept (send function), drain (scheduler function), the Graph API peer, and three status
webhooks (sent, delivered, read) through the webhook route and the processor.
"""

import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.nudger import RecordingNudger, drain_round

ROOT = Path(__file__).resolve().parents[1]
PRICES = Path(__file__).with_name("prices.json")
MINUTES_PER_MONTH = 30 * 24 * 60
# The function that serves each handler, and the handler's memory comes from template.yaml.
FUNCTIONS = {
    "send": "SendFunction",
    "scheduler": "SchedulerFunction",
    "webhook": "WebhookFunction",
    "processor": "WebhookProcessorFunction",
}
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@dataclass
class Tally:
    """Requests by operation, and handler calls with their durations, by function."""

    requests: Counter[str] = field(default_factory=Counter)
    write_items: Counter[str] = field(default_factory=Counter)
    durations: dict[str, list[float]] = field(default_factory=dict)
    counting: bool = True

    def timed(self, function: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.durations.setdefault(function, []).append(time.perf_counter() - started)


def _operation(request: Any) -> tuple[str, int]:
    """`service:Action`, and how many items a batched DynamoDB write carries (else 1)."""
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    if target:
        prefix, _, action = target.partition(".")
        service = prefix.split("_")[0].lower().replace("amazonsqs", "sqs")
        service = {"secretsmanager": "secretsmanager", "awsevents": "events"}.get(service, service)
        items = 1
        if action in ("BatchWriteItem", "TransactWriteItems", "BatchGetItem") and request.body:
            body = json.loads(request.body)
            if action == "TransactWriteItems":
                items = 2 * len(body["TransactItems"])  # a transaction costs two units an item
            elif action == "BatchWriteItem":
                items = sum(len(v) for v in body["RequestItems"].values())
            else:
                items = sum(len(v["Keys"]) for v in body["RequestItems"].values())
        return f"{service}:{action}", items
    host = request.url.split("//")[1].split(".")[0]
    if host == "sqs":  # the query protocol: the action is in the form body
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        action = next((p[7:] for p in body.split("&") if p.startswith("Action=")), "?")
        return f"sqs:{action}", 1
    return f"{host}:{request.method}", 1


@contextmanager
def _counting(tally: Tally) -> Iterator[None]:
    # DynamoDB serialises writes to an item; moto does not: one lock restores it (as conftest).
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    serve = BotocoreStubber.process_request

    def counted(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            if tally.counting:
                name, items = _operation(request)
                tally.requests[name] += 1
                tally.write_items[name] += items
            return serve(self, request)

    BotocoreStubber.process_request = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = serve  # type: ignore[method-assign]


@dataclass
class LifeCounts:
    messages: int
    life: Tally
    idle_drain: Tally
    nudges: int
    drain_runs: int
    late_wakeups: int


def prepare() -> None:
    """The project on the path, and what Powertools' singletons read at import."""
    import sys

    for path in (str(ROOT), str(ROOT / "layers" / "common")):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "postino")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Postino")


@contextmanager
def stack(tally: Tally) -> Iterator[tuple[Any, RecordingNudger]]:
    """moto with template.yaml's resources, the Graph API peer, and Services in place."""
    prepare()
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    from local.graph_api_peer import GraphApiPeer
    from local.meta_contract import spec_path
    from local.template_stack import create_stack_resources, function_environment
    from postino import aws
    from postino.services import Services, use_services
    from postino.settings import Settings, get_settings
    from tests.support.webhooks import APP_SECRET, PHONE_NUMBER_ID, WABA_ID

    if not spec_path().exists():
        raise SystemExit(f"Meta's spec is not at {spec_path()} (../shared/contracts)")
    token = "EAAG-bench-token"  # noqa: S105 - the local peer's made-up token
    with GraphApiPeer(access_token=token) as peer, mock_aws(), _counting(tally):
        peer.templates[WABA_ID] = []
        aws.reset_clients()
        get_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        tally.counting = False
        resources = create_stack_resources(
            parameter_overrides={"PhoneNumberId": PHONE_NUMBER_ID, "WabaId": WABA_ID}
        )
        os.environ.update(function_environment(resources, "SendFunction"))
        os.environ["GRAPH_API_BASE_URL"] = peer.base_url
        os.environ["RATE_WINDOW_GRACE_SECONDS"] = "0.4"  # as the tests: the peer shares the GIL
        os.environ["DEFAULT_ENFORCE_SERVICE_WINDOW"] = "false"  # recipients never wrote first
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name="postino/meta/access-token", SecretString=token)
        secrets.create_secret(Name="postino/meta/app-secret", SecretString=APP_SECRET)
        secrets.create_secret(Name="postino/meta/verify-token", SecretString="verify-me")
        services = Services.build(Settings.from_environment())
        nudger = RecordingNudger()
        services.nudger = nudger  # type: ignore[assignment]
        use_services(services)
        try:
            yield services, nudger
        finally:
            use_services(None)
            aws.reset_clients()
            get_settings.cache_clear()


def measure(messages: int = 100) -> LifeCounts:
    """Run `messages` messages from accept to read; count every AWS request and time handlers."""
    prepare()
    from local.sqs_events import QueuePoller
    from postino import aws
    from tests.support.events import FakeLambdaContext, as_http, rest_event
    from tests.support.functions import load_function
    from tests.support.webhooks import status, statuses, webhook_event

    life, idle = Tally(), Tally()
    with stack(life) as (services, nudger):
        send = load_function("send")
        scheduler = load_function("scheduler")
        route = load_function("webhook")
        processor = load_function("webhook", "process")
        ingest = QueuePoller(aws.sqs(), services.settings.ingest_queue_url)

        def drain(tally: Tally) -> dict[str, Any]:
            """The schedule's tick, then each drainer it woke: their reports' counts summed."""

            def invoke(event: dict[str, Any]) -> dict[str, Any]:
                # The template's 60 s timeout; the drain keeps its margin out of it.
                context = FakeLambdaContext(
                    function_name="postino-SchedulerFunction", remaining_millis=60 * 1000
                )
                answer: dict[str, Any] = tally.timed(
                    "scheduler", lambda: scheduler.lambda_handler(event, context)
                )
                return answer

            _, reports = drain_round(nudger, invoke)
            counts = {
                name: sum(r.get(name, 0) for r in reports) for name in ("sent", "late_wakeups")
            }
            return {**counts, "invocations": 1 + len(reports)}

        def run_processor(event: dict[str, Any]) -> Any:
            return life.timed(
                "processor", lambda: processor.lambda_handler(event, FakeLambdaContext())
            )

        def process() -> None:
            """Lambda's SQS poller: batches to the processor until the ingest queue is empty."""
            while batch := ingest.poll(run_processor):
                if batch.failed:
                    raise RuntimeError(f"the processor failed {len(batch.failed)} records")

        # The schedule alone: one drain run with nothing queued (warms nothing the life needs).
        life.counting = True
        drain(idle)
        idle.requests, life.requests = life.requests, Counter()
        idle.write_items, life.write_items = life.write_items, Counter()

        ids: list[str] = []
        for n in range(messages):
            body = {"to": f"+39333{n:07d}", "type": "text", "text": {"body": f"Ciao {n}"}}
            answer = as_http(
                life.timed(
                    "send",
                    lambda b=body: send.lambda_handler(  # type: ignore[misc]
                        rest_event("POST", "/v1/messages", b), FakeLambdaContext()
                    ),
                )
            )
            if answer.status != 202:
                raise RuntimeError(f"accept answered {answer.status}: {answer.body}")
            ids.append(answer.body["id"])
        runs, sent, late, rounds = 0, 0, 0, 0
        while sent < messages and rounds < 10:
            drained = drain(life)
            sent += drained["sent"]
            late += drained["late_wakeups"]
            runs += drained["invocations"]  # the tick's and its drainers'
            rounds += 1
        if sent < messages:
            raise RuntimeError(f"{rounds} drain rounds sent {sent} of {messages}")

        life.counting = False  # reading our own ids back is the bench's, not the message's
        wamids = [
            as_http(
                send.lambda_handler(rest_event("GET", f"/v1/messages/{i}"), FakeLambdaContext())
            ).body["provider_message_id"]
            for i in ids
        ]
        life.counting = True
        for step, name in enumerate(("sent", "delivered", "read")):
            for message_id, wamid in zip(ids, wamids, strict=True):
                update = status(wamid, name, 1795600000 + step, callback=message_id)
                event = webhook_event(statuses(update))
                answer = as_http(
                    life.timed(
                        "webhook",
                        lambda e=event: route.lambda_handler(e, FakeLambdaContext()),  # type: ignore[misc]
                    )
                )
                if answer.status != 200:
                    raise RuntimeError(f"the webhook answered {answer.status}")
            process()
        life.counting = False
        last = as_http(
            send.lambda_handler(rest_event("GET", f"/v1/messages/{ids[-1]}"), FakeLambdaContext())
        )
        if last.body["status"] != "read":
            raise RuntimeError(f"the last message ended {last.body['status']}, not read")
    return LifeCounts(messages, life, idle, nudger.nudges, runs, late)


def _memory_mb() -> dict[str, int]:
    from local.template_stack import load_template

    template = load_template()
    default = int(template["Globals"]["Function"].get("MemorySize", 128))
    return {
        handler: int(template["Resources"][logical]["Properties"].get("MemorySize", default))
        for handler, logical in FUNCTIONS.items()
    }


def _gb_seconds(tally: Tally, memory: dict[str, int]) -> dict[str, float]:
    """Billed GB-s by function: each call rounded up to the millisecond, as Lambda bills."""
    return {
        function: sum(math.ceil(d * 1000) / 1000 for d in calls) * memory[function] / 1024
        for function, calls in tally.durations.items()
    }


def _unit_price(prices: dict[str, Any], name: str) -> float:
    """Dollars for one unit (one request, one GB-s) of a price in prices.json."""
    price = prices[name]
    per = str(price["per"])
    divisor = 1e6 if per.startswith("1M") else 1e4 if per.startswith("10k") else 1.0
    return float(price["usd"]) / divisor


def _priced(name: str, items: int) -> tuple[str, float]:
    """The price (in prices.json) that an AWS request falls under, and its units."""
    service, _, action = name.partition(":")
    if service == "dynamodb":
        # One unit an item: items under 1 KB written, under 4 KB read strongly consistent.
        kind = "read" if action in DYNAMODB_READS else "write"
        return f"dynamodb_{kind}_request_units", float(items)
    table = {
        "sqs": "sqs_requests",
        "secretsmanager": "secrets_manager_api_calls",
        "events": "eventbridge_events",
        "lambda": "lambda_requests",
    }
    return table[service], 1.0


def report(counts: LifeCounts) -> tuple[list[str], dict[str, Any]]:
    """The table's lines and the figures for results.json."""
    prices = json.loads(PRICES.read_text())
    unit = {name: _unit_price(prices["prices"], name) for name in prices["prices"]}
    n = counts.messages
    memory = _memory_mb()
    rows: list[tuple[str, float, float]] = []  # what, per message, $ per million messages
    for name, count in sorted(counts.life.requests.items()):
        price, units = _priced(name, counts.life.write_items[name] // count)
        per_message_units = counts.life.write_items[name] / n if units else 0.0
        rows.append((name, count / n, per_message_units * unit[price] * 1e6))
    calls = {f: len(d) for f, d in counts.life.durations.items()}
    rows.append(("lambda:Invoke (accept's drain nudge)", counts.nudges / n,
                 counts.nudges / n * unit["lambda_requests"] * 1e6))  # fmt: skip
    http = calls["send"] + calls["webhook"]
    rows.append(
        ("apigateway: REST requests", http / n, http / n * unit["api_gateway_rest_requests"] * 1e6)
    )
    for function, invocations in sorted(calls.items()):
        rows.append((f"lambda: {function} invocations", invocations / n,
                     invocations / n * unit["lambda_requests"] * 1e6))  # fmt: skip
    gb_s = _gb_seconds(counts.life, memory)
    for function, seconds in sorted(gb_s.items()):
        rows.append((f"lambda: {function} GB-s ({memory[function]} MB)", seconds / n,
                     seconds / n * unit["lambda_gb_second_arm64"] * 1e6))  # fmt: skip
    rows.append(("scheduler: drain runs (this batch's)", counts.drain_runs / n,
                 counts.drain_runs / n * unit["scheduler_invocations"] * 1e6))  # fmt: skip
    total = sum(r[2] for r in rows)

    idle_requests = sum(
        counts.idle_drain.write_items[k] * unit[_priced(k, 1)[0]]
        for k in counts.idle_drain.requests
    )
    idle_gb_s = _gb_seconds(counts.idle_drain, memory)["scheduler"]
    per_run = (
        unit["scheduler_invocations"]
        + unit["lambda_requests"]
        + idle_gb_s * unit["lambda_gb_second_arm64"]
        + idle_requests
    )
    schedule_month = per_run * MINUTES_PER_MONTH

    lines = [
        f"AWS requests per message: {n} messages, accept → drain → Graph API peer → "
        "sent/delivered/read webhooks (route + processor), counted at moto",
        f"{'what':<48}{'per message':>14}{'$ per 1M messages':>20}",
    ]
    lines += [f"{what:<48}{per:>14.3f}{usd:>20.2f}" for what, per, usd in rows]
    lines += [
        f"{'total (AWS, free tiers ignored)':<48}{'':>14}{total:>20.2f}",
        f"{'Twilio platform fee ($0.005/message)':<48}{'':>14}"
        f"{prices['platform_fees']['twilio']['usd_per_message'] * 1e6:>20.2f}",
        f"{'Gupshup platform fee ($0.001/message)':<48}{'':>14}"
        f"{prices['platform_fees']['gupshup']['usd_per_message'] * 1e6:>20.2f}",
        f"ratio: Twilio fee / Postino AWS = "
        f"{prices['platform_fees']['twilio']['usd_per_message'] * 1e6 / total:.0f}x, "
        f"Gupshup fee / Postino AWS = "
        f"{prices['platform_fees']['gupshup']['usd_per_message'] * 1e6 / total:.0f}x",
        "Meta's own per-message fees apply in every case and are in none of these figures.",
        f"Drain: {counts.drain_runs} run(s), {counts.late_wakeups} late wakeup(s) (a send thread "
        "late for its slot on a busy machine reserves again: more PutItem, requeues).",
        f"The schedule alone (1 drain run a minute, {MINUTES_PER_MONTH} a month, idle run "
        f"measured: {sum(counts.idle_drain.requests.values())} AWS requests, "
        f"{idle_gb_s * 1000:.1f} mGB-s): ${schedule_month:.2f}/month",
        f"Lambda GB-s are handler durations measured in this process (a lower bound: no cold "
        f"start, no network latency); prices {prices['note']}.",
    ]
    figures = {
        "messages": n,
        "drain_runs": counts.drain_runs,
        "late_wakeups": counts.late_wakeups,
        "nudges": counts.nudges,
        "requests": dict(counts.life.requests),
        "handler_calls": calls,
        "handler_seconds": {f: sum(d) for f, d in counts.life.durations.items()},
        "memory_mb": memory,
        "rows": [{"what": w, "per_message": p, "usd_per_million": u} for w, p, u in rows],
        "usd_per_million_total": total,
        "idle_drain_requests": dict(counts.idle_drain.requests),
        "schedule_usd_per_month": schedule_month,
        "prices_as_of": prices["as_of"],
    }
    return lines, figures
