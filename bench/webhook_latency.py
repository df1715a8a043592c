"""The webhook route's verify-and-enqueue per request, in-process against moto.

Beside a no-op handler called with the same event (the harness's own cost) and one bare
SQS SendMessage to moto (what the enqueue costs here, where AWS would add a network trip).
"""

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.aws_requests import Tally, stack

REQUESTS = 1000
WARM_UP = 20


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _timed(call: Callable[[], Any], times: int) -> list[float]:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def measure() -> tuple[list[str], dict[str, Any]]:
    with stack(Tally(counting=False)) as (services, _):
        from postino import aws
        from tests.support.events import FakeLambdaContext
        from tests.support.functions import load_function
        from tests.support.webhooks import status, statuses, webhook_event

        route = load_function("webhook")
        events = [
            webhook_event(statuses(status(f"wamid.BENCH{n}", "delivered", 1795600000 + n)))
            for n in range(REQUESTS + WARM_UP)
        ]
        context = FakeLambdaContext(function_name="postino-WebhookFunction")
        answers = iter(events)

        def verify_and_enqueue() -> None:
            answer = route.lambda_handler(next(answers), context)
            if answer["statusCode"] != 200:
                raise RuntimeError(f"the webhook answered {answer['statusCode']}")

        def noop(event: dict[str, Any], _: Any) -> dict[str, Any]:
            return {"statusCode": 200, "body": ""}

        url = services.settings.ingest_queue_url
        body = events[0]["body"]

        def enqueue() -> None:
            aws.sqs().send_message(QueueUrl=url, MessageBody=body)

        _timed(verify_and_enqueue, WARM_UP)  # the secret's first fetch, the clients
        # Interleaved: moto's SendMessage slows as the queue grows, so both see the same queue.
        route_s, send_s = [], []
        for _ in range(REQUESTS):
            route_s += _timed(verify_and_enqueue, 1)
            send_s += _timed(enqueue, 1)
        noop_s = _timed(lambda: noop(events[0], context), REQUESTS)
    rows = [
        ("webhook route: verify + enqueue", *_percentiles(route_s)),
        ("(reference) no-op handler call", *_percentiles(noop_s)),
        ("(reference) SQS SendMessage to moto", *_percentiles(send_s)),
    ]
    # Each request beside the bare SendMessage timed right after it: the route's own work.
    paired = [r - q for r, q in zip(route_s, send_s, strict=True)]
    own = statistics.median(paired)
    lines = [
        f"Webhook route per request, in-process against moto, {REQUESTS} signed status "
        f"deliveries after {WARM_UP} to warm up",
        f"{'what':<40}{'p50 µs':>10}{'p99 µs':>10}",
        *(f"{what:<40}{p50 * 1e6:>10.1f}{p99 * 1e6:>10.1f}" for what, p50, p99 in rows),
        f"route minus the SendMessage timed after it, median of pairs: {own * 1e6:.1f} µs",
        "No network: on Lambda the SendMessage is a trip to SQS (milliseconds), not a call "
        "into moto, whose SendMessage slows as the queue grows (here to 2,000).",
    ]
    figures = {
        "requests": REQUESTS,
        "route_minus_send_median_us": own * 1e6,
        "rows": [{"what": w, "p50_us": a * 1e6, "p99_us": b * 1e6} for w, a, b in rows],
    }
    return lines, figures
