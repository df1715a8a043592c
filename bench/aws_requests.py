"""Messages through their whole life against moto, every AWS request counted and billed.

The real handlers run in this process against moto built from template.yaml, as the tests do:
accept (the send function, a message a request or a hundred a batch), drain (the scheduler
function), the Graph API peer, and three status webhooks (sent, delivered, read) through the
webhook route and the processor. bench/ledger.py counts and bills each request as moto serves
it; bench/meter.py prices the lives on two meters, bench/cost_report.py prints them.
"""

import contextlib
import io
import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.idle_month import Tick
from bench.ledger import MotoItems, Tally, metering
from bench.meter import Life
from local.nudger import TICK_EVENT, RecordingNudger, drain_round

__all__ = ["Lives", "Tally", "measure", "prepare", "stack"]  # Tally and stack: the other parts'

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100  # POST /v1/messages/batch takes up to 100 messages
IDLE_TICKS = 5  # the idle tick's billed time is the median of these


class MeteredNudger(RecordingNudger):
    """Keeps the drain's nudges, each a Lambda Invoke on the ledger."""

    def __init__(self, tally: Tally) -> None:
        super().__init__()
        self.tally = tally

    def nudge(
        self, target: Any, function_name: str | None = None, *, takeover: bool = False
    ) -> None:
        super().nudge(target, function_name, takeover=takeover)
        self.tally.note_invoke()


@dataclass
class Lives:
    single: Life
    batch: Life
    idle_before: Tally  # the schedule's first tick, before any message (the requests meter's)
    tick: Tick  # the tick of a warm stack with nothing queued (the idle month's)
    lone_aws_ms: float  # the drainer of a message alone: its modeled AWS round trips
    metrics: frozenset[str]  # the custom metrics the single life emitted


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

    from bench.dynamodb_units import table_specs
    from local.graph_api_peer import GraphApiPeer
    from local.meta_contract import spec_path
    from local.template_stack import create_stack_resources, function_environment, load_template
    from postino import aws
    from postino.services import Services, use_services
    from postino.settings import Settings, get_settings
    from tests.support.webhooks import APP_SECRET, PHONE_NUMBER_ID, WABA_ID

    if not spec_path().exists():
        raise SystemExit(f"Meta's spec is not at {spec_path()} (../shared/contracts)")
    token = "EAAG-bench-token"  # noqa: S105 - the local peer's made-up token
    items = MotoItems("us-east-1")
    with GraphApiPeer(access_token=token) as peer, mock_aws(), metering(tally, items):
        peer.templates[WABA_ID] = []
        aws.reset_clients()
        get_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        counting, tally.counting = tally.counting, False
        resources = create_stack_resources(
            parameter_overrides={"PhoneNumberId": PHONE_NUMBER_ID, "WabaId": WABA_ID}
        )
        specs = table_specs(load_template())
        items.tables.update({resources.physical[name]: spec for name, spec in specs.items()})
        os.environ.update(function_environment(resources, "SendFunction"))
        os.environ["GRAPH_API_BASE_URL"] = peer.base_url
        os.environ["RATE_WINDOW_GRACE_SECONDS"] = "0.4"  # as the tests: the peer shares the GIL
        os.environ["DEFAULT_ENFORCE_SERVICE_WINDOW"] = "false"  # recipients never wrote first
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name="postino/meta/access-token", SecretString=token)
        secrets.create_secret(Name="postino/meta/app-secret", SecretString=APP_SECRET)
        secrets.create_secret(Name="postino/meta/verify-token", SecretString="verify-me")
        services = Services.build(Settings.from_environment())
        nudger = MeteredNudger(tally)
        services.nudger = nudger  # type: ignore[assignment]
        use_services(services)
        tally.counting = counting
        try:
            yield services, nudger
        finally:
            use_services(None)
            aws.reset_clients()
            get_settings.cache_clear()


class Handlers:
    """The functions' handlers as Lambda calls them, each call on the ledger."""

    def __init__(self, services: Any, nudger: RecordingNudger, tally: Tally) -> None:
        from local.sqs_events import QueuePoller
        from postino import aws
        from tests.support.functions import load_function

        self.tally, self.nudger = tally, nudger
        self.send = load_function("send")
        self.scheduler = load_function("scheduler")
        self.route = load_function("webhook")
        self.processor = load_function("webhook", "process")
        self.ingest = QueuePoller(aws.sqs(), services.settings.ingest_queue_url)

    def http(self, function: str, handler: Any, event: dict[str, Any]) -> Any:
        from tests.support.events import FakeLambdaContext, as_http

        return as_http(self.tally.timed(function, lambda: handler.lambda_handler(
            event, FakeLambdaContext()), event))  # fmt: skip

    def drain(self) -> dict[str, int]:
        """The schedule's tick, then each drainer it woke: their reports' counts summed."""
        from tests.support.events import FakeLambdaContext

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            # The template's 60 s timeout; the drain keeps its margin out of it.
            context = FakeLambdaContext(
                function_name="postino-SchedulerFunction", remaining_millis=60 * 1000
            )
            answer: dict[str, Any] = self.tally.timed(
                "scheduler", lambda: self.scheduler.lambda_handler(event, context), event
            )
            return answer

        _, reports = drain_round(self.nudger, invoke)
        counts = {name: sum(r.get(name, 0) for r in reports) for name in ("sent", "late_wakeups")}
        return {**counts, "invocations": 1 + len(reports)}

    def process(self) -> None:
        """Lambda's SQS poller: batches to the processor until the ingest queue is empty."""
        from tests.support.events import FakeLambdaContext

        def run(event: dict[str, Any]) -> Any:
            return self.tally.timed("processor", lambda: self.processor.lambda_handler(
                event, FakeLambdaContext()), event)  # fmt: skip

        while batch := self.ingest.poll(run):
            if batch.failed:
                raise RuntimeError(f"the processor failed {len(batch.failed)} records")


def _accept(h: Handlers, path: str, messages: int) -> list[str]:
    from tests.support.events import rest_event

    bodies = [{"to": f"+39333{n:07d}", "type": "text", "text": {"body": f"Ciao {n}"}}
              for n in range(messages)]  # fmt: skip
    if path == "single":
        ids = []
        for body in bodies:
            answer = h.http("send", h.send, rest_event("POST", "/v1/messages", body))
            if answer.status != 202:
                raise RuntimeError(f"accept answered {answer.status}: {answer.body}")
            ids.append(answer.body["id"])
        return ids
    ids = []
    for start in range(0, messages, BATCH):
        batch = {"messages": bodies[start : start + BATCH]}
        answer = h.http("send", h.send, rest_event("POST", "/v1/messages/batch", batch))
        if answer.status != 200 or any(r.get("status") != "queued" for r in answer.body["results"]):
            raise RuntimeError(f"the batch answered {answer.status}: {answer.body}")
        ids += [r["id"] for r in answer.body["results"]]
    return ids


def live(h: Handlers, path: str, messages: int) -> Life:
    """`messages` messages from accept to read, on the ledger from the accept on."""
    from tests.support.events import FakeLambdaContext, as_http, rest_event
    from tests.support.webhooks import status, statuses, webhook_event

    tally = h.tally
    mark = tally.mark()
    ids = _accept(h, path, messages)
    runs, sent, late, rounds = 0, 0, 0, 0
    while sent < messages and rounds < 10:
        drained = h.drain()
        sent, late = sent + drained["sent"], late + drained["late_wakeups"]
        runs, rounds = runs + drained["invocations"], rounds + 1  # the tick's and its drainers'
    if sent < messages:
        raise RuntimeError(f"{rounds} drain rounds sent {sent} of {messages}")

    def read(message_id: str) -> dict[str, Any]:
        event = rest_event("GET", f"/v1/messages/{message_id}")
        body: dict[str, Any] = as_http(h.send.lambda_handler(event, FakeLambdaContext())).body
        return body

    tally.counting = False  # reading our own ids back is the bench's, not the message's
    wamids = [read(i)["provider_message_id"] for i in ids]
    tally.counting = True
    for step, name in enumerate(("sent", "delivered", "read")):
        for message_id, wamid in zip(ids, wamids, strict=True):
            update = status(wamid, name, 1795600000 + step, callback=message_id)
            answer = h.http("webhook", h.route, webhook_event(statuses(update)))
            if answer.status != 200:
                raise RuntimeError(f"the webhook answered {answer.status}")
        h.process()
    tally.counting = False
    if (last := read(ids[-1])["status"]) != "read":
        raise RuntimeError(f"the last message ended {last}, not read")
    life = Life(path, messages, tally.since(mark), sent, runs, late)
    tally.counting = True
    return life


def emitted_metrics(text: str) -> frozenset[str]:
    """The custom metrics named by the EMF lines in a handler's output."""
    import json

    names = set()
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        with contextlib.suppress(ValueError, KeyError, TypeError):
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                names |= {f"{directive['Namespace']}/{m['Name']}" for m in directive["Metrics"]}
    return frozenset(names)


def idle_tick(h: Handlers) -> Tick:
    """The schedule's tick with nothing queued, at the template's log level (INFO): its billed
    time (median of a few), its requests, what it writes to its log."""
    from postino.observability import logger
    from tests.support.events import FakeLambdaContext

    mark, output = h.tally.mark(), io.StringIO()
    level, stream = logger.log_level, logger.registered_handler.setStream(output)  # type: ignore[attr-defined]
    logger.setLevel("INFO")
    try:
        with contextlib.redirect_stdout(output):
            for _ in range(IDLE_TICKS):
                context = FakeLambdaContext(function_name="postino-SchedulerFunction")
                h.tally.timed("scheduler", lambda c=context: h.scheduler.lambda_handler(  # type: ignore[misc]
                    dict(TICK_EVENT), c), dict(TICK_EVENT))  # fmt: skip
    finally:
        logger.setLevel(level)
        logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    ticks = h.tally.since(mark)
    charges = {k: v / IDLE_TICKS for k, v in ticks.charges.items()}
    billed = int(statistics.median(c.billed_ms for c in ticks.calls))
    text = output.getvalue()
    return Tick(billed, charges, len(text.encode()) // IDLE_TICKS, emitted_metrics(text))


def lone_message(h: Handlers) -> float:
    """A message accepted alone and drained alone: the modeled AWS round trips of its drainer."""
    from tests.support.events import rest_event

    h.tally.counting = False
    body = {"to": "+393339999999", "type": "text", "text": {"body": "Ciao, da solo"}}
    h.http("send", h.send, rest_event("POST", "/v1/messages", body))
    h.tally.counting = True
    mark = h.tally.mark()
    if h.drain()["sent"] != 1:
        raise RuntimeError("the lone message was not sent")
    drainers = [c for c in h.tally.since(mark).calls if "sender" in c.event]
    return sum(c.aws_ms for c in drainers)


def measure(messages: int = 100) -> Lives:
    """Both lives, the idle tick and a lone message; the batch life in a stack of its own."""
    tally, output = Tally(), io.StringIO()
    with stack(tally) as (services, nudger), contextlib.redirect_stdout(output):
        h = Handlers(services, nudger, tally)
        # The schedule alone: one drain run with nothing queued (warms nothing the life needs).
        mark = tally.mark()
        h.drain()
        idle_before = tally.since(mark)
        single = live(h, "single", messages)
        metrics = emitted_metrics(output.getvalue())
        tick = idle_tick(h)
        lone_aws_ms = lone_message(h)
    batch_tally = Tally()
    with stack(batch_tally) as (services, nudger):
        batch = live(Handlers(services, nudger, batch_tally), "batch", messages)
    return Lives(single, batch, idle_before, tick, lone_aws_ms, metrics)
