"""The webhook processor's statuses per second, beside moto's bare UpdateItem rate.

In-process against moto, as the tests run: messages are accepted and drained for real, their
sent/delivered/read webhooks go through the route onto the ingest queue, and the processor's
handler is handed batches of ten records, as Lambda's SQS poller would. Only the handler's
own time counts (receiving and deleting are the poller's). The reference: UpdateItem to one
item of the messages table, timed in the same process, on the same moto.
"""

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.aws_requests import Tally, stack

MESSAGES = 200
STATUSES = ("sent", "delivered", "read")
BATCH = 10
REFERENCE_UPDATES = 1000


def _accept_and_send(services: Any, messages: int) -> list[tuple[str, str]]:
    """`messages` messages accepted and drained: their (id, wamid)."""
    from postino.drain.drainer import Drainer
    from postino.drain.targets import DrainTarget
    from postino.store.senders import DEFAULT_SENDER
    from tests.support.events import FakeLambdaContext, as_http, rest_event
    from tests.support.functions import load_function

    send = load_function("send")

    def call(method: str, path: str, body: Any = None) -> Any:
        return as_http(send.lambda_handler(rest_event(method, path, body), FakeLambdaContext()))

    ids = []
    for n in range(messages):
        body = {"to": f"+39333{n:07d}", "type": "text", "text": {"body": f"Ciao {n}"}}
        answer = call("POST", "/v1/messages", body)
        if answer.status != 202:
            raise RuntimeError(f"accept answered {answer.status}: {answer.body}")
        ids.append(answer.body["id"])
    for _ in range(10):
        Drainer(services, DrainTarget(DEFAULT_SENDER)).run(time.time() + 60)
        wamids = [call("GET", f"/v1/messages/{i}").body.get("provider_message_id") for i in ids]
        if all(wamids):
            return list(zip(ids, wamids, strict=True))
    raise RuntimeError("the drain did not send every message")


def _post_webhooks(sent: list[tuple[str, str]], name: str, step: int) -> None:
    """One status webhook per message through the route, onto the ingest queue."""
    from tests.support.events import FakeLambdaContext, as_http
    from tests.support.functions import load_function
    from tests.support.webhooks import status, statuses, webhook_event

    route = load_function("webhook")
    for message_id, wamid in sent:
        update = status(wamid, name, 1795600000 + step, callback=message_id)
        answer = as_http(route.lambda_handler(webhook_event(statuses(update)), FakeLambdaContext()))
        if answer.status != 200:
            raise RuntimeError(f"the webhook answered {answer.status}")


def _process_queue(services: Any, tally: Tally) -> int:
    """Lambda's SQS poller: batches of ten to the handler (timed), the done ones deleted."""
    from local.sqs_events import QueuePoller
    from postino import aws
    from tests.support.events import FakeLambdaContext
    from tests.support.functions import load_function

    processor = load_function("webhook", "process")
    poller = QueuePoller(aws.sqs(), services.settings.ingest_queue_url, batch_size=BATCH)
    records = 0

    def handle(event: dict[str, Any]) -> Any:
        # Only the handler's own requests are counted: the poller's are Lambda's, not its.
        tally.counting = True
        try:
            return tally.timed(
                "processor", lambda: processor.lambda_handler(event, FakeLambdaContext())
            )
        finally:
            tally.counting = False

    while batch := poller.poll(handle):
        if batch.failed:
            raise RuntimeError(f"the processor failed {len(batch.failed)} records")
        records += batch.records
    return records


@contextmanager
def _moto_time(spent: list[float], tally: Tally) -> Iterator[None]:
    """Add to `spent` the time inside moto of each request the handler makes (the tally counts
    only while the handler runs, not the poller's receives and deletes)."""
    from moto.core.botocore_stubber import BotocoreStubber

    serve = BotocoreStubber.process_request

    def timed(self: BotocoreStubber, request: Any) -> Any:
        started = time.perf_counter()
        try:
            return serve(self, request)
        finally:
            if tally.counting:
                spent.append(time.perf_counter() - started)

    BotocoreStubber.process_request = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = serve  # type: ignore[method-assign]


def _update_item_seconds(services: Any, times: int) -> list[float]:
    """Bare UpdateItem calls to one item of the messages table: moto's own write rate here."""
    from postino import aws

    table, seconds = services.settings.messages_table, []
    for n in range(times):
        started = time.perf_counter()
        aws.dynamodb().update_item(
            TableName=table,
            Key={"id": {"S": "bench-reference"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": str(n)}},
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def measure(messages: int = MESSAGES) -> tuple[list[str], dict[str, Any]]:
    tally = Tally(counting=False)
    with stack(tally) as (services, _):
        sent = _accept_and_send(services, messages)
        statuses, in_moto = 0, list[float]()
        for step, name in enumerate(STATUSES):
            _post_webhooks(sent, name, step)
            with _moto_time(in_moto, tally):
                statuses += _process_queue(services, tally)
        update_seconds = _update_item_seconds(services, REFERENCE_UPDATES)
    handler_seconds = tally.durations["processor"]
    statuses_per_second = statuses / sum(handler_seconds)
    own_seconds = (sum(handler_seconds) - sum(in_moto)) / statuses  # the handler less moto
    updates_per_second = len(update_seconds) / sum(update_seconds)
    requests = sum(tally.requests.values()) / statuses
    rows = [
        ("processor: statuses (handler time)", statuses_per_second),
        ("  its own work (less the time inside moto)", 1 / own_seconds),
        ("  inside moto", statuses / sum(in_moto)),
        ("(reference) moto UpdateItem, bare (a tiny item)", updates_per_second),
    ]
    lines = [
        f"Webhook processor, in-process against moto: {statuses} status webhooks ("
        f"{'/'.join(STATUSES)} of {messages} sent messages), handed over in batches of {BATCH}",
        f"{'what':<50}{'per second':>12}{'ms each':>10}",
        *(f"{what:<50}{rate:>12.0f}{1000 / rate:>10.2f}" for what, rate in rows),
        f"ratio: processor / bare UpdateItem = {statuses_per_second / updates_per_second:.3f}; "
        f"its own work / bare UpdateItem = {1 / own_seconds / updates_per_second:.2f}",
        f"A status is {requests:.1f} AWS requests ("
        + ", ".join(f"{k} {v / statuses:.2f}" for k, v in sorted(tally.requests.items()))
        + "); moto's UpdateItem of a message (its timeline, receipts, index keys) costs far more "
        "than the bare one. On Lambda each request is a network trip to DynamoDB instead.",
    ]
    figures = {
        "statuses": statuses,
        "statuses_per_second": statuses_per_second,
        "own_work_ms_per_status": own_seconds * 1000,
        "moto_ms_per_status": sum(in_moto) / statuses * 1000,
        "update_item_per_second": updates_per_second,
        "ratio": statuses_per_second / updates_per_second,
        "requests": dict(tally.requests),
        "batch_median_ms": statistics.median(handler_seconds) * 1000,
    }
    return lines, figures
