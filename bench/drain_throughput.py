"""The drain's throughput against a sender's limit, and a message's latency to the provider.

moto and the Graph API peer (answering in 200 ms) each run in a process of their own
(bench/servers.py); the send function's handler and the drainer run here, against moto over
HTTP (AWS_ENDPOINT_URL), as a Lambda would against AWS. Send starts are timed at the peer.

Throughput: per sender, its messages are queued first (each to its own recipient), then one
drain run sends them. Latency: from the send handler's 202 to the provider_accepted event on
the message's timeline, one message at a time (idle) and under a steady offered load, with
drain runs back to back.
"""

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.aws_requests import prepare
from bench.figures import most_in_window, pacing_gaps, percentile
from bench.servers import Child, child
from local.nudger import RecordingNudger

# The two senders, after a reference limit low enough for moto here to carry: it shows
# what the drain does when its AWS keeps up (moto serves ~30 ms of CPU a message on one GIL).
REFERENCE_SENDER = "limit20"
SENDER_LIMITS = {REFERENCE_SENDER: 20, "limit80": 80, "limit400": 400}
REFERENCE_MESSAGES = 400  # 20 s of its limit: enough for a steady state
PEER_LATENCY_SECONDS = 0.2
# 64 threads (the default) cannot keep 400 sends/s in flight when each holds its thread for
# the claim lead, the claim and the peer's 200 ms: 400 x ~0.5 s = 200 threads.
DRAIN_CONCURRENCY = 256
IDLE_MESSAGES = 30
# A steady load the bench can offer through the send handler (~45 ms an accept against moto)
# and moto can carry beside it: a quarter of the 80 msg/s sender's limit.
LOADED_RATE_PER_SECOND = 20
LOADED_SECONDS = 10
LEFT = ("", "NotVisible", "Delayed")  # SQS's counts of what a queue holds
# One drain run per sender stops here, sent or not (what is left is purged from the queue).
DRAIN_SECONDS = 60
TOKEN = "EAAG-bench-token"  # noqa: S105 - the local peer's made-up token


@dataclass
class Remote:
    """The stack in its processes, and the handles the measurements need."""

    services: Any
    send: Any
    moto: Child
    peer: Child
    requests: "RequestMeter"
    recipients: Iterator[int] = field(default_factory=lambda: iter(range(10**7)))

    def peer_starts(self) -> dict[str, float]:
        """When the peer received each message send, by recipient (digits only)."""
        return {to.lstrip("+"): at for to, at in json.loads(self.peer.ask("sent"))}


class RequestMeter:
    """Every AWS request this process makes (to moto's server), counted by operation and timed."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.seconds = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[None]:
        from botocore.endpoint import Endpoint

        original = Endpoint.make_request

        def timed(endpoint: Endpoint, operation: Any, request: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(endpoint, operation, request)
            finally:
                with self._lock:
                    self.operations[operation.name] += 1
                    self.seconds += time.perf_counter() - started

        Endpoint.make_request = timed  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            Endpoint.make_request = original  # type: ignore[method-assign]

    def snapshot(self) -> tuple[Counter[str], float]:
        with self._lock:
            return Counter(self.operations), self.seconds


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables for the block; the other parts of `make bench` use in-process moto."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def remote_stack() -> Iterator[Remote]:
    prepare()
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from local.template_stack import create_stack_resources, function_environment
    from postino import aws
    from postino.services import Services, use_services
    from postino.settings import Settings, get_settings
    from tests.support.functions import load_function
    from tests.support.webhooks import APP_SECRET, PHONE_NUMBER_ID, WABA_ID

    meter = RequestMeter()
    with (
        child("moto") as moto,
        child("peer", str(PEER_LATENCY_SECONDS), TOKEN) as peer,
        _environment({"AWS_ENDPOINT_URL": moto.url, "AWS_ACCESS_KEY_ID": "local",
                      "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}),
        meter.installed(),
    ):  # fmt: skip
        aws.reset_clients()
        get_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        resources = create_stack_resources(
            parameter_overrides={"PhoneNumberId": PHONE_NUMBER_ID, "WabaId": WABA_ID}
        )
        os.environ.update(function_environment(resources, "SendFunction"))
        os.environ["GRAPH_API_BASE_URL"] = peer.url
        os.environ["DEFAULT_ENFORCE_SERVICE_WINDOW"] = "false"  # recipients never wrote first
        os.environ["DRAIN_CONCURRENCY"] = str(DRAIN_CONCURRENCY)
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name="postino/meta/access-token", SecretString=TOKEN)
        secrets.create_secret(Name="postino/meta/app-secret", SecretString=APP_SECRET)
        secrets.create_secret(Name="postino/meta/verify-token", SecretString="verify-me")
        services = Services.build(Settings.from_environment())
        services.nudger = RecordingNudger()  # type: ignore[assignment]
        use_services(services)
        try:
            remote = Remote(services, load_function("send"), moto, peer, meter)
            for name, limit in SENDER_LIMITS.items():
                _put_sender(remote, name, limit)
            yield remote
        finally:
            use_services(None)
            aws.reset_clients()
            get_settings.cache_clear()


def _call(remote: Remote, method: str, path: str, body: Any = None) -> Any:
    from tests.support.events import FakeLambdaContext, as_http, rest_event

    return as_http(remote.send.lambda_handler(rest_event(method, path, body), FakeLambdaContext()))


def _put_sender(remote: Remote, name: str, limit: int) -> None:
    from tests.support.webhooks import PHONE_NUMBER_ID

    body = {
        "provider": "cloud_api",
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token_secret": "postino/meta/access-token",
        "limits": [{"max": limit, "per_seconds": 1}],
        "enforce_service_window": False,
    }
    answer = _call(remote, "PUT", f"/v1/senders/{name}", body)
    if answer.status not in (200, 201):
        raise RuntimeError(f"PUT /v1/senders/{name} answered {answer.status}: {answer.body}")


@dataclass(frozen=True)
class Accepted:
    id: str
    to: str  # digits, as the peer records them without the +
    at: float  # when the handler answered 202: the message is queued from then on


def accept(remote: Remote, sender: str) -> Accepted:
    """POST /v1/messages through the send handler, to a recipient no other message has."""
    to = f"39333{next(remote.recipients):07d}"
    body = {"to": f"+{to}", "sender": sender, "type": "text", "text": {"body": "Ciao"}}
    answer = _call(remote, "POST", "/v1/messages", body)
    if answer.status != 202:
        raise RuntimeError(f"accept answered {answer.status}: {answer.body}")
    return Accepted(answer.body["id"], to, time.time())


# ---- throughput ------------------------------------------------------------------------------


@dataclass
class Cost:
    """What a phase cost: CPU here and in moto's process, and AWS requests, per message."""

    messages: int
    bench_cpu_ms: float
    moto_cpu_ms: float
    aws_requests: float
    aws_request_ms: float  # mean wall time of one request to moto's server, as the client saw it
    operations: dict[str, float]  # AWS requests per message, by operation

    @property
    def moto_cpu_per_request_ms(self) -> float:
        return self.moto_cpu_ms / self.aws_requests if self.aws_requests else 0.0


@contextmanager
def costed(remote: Remote, result: list[Cost], messages: Callable[[], int]) -> Iterator[None]:
    """Append the block's cost per message (`messages()` is read after the block) to `result`."""
    operations_before, seconds_before = remote.requests.snapshot()
    cpu_before, moto_before = time.process_time(), remote.moto.cpu_seconds()
    yield
    operations, seconds = remote.requests.snapshot()
    operations.subtract(operations_before)
    n, requests = max(messages(), 1), max(operations.total(), 1)
    result.append(
        Cost(
            messages=n,
            bench_cpu_ms=(time.process_time() - cpu_before) / n * 1000,
            moto_cpu_ms=(remote.moto.cpu_seconds() - moto_before) / n * 1000,
            aws_requests=operations.total() / n,
            aws_request_ms=(seconds - seconds_before) / requests * 1000,
            operations={name: count / n for name, count in operations.most_common() if count},
        )
    )


@dataclass
class Throughput:
    sender: str
    limit: int
    queued: int
    sent_at_peer: int
    steady_rate: float  # (n - 1) / (last start - first start), starts at the peer
    overall_rate: float  # n / (last start - drain start)
    most_in_one_second: int  # sliding window [t, t + 1) over the peer's start times
    drain_seconds: float
    accept: Cost  # per message queued
    drain: Cost  # per message sent
    late_wakeups: int
    missed_slot: int
    # From the drain's dispatch trace (bench.figures.pacing_gaps): time the pace left unused.
    pacing: dict[str, float]


def throughput(remote: Remote, sender: str, messages: int) -> Throughput:
    """Queue `messages`, then one drain run (at most DRAIN_SECONDS) sends them; starts at the peer."""
    from postino import aws
    from postino.drain.drainer import Drainer
    from postino.drain.targets import DrainTarget

    costs: list[Cost] = []
    queued: list[Accepted] = []
    with costed(remote, costs, lambda: len(queued)):
        queued += [accept(remote, sender) for _ in range(messages)]
    sent: list[float] = []
    with costed(remote, costs, lambda: len(sent)):
        started = time.time()
        drainer = Drainer(remote.services, DrainTarget(sender))
        drainer.state.trace = []
        report = drainer.run(started + DRAIN_SECONDS)
        drain_seconds = time.time() - started
        at_peer = remote.peer_starts()
        sent += sorted(at_peer[q.to] for q in queued if q.to in at_peer)
    # What one run left behind would be sent by the next sender's run: gone. (SQS allows one
    # purge a minute: only when something is left.)
    queue = remote.services.queues.for_sender(sender).queue_url
    counts: Any = aws.sqs().get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])
    counts = counts["Attributes"]
    if any(int(counts.get(f"ApproximateNumberOfMessages{c}", "0")) for c in LEFT):
        aws.sqs().purge_queue(QueueUrl=queue)
    if len(sent) < 2:
        raise RuntimeError(f"{sender}: the peer saw {len(sent)} of {messages} sends")
    n = len(sent)
    return Throughput(
        sender=sender,
        limit=SENDER_LIMITS[sender],
        queued=messages,
        sent_at_peer=n,
        steady_rate=(n - 1) / (sent[-1] - sent[0]),
        overall_rate=n / (sent[-1] - started),
        most_in_one_second=most_in_window(sent),
        drain_seconds=drain_seconds,
        accept=costs[0],
        drain=costs[1],
        late_wakeups=report.late_wakeups,
        missed_slot=report.missed_slot,
        pacing=pacing_gaps(
            [(t.starts, t.next_slot_at) for t in drainer.state.trace],
            interval=1 / SENDER_LIMITS[sender],
        ),
    )


# ---- latency -----------------------------------------------------------------------------------


@dataclass
class Latency:
    name: str
    to_accepted: list[float]  # enqueue → provider_accepted on the timeline
    to_peer: list[float]  # enqueue → the peer received the send
    offered_rate: float | None = None


@contextmanager
def drain_running(remote: Remote) -> Iterator[None]:
    """Drain runs back to back, as the nudges and the schedule keep one going under traffic."""
    from postino.drain.drainer import Drainer
    from postino.drain.targets import DrainTarget

    stop = threading.Event()

    def loop() -> None:
        # The latency runs queue for one sender only.
        while not stop.is_set():
            Drainer(remote.services, DrainTarget("limit80")).run(time.time() + 30)

    thread = threading.Thread(target=loop, name="drain-loop", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


def provider_accepted_at(remote: Remote, message_id: str, timeout: float = 30.0) -> float:
    """The time of the message's provider_accepted event, waiting for it to appear."""
    from postino.messages.model import Phase

    deadline = time.time() + timeout
    while time.time() < deadline:
        message = remote.services.messages.get(message_id)
        for step in message.events if message is not None else []:
            if step.phase is Phase.PROVIDER_ACCEPTED:
                return datetime.fromisoformat(step.at).timestamp()
        time.sleep(0.02)
    raise RuntimeError(f"message {message_id} was not accepted by the provider in {timeout} s")


def _latency(remote: Remote, name: str, queued: list[Accepted], rate: float | None) -> Latency:
    accepted = [provider_accepted_at(remote, q.id) - q.at for q in queued]
    at_peer = remote.peer_starts()
    return Latency(name, accepted, [at_peer[q.to] - q.at for q in queued], rate)


def idle_latency(remote: Remote, count: int) -> Latency:
    """One message at a time, each sent before the next is accepted."""
    queued = []
    for _ in range(count):
        queued.append(accept(remote, "limit80"))
        provider_accepted_at(remote, queued[-1].id)
    return _latency(remote, f"idle: {count} single messages, one at a time", queued, None)


def loaded_latency(remote: Remote, rate: float, seconds: float) -> Latency:
    """A steady offered load: accepts paced at `rate` per second for `seconds`."""
    queued: list[Accepted] = []
    started = time.time()
    for n in range(int(rate * seconds)):
        time.sleep(max(started + n / rate - time.time(), 0))
        queued.append(accept(remote, "limit80"))
    offered = len(queued) / (time.time() - started)
    name = f"under load: {len(queued)} messages offered at {offered:.0f}/s to the 80/s sender"
    return _latency(remote, name, queued, offered)


# ---- the part ----------------------------------------------------------------------------------


def measure(messages: int = 2000) -> tuple[list[str], dict[str, Any]]:
    from postino.drain.slots import CLAIM_LEAD_SECONDS
    from postino.settings import Settings

    grace = Settings().rate_window_grace_seconds
    with remote_stack() as remote:
        with drain_running(remote):
            latencies = [
                idle_latency(remote, IDLE_MESSAGES),
                loaded_latency(remote, LOADED_RATE_PER_SECOND, LOADED_SECONDS),
            ]
        runs = [
            throughput(remote, sender, min(messages, REFERENCE_MESSAGES))
            if sender == REFERENCE_SENDER
            else throughput(remote, sender, messages)
            for sender in SENDER_LIMITS
        ]
    return report(runs, latencies, grace, CLAIM_LEAD_SECONDS)


def _throughput_lines(runs: list[Throughput], grace: float) -> list[str]:
    best = 1 / (1 + grace)  # max / (per + grace) over the limit, per = 1 s
    lines = [
        f"Drain throughput: one drain run per sender (at most {DRAIN_SECONDS} s) on its queued "
        f"messages, Graph API peer answering in {PEER_LATENCY_SECONDS * 1000:.0f} ms; moto and "
        "the peer in processes of their own; starts timed at the peer",
        f"{'sender':<16}{'queued':>7}{'sent':>6}{'msg/s':>8}{'/limit':>8}{'best':>7}"
        f"{'max in 1 s':>11}{'req/msg':>9}{'late':>7}{'missed':>8}{'idle':>7}{'gap ms':>8}",
    ]
    for r in runs:
        name = f"{r.limit} msg/s" + (" (ref)" if r.sender == REFERENCE_SENDER else "")
        lines.append(
            f"{name:<16}{r.queued:>7}{r.sent_at_peer:>6}{r.steady_rate:>8.1f}"
            f"{r.steady_rate / r.limit:>8.3f}{best:>7.3f}{r.most_in_one_second:>11}"
            f"{r.drain.aws_requests:>9.1f}{r.late_wakeups:>7}{r.missed_slot:>8}"
            f"{r.pacing['idle_share']:>7.2f}{r.pacing['mean_late_ms']:>8.0f}"
        )
    reference = runs[0].drain
    lines += [
        "msg/s: (n-1)/(last start - first start) at the peer; best: the grace's ceiling "
        f"1/(1 s + {grace * 1000:.0f} ms); max in 1 s: most starts in any [t, t+1) at the peer "
        "(must not exceed the limit); req/msg: AWS requests of the drain per message sent; "
        "late, missed: the drain report's late_wakeups and missed_slot; idle: the share of the "
        "run between the drain's blocks of reserved starts beyond the pace; gap ms: how long "
        "after the slot a block could not fit the next block began (the dispatch trace).",
        f"{'per message':<16}{'drain CPU ms':>13}{'moto CPU ms':>12}{'AWS req':>9}"
        f"{'ms each':>9}{'accept CPU ms':>15}{'moto CPU ms':>12}",
        *(
            f"{f'{r.limit} msg/s':<16}{r.drain.bench_cpu_ms:>13.1f}{r.drain.moto_cpu_ms:>12.1f}"
            f"{r.drain.aws_requests:>9.1f}{r.drain.aws_request_ms:>9.1f}"
            f"{r.accept.bench_cpu_ms:>15.1f}{r.accept.moto_cpu_ms:>12.1f}"
            for r in runs
        ),
        "The drain's requests per message sent, by operation: "
        + "; ".join(
            f"{r.limit}/s "
            + ", ".join(
                f"{name} {count:.1f}" for name, count in list(r.drain.operations.items())[:5]
            )
            for r in runs
        ),
        # A message that makes its slot needs its pair's PutItem, the claim and the sent record
        # (two UpdateItem), and its share of a ReceiveMessage, a DeleteMessageBatch and the
        # sender window's PutItem: the reference run's mix, where few slots are missed.
        f"What limits it here: moto serves every request on one GIL. At the reference run's "
        f"{reference.aws_requests:.1f} requests and {reference.moto_cpu_ms:.1f} ms of moto CPU a "
        f"message sent, one moto process carries at most ~{1000 / reference.moto_cpu_ms:.0f} "
        "msg/s. Each late wakeup adds a release and a new reservation (PutItem), each missed "
        "slot a requeue (UpdateItem, SendMessage) and a new receive: moto slows further.",
        f"Settings: DRAIN_CONCURRENCY={DRAIN_CONCURRENCY} (default 64), "
        f"RATE_WINDOW_GRACE_SECONDS={grace:g} (the default); every message to its own recipient "
        "(no pair limit).",
    ]
    return lines


def _latency_lines(latencies: list[Latency], lead: float) -> list[str]:
    floor = lead + PEER_LATENCY_SECONDS
    lines = [
        "Latency, enqueue (the send handler's 202) → provider_accepted on the timeline "
        "(written when the peer's answer is back), drain runs back to back",
        f"{'what':<62}{'p50 ms':>9}{'p99 ms':>9}",
    ]
    for latency in latencies:
        lines += [
            f"{latency.name:<62}{percentile(latency.to_accepted, 0.5) * 1000:>9.0f}"
            f"{percentile(latency.to_accepted, 0.99) * 1000:>9.0f}",
            f"{'  enqueue → the peer received the send':<62}"
            f"{percentile(latency.to_peer, 0.5) * 1000:>9.0f}"
            f"{percentile(latency.to_peer, 0.99) * 1000:>9.0f}",
        ]
    lines += [
        f"{'(reference) CLAIM_LEAD_SECONDS + the peer answering':<62}{floor * 1000:>9.0f}"
        f"{floor * 1000:>9.0f}",
        f"The drain reserves each start {lead * 1000:.0f} ms ahead (CLAIM_LEAD_SECONDS, by design):"
        f" the floor of enqueue → peer; the peer holds each answer "
        f"{PEER_LATENCY_SECONDS * 1000:.0f} ms.",
    ]
    return lines


def report(
    runs: list[Throughput], latencies: list[Latency], grace: float, lead: float
) -> tuple[list[str], dict[str, Any]]:
    lines = [*_throughput_lines(runs, grace), "", *_latency_lines(latencies, lead)]
    figures = {
        "throughput": [
            {**r.__dict__, "accept": r.accept.__dict__, "drain": r.drain.__dict__} for r in runs
        ],
        "best_ratio": 1 / (1 + grace),
        "latency": [
            {
                "what": latency.name,
                "p50_ms": percentile(latency.to_accepted, 0.5) * 1000,
                "p99_ms": percentile(latency.to_accepted, 0.99) * 1000,
                "to_peer_p50_ms": percentile(latency.to_peer, 0.5) * 1000,
                "to_peer_p99_ms": percentile(latency.to_peer, 0.99) * 1000,
                "offered_rate": latency.offered_rate,
            }
            for latency in latencies
        ],
        "floor_ms": (lead + PEER_LATENCY_SECONDS) * 1000,
        "drain_concurrency": DRAIN_CONCURRENCY,
        "grace_seconds": grace,
    }
    return lines, figures
