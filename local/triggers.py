"""What runs the functions locally, as AWS would: EventBridge Scheduler's tick and Lambda's
asynchronous invoke for the drain (each drainer in a thread), and Lambda's SQS event source for
the webhook processor and the media function."""

import os
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from local import iam
from local.apigw import LambdaContext
from local.console import say
from local.functions import load_function, under_role
from local.sqs_events import QueuePoller
from local.template_stack import load_template

RATE = re.compile(r"rate\((\d+) (second|minute|hour)s?\)")
INGEST_BATCH = 10
MEDIA_BATCH = 5


def drain_every_seconds() -> float:
    """The drain's schedule as the template says (rate(1 minute)), unless the environment
    asks for a shorter one (POSTINO_DRAIN_EVERY_SECONDS: retries show up sooner locally)."""
    if os.environ.get("POSTINO_DRAIN_EVERY_SECONDS"):
        return float(os.environ["POSTINO_DRAIN_EVERY_SECONDS"])
    events = load_template()["Resources"]["SchedulerFunction"]["Properties"]["Events"]
    expression = next(e["Properties"]["ScheduleExpression"] for e in events.values())
    found = RATE.fullmatch(expression)
    if found is None:
        raise ValueError(f"the local stack cannot run the schedule {expression!r}")
    return int(found.group(1)) * {"second": 1, "minute": 60, "hour": 3600}[found.group(2)]


class LocalNudger:
    """Lambda's asynchronous invoke of the drain, locally: each drainer (a sender's shard) runs
    in a thread of its own. A nudge while it runs makes it run once more when it ends (on AWS a
    second invocation would find the lease held, and the first one finds the message itself;
    but a drainer that hands over nudges itself before it ends)."""

    def __init__(self, *, enabled: bool = True) -> None:
        # Off: drainers run from outside (POSTINO_LOCAL_DRAIN=off), as the end-to-end tests'.
        self.enabled = enabled
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._again: dict[str, bool] = {}  # the running drainers, and whether to run again

    def nudge(
        self, target: Any, function_name: str | None = None, *, takeover: bool = False
    ) -> None:
        # A takeover (a drainer starting its successor) runs, as any nudge, once it has ended.
        if not self.enabled:
            return
        with self._lock:
            if target.scope in self._again:
                self._again[target.scope] = True
                return
            self._again[target.scope] = False
        threading.Thread(target=self._drain, args=(target,), daemon=True).start()

    def _drain(self, target: Any) -> None:
        while not self.stopping.is_set():
            report = invoke_drain(target.payload())
            if report and (report.get("sent") or report.get("deferred") or report.get("outcomes")):
                outcomes = ", ".join(f"{k} {v}" for k, v in report.get("outcomes", {}).items())
                say(
                    f"drain     {target.sender}: sent {report['sent']}, "
                    f"waiting {report['deferred']} ({outcomes})"
                )
            with self._lock:
                if not self._again[target.scope]:
                    del self._again[target.scope]
                    return
                self._again[target.scope] = False


def invoke_drain(event: dict[str, Any]) -> dict[str, Any] | None:
    """One invocation of the drain function, with its own role; None if it failed."""
    scheduler = under_role("SchedulerFunction", load_function("scheduler").lambda_handler)
    context = LambdaContext("postino-SchedulerFunction", str(uuid.uuid4()), timeout_seconds=60)
    try:
        report: dict[str, Any] = scheduler(event, context)
    except Exception as error:  # keep the schedule going, as EventBridge would
        say(f"drain     failed: {error!r}")
        return None
    return report


def drain_loop(stop: threading.Event) -> None:
    """EventBridge Scheduler's tick: it wakes a drainer for every sender with a backlog."""
    every = drain_every_seconds()
    while not stop.wait(every):
        invoke_drain({"source": "postino.schedule", "action": "drain"})


def ingest_loop(stop: threading.Event) -> None:
    """Lambda's SQS event source: batches to the processor, failures left to SQS's redrive."""
    from postino import aws  # the layer is on the path by now

    announced: set[str] = set()

    def after(batch: Any) -> None:
        if batch.failed:
            say(f"webhooks  {len(batch.failed)} notification(s) will be retried")
        with aws.acting_as(iam.OPERATOR):
            _say_new_reservations(announced)

    _event_source(
        stop,
        "WebhookProcessorFunction",
        "process",
        "INGEST_QUEUE_URL",
        INGEST_BATCH,
        timeout_seconds=30,
        label="webhooks ",
        after=after,
    )


def media_loop(stop: threading.Event) -> None:
    """Lambda's SQS event source for the media function: inbound files kept off the webhook's
    path, a failed fetch left to SQS's retry."""

    def after(batch: Any) -> None:
        retried = f", {len(batch.failed)} to retry" if batch.failed else ""
        say(f"media     {batch.records - len(batch.failed)} file(s) handled{retried}")

    _event_source(
        stop,
        "MediaFunction",
        "media",
        "MEDIA_QUEUE_URL",
        MEDIA_BATCH,
        timeout_seconds=60,
        label="media    ",
        after=after,
    )


def _event_source(
    stop: threading.Event,
    role: str,
    module: str,
    queue_env: str,
    batch_size: int,
    *,
    timeout_seconds: int,
    label: str,
    after: Callable[[Any], None],
) -> None:
    """One of the webhook package's functions fed by its queue, as Lambda's poller feeds it
    (receiving and deleting with the function's own role); `after` hears of each batch."""
    from postino import aws

    function = under_role(role, load_function("webhook", module).lambda_handler)
    with aws.acting_as(role):
        poller = QueuePoller(aws.sqs(), os.environ[queue_env], batch_size=batch_size)

    def handle(event: dict[str, Any]) -> Any:
        context = LambdaContext(
            f"postino-{role}", str(uuid.uuid4()), timeout_seconds=timeout_seconds
        )
        return function(event, context)

    while not stop.is_set():
        try:
            batch = poller.poll(handle, wait_seconds=1)
        except Exception as error:  # the whole batch comes back after its visibility timeout
            say(f"{label} batch failed: {error!r}")
            stop.wait(1)
            continue
        if batch is not None:
            after(batch)


def _say_new_reservations(announced: set[str]) -> None:
    """A readable line for each reservation request the last batch made."""
    from postino.observability import mask_phone
    from postino.reservations.service import list_reservations
    from postino.services import get_services

    for request in list_reservations(get_services(), None, 20):
        if request.id in announced:
            continue
        announced.add(request.id)
        target = f"→ {request.operator_id or 'no operator'}" + (
            "" if request.routed else " (unrouted)"
        )
        say(
            f"reserve   {request.code} from +{mask_phone(request.from_)} {target}, "
            f"{request.status.value}"
        )
