"""Shared fixtures: moto built from template.yaml, the Graph API peer, and the real handlers."""

import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import moto.kms.models
import moto.kms.utils
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from local import iam
from local.functions import load_function, under_role
from local.graph_api_peer import GraphApiPeer
from local.meta_contract import spec_path
from local.nudger import RecordingNudger, drain_round
from local.sqs_events import QueuePoller
from local.template_stack import StackResources, create_stack_resources, function_environment
from local.waha_contract import spec_path as waha_spec_path
from local.waha_peer import WahaPeer
from postino import aws
from postino.clock import Clock, FakeClock, SystemClock
from postino.drain.targets import DrainTarget
from postino.outbox import Delivery, Outbox
from postino.services import Services, use_services
from postino.settings import Settings, get_settings
from postino.store.senders import DEFAULT_SENDER
from tests.support.events import (
    FakeLambdaContext,
    HttpResult,
    as_http,
    rest_event,
)
from tests.support.links import LINK_KEY, LINK_KEY_SECRET
from tests.support.prerequisites import require_contract
from tests.support.waha import (
    WAHA_API_KEY,
    WAHA_HMAC_KEY,
    WAHA_HMAC_SECRET,
    WAHA_KEY_SECRET,
    waha_webhook_event,
)
from tests.support.webhooks import APP_SECRET, PHONE_NUMBER_ID, WABA_ID, webhook_event

# DynamoDB serialises writes to an item; moto's in-process backend does not, so two drainer
# threads could both pass a condition. Serialising moto's dispatch restores DynamoDB's guarantee.
_moto_lock = threading.Lock()
_process_request = BotocoreStubber.process_request


def _serialised(self: BotocoreStubber, request: Any) -> Any:
    with _moto_lock:
        return _process_request(self, request)


BotocoreStubber.process_request = _serialised  # type: ignore[method-assign]

# Every test starts a fresh boto3 session (moto's and ours), and each session's loader would
# parse the same service models again: one loader, with its cache, serves them all.
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)
# moto gives every KMS key (Secrets Manager makes one per test) a fresh 2,048-bit RSA key pair.
moto.kms.models.generate_private_key = functools.cache(  # type: ignore[attr-defined]
    moto.kms.utils.generate_private_key
)

ACCESS_TOKEN = "EAAG-test-token"
TOKEN_SECRET = "postino/meta/access-token"
VERIFY_TOKEN = "verify-me-please"


@pytest.fixture
def peer() -> Iterator[GraphApiPeer]:
    require_contract(spec_path())
    with GraphApiPeer(access_token=ACCESS_TOKEN) as graph_api:
        graph_api.templates[WABA_ID] = []  # the stack's WABA, with no templates yet
        yield graph_api


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, peer: GraphApiPeer) -> Iterator[StackResources]:
    """A fresh moto with the resources of template.yaml and the send function's environment."""
    with mock_aws():
        aws.reset_clients()
        get_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        resources = create_stack_resources(
            parameter_overrides={
                "PhoneNumberId": PHONE_NUMBER_ID,
                "WabaId": WABA_ID,
                "WahaAllowedBaseUrls": "http://127.0.0.1:*",  # the WAHA fake's
            }
        )
        for name, value in function_environment(resources, "SendFunction").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("GRAPH_API_BASE_URL", peer.base_url)
        # The drainers share this process (and its GIL) with moto and the tests: on a busy
        # machine a send thread often misses the default grace's 25 ms and reserves again; a
        # wider grace keeps a test about what it tests (tests/unit/test_slots.py: being late).
        monkeypatch.setenv("RATE_WINDOW_GRACE_SECONDS", "0.4")
        # Tests of other things send free text to numbers that never wrote: the window check
        # has tests of its own (tests/integration/test_conversation_rules.py), and
        # tests/integration/test_production_defaults.py runs without this or the grace above.
        monkeypatch.setenv("DEFAULT_ENFORCE_SERVICE_WINDOW", "false")
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=TOKEN_SECRET, SecretString=ACCESS_TOKEN)
        secrets.create_secret(Name="postino/meta/app-secret", SecretString=APP_SECRET)
        secrets.create_secret(Name="postino/meta/verify-token", SecretString=VERIFY_TOKEN)
        secrets.create_secret(Name=WAHA_KEY_SECRET, SecretString=WAHA_API_KEY)
        secrets.create_secret(Name=WAHA_HMAC_SECRET, SecretString=WAHA_HMAC_KEY)
        secrets.create_secret(Name=LINK_KEY_SECRET, SecretString=LINK_KEY)
        # Every function under its own role from here on, the test itself as the operator.
        roles = iam.create_function_roles(resources)
        for name, value in iam.operator_environment(roles).items():
            monkeypatch.setenv(name, value)
        boto3.setup_default_session()  # boto3.client() keeps the credentials it first read
        aws.use_roles(roles.session)
        iam.enforce()
        try:
            with aws.acting_as(iam.OPERATOR):
                yield resources
            # A refusal fails the test that met it, even where the code caught it.
            denied = iam.take_denials()
            assert not denied, "AWS refused: " + "; ".join(map(str, denied))
        finally:
            iam.enforce(on=False)
            aws.use_roles(None)
            use_services(None)
            get_settings.cache_clear()


@pytest.fixture
def make_services(
    stack: StackResources, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Services]:
    def make(clock: Clock | None = None) -> Services:
        services = Services.build(Settings.from_environment(), clock or SystemClock())
        services.nudger = RecordingNudger()  # type: ignore[assignment]
        if isinstance(clock, FakeClock):
            long_poll_in_simulated_time(monkeypatch, clock)
        use_services(services)
        return services

    return make


def long_poll_in_simulated_time(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """On a FakeClock, the queues' long poll waits in simulated time: short polls, a quarter
    second apart on the clock. A drain's work must not wait on moto's real second, while its
    copies' visibility timeouts run out in real time."""
    receive = Outbox.receive

    def long_poll(self: Outbox, *, wait_seconds: int = 1, **kwargs: Any) -> list[Delivery]:
        give_up_at = clock.now() + wait_seconds
        while (
            not (deliveries := receive(self, wait_seconds=0, **kwargs)) and clock.now() < give_up_at
        ):
            clock.sleep(min(0.25, give_up_at - clock.now()))
        return deliveries

    monkeypatch.setattr(Outbox, "receive", long_poll)


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    """Services on the real clock; a test that moves time builds its own with a FakeClock."""
    return make_services()


@pytest.fixture
def api(services: Services) -> Callable[..., HttpResult]:
    """Call the send function's lambda_handler with a REST proxy event."""
    send = under_role("SendFunction", load_function("send").lambda_handler)

    def call(method: str, path: str, body: Any = None, **kwargs: Any) -> HttpResult:
        return as_http(send(rest_event(method, path, body, **kwargs), FakeLambdaContext()))

    return call


@pytest.fixture
def drain(services: Services) -> Callable[..., dict[str, Any]]:
    """Run the scheduler function's lambda_handler as EventBridge Scheduler would.

    The drain stops when the queue is empty; the deadline only bounds a slow machine.
    """
    scheduler = under_role("SchedulerFunction", load_function("scheduler").lambda_handler)

    def run(seconds: float = 30.0) -> dict[str, Any]:
        """The tick, then each drainer it woke, in turn (on AWS, invocations of their own).
        Their reports are summed into one."""
        margin = services.settings.drain_margin_seconds

        def context() -> FakeLambdaContext:
            return FakeLambdaContext(
                function_name="postino-SchedulerFunction",
                remaining_millis=int((seconds + margin) * 1000),
            )

        nudger: RecordingNudger = services.nudger  # type: ignore[assignment]
        before = len(nudger.targets)
        tick, reports = drain_round(nudger, lambda event: scheduler(event, context()))
        total: dict[str, Any] = {**tick, "outcomes": Counter()}
        for report in reports:
            for name, value in report.items():
                if name == "outcomes":
                    total["outcomes"].update(value)
                elif isinstance(value, bool):
                    total[name] = total.get(name, False) or value
                elif isinstance(value, int | float):
                    total[name] = total.get(name, 0) + value
        total["outcomes"] = dict(total["outcomes"])
        # The drainers that nudged a new invocation (out of time with work left).
        total["handed_over"] = nudger.targets[before + tick["woken"] :]
        return total

    return run


def sqs_depth(url: str, *counts: str) -> int:
    """The sum of a queue's ApproximateNumberOfMessages<count> attributes ("" is the visible)."""
    names = [f"ApproximateNumberOfMessages{count}" for count in counts]
    attributes = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=names)  # type: ignore[arg-type]
    return sum(int(v) for v in attributes["Attributes"].values())


def queue_depth(services: Services, sender: str = DEFAULT_SENDER) -> int:
    """A sender's outbound copies waiting: visible or delayed (not those a drainer holds)."""
    return services.queues.backlog(sender)


# The default sender's one drainer, as most tests drain.
DRAIN = DrainTarget(DEFAULT_SENDER)


def outbox(services: Services, sender: str = DEFAULT_SENDER) -> Outbox:
    """A sender's outbound queue (created if need be)."""
    return services.queues.for_sender(sender)


def queue_url(services: Services, sender: str = DEFAULT_SENDER) -> str:
    """A sender's outbound queue (created if need be)."""
    return services.queues.for_sender(sender).queue_url


@pytest.fixture
def webhook(services: Services) -> Callable[..., HttpResult]:
    """POST a body to Meta's webhook route, signed with the app secret unless told otherwise."""
    route = under_role("WebhookFunction", load_function("webhook").lambda_handler)

    def call(body: Any, **kwargs: Any) -> HttpResult:
        return as_http(route(webhook_event(body, **kwargs), FakeLambdaContext()))

    return call


@pytest.fixture
def waha_peer() -> Iterator[WahaPeer]:
    """A WAHA fake checking requests against WAHA's spec; sessions are added by each test."""
    require_contract(waha_spec_path())
    with WahaPeer(api_key=WAHA_API_KEY) as waha:
        yield waha


@pytest.fixture
def waha_webhook(services: Services) -> Callable[..., HttpResult]:
    """POST a body to WAHA's webhook route, signed with the HMAC key unless told otherwise."""
    route = under_role("WebhookFunction", load_function("webhook").lambda_handler)

    def call(body: Any, **kwargs: Any) -> HttpResult:
        return as_http(route(waha_webhook_event(body, **kwargs), FakeLambdaContext()))

    return call


def queue_consumer(role: str, module: str, queue_url: str, name: str) -> Callable[[], list[str]]:
    """Hand what waits on a queue to a function, as Lambda's SQS poller would: the ids of the
    records the function reported as failed (they stay on the queue)."""
    function = under_role(role, load_function("webhook", module).lambda_handler)
    # Lambda's poller receives and deletes with the function's own role.
    with aws.acting_as(role):
        poller = QueuePoller(aws.sqs(), queue_url)

    def handle(event: dict[str, Any]) -> Any:
        return function(event, FakeLambdaContext(function_name=name))

    def run() -> list[str]:
        failed: list[str] = []
        while batch := poller.poll(handle):
            failed += batch.failed
            if batch.failed:
                break
        return failed

    return run


@pytest.fixture
def process(services: Services) -> Callable[[], list[str]]:
    """The webhook processor on the ingest queue (see queue_consumer)."""
    return queue_consumer(
        "WebhookProcessorFunction", "process", services.settings.ingest_queue_url, "processor"
    )


@pytest.fixture
def media(services: Services) -> Callable[[], list[str]]:
    """The media function on the media queue (see queue_consumer)."""
    return queue_consumer("MediaFunction", "media", services.settings.media_queue_url, "media")
