"""The one place that builds AWS clients: lazily, so that moto (or AWS_ENDPOINT_URL) is in place first.

In Lambda a process runs one function, and its clients sign with that function's role (the
default credential chain). The local stack and the tests run every function in one process:
they give each function its own role's credentials through `use_roles` and `acting_as`, so
that what a role lacks is refused locally as AWS would refuse it.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class CallBudget:
    """How a client retries and how long it waits: chosen per service, not botocore's defaults
    (60 s to connect and 60 s for each read, which no function's timeout could hold)."""

    attempts: int  # in all, the first one included
    connect_seconds: float
    read_seconds: float  # without a byte from the service

    def config(self) -> Config:
        # Standard mode: throttles, 5xx and connection errors retried with jittered backoff.
        # No client-side parameter validation: every request is built by code, AWS validates it
        # again, and the check was a tenth of the drain's CPU per message (bench/drain_cpu.py).
        scale = _timeout_scale()
        return Config(
            retries={"mode": "standard", "total_max_attempts": self.attempts},
            connect_timeout=self.connect_seconds * scale,
            read_timeout=self.read_seconds * scale,
            max_pool_connections=96,
            parameter_validation=False,
        )

    def worst_case_seconds(self) -> float:
        """Every attempt timed out reading, and the longest throttling backoff between them
        (botocore: up to 2**i seconds before retry i+1)."""
        waits = self.attempts * (self.connect_seconds + self.read_seconds)
        backoffs = sum(min(2.0**i, 20.0) for i in range(self.attempts - 1))
        return waits + backoffs


# Four attempts where a failure costs a message's progress: at the soak's 2 % throttles and
# 1 % 500s, all four fail about once in 10 million calls. Reads that stall are cut short: these
# services answer in milliseconds, and a connection quiet for seconds is better tried anew.
BUDGETS = {
    # Single-digit milliseconds; a retried write is told from its own earlier effect by its
    # token (postino/store/own_writes.py). Worst case 19 s: inside the drain's 20 s margin.
    "dynamodb": CallBudget(attempts=4, connect_seconds=1, read_seconds=2),
    # The drain's long poll waits at most 1 s (WaitTimeSeconds): 3 s covers it and its answer.
    "sqs": CallBudget(attempts=4, connect_seconds=1, read_seconds=3),
    "events": CallBudget(attempts=4, connect_seconds=1, read_seconds=3),
    "secretsmanager": CallBudget(attempts=4, connect_seconds=1, read_seconds=3),
    # A nudge (an asynchronous Invoke): one that fails is made up by the next minute's tick.
    "lambda": CallBudget(attempts=2, connect_seconds=1, read_seconds=3),
    # A live update to a dashboard (postino/live/): one retry, then the page's next update or
    # its reconnection's fresh read makes up for it.
    "apigatewaymanagementapi": CallBudget(attempts=2, connect_seconds=1, read_seconds=2),
    # Inbound media, up to 100 MB each way: the read timeout is between bytes, not the whole.
    "s3": CallBudget(attempts=3, connect_seconds=2, read_seconds=10),
}


def _timeout_scale() -> float:
    # The local stack's moto answers in seconds on a loaded 2-core machine what AWS answers in
    # milliseconds: it scales the timeouts (local/embedded_aws.py). Unset in Lambda.
    return float(os.environ.get("POSTINO_AWS_TIMEOUT_SCALE", "1"))


# Whose credentials the clients use: "" is the process's own (Lambda: the function's role).
_acting_as: ContextVar[str] = ContextVar("postino_aws_acting_as", default="")
_sessions: Callable[[str], boto3.session.Session] | None = None


def _session(identity: str) -> boto3.session.Session:
    if _sessions is None:
        return boto3.session.Session()
    return _sessions(identity)


def session() -> boto3.session.Session:
    """The session of whoever acts now: the local stack's event sources read a table's stream
    with its function's role, as Lambda's poller does."""
    return _session(_acting_as.get())


@cache
def _client_of(service: str, identity: str) -> Any:
    config = BUDGETS[service].config()
    return _session(identity).client(service, config=config)  # type: ignore[call-overload]


def _client(service: str) -> Any:
    return _client_of(service, _acting_as.get())


def dynamodb() -> "DynamoDBClient":
    client: DynamoDBClient = _client("dynamodb")
    return client


def sqs() -> "SQSClient":
    client: SQSClient = _client("sqs")
    return client


def events() -> "EventBridgeClient":
    client: EventBridgeClient = _client("events")
    return client


def lambda_() -> "LambdaClient":
    client: LambdaClient = _client("lambda")
    return client


@cache
def _live_connections_of(endpoint: str, identity: str) -> Any:
    config = BUDGETS["apigatewaymanagementapi"].config()
    return _session(identity).client(
        "apigatewaymanagementapi", endpoint_url=endpoint, config=config
    )


def live_connections(endpoint: str) -> Any:
    """The WebSocket API's @connections (postino/live/): typed Any, no stubs for it here."""
    return _live_connections_of(endpoint, _acting_as.get())


@cache
def _s3_of(identity: str) -> Any:
    # Signature version 4 for presigned URLs too (botocore would presign with version 2).
    config = BUDGETS["s3"].config().merge(Config(signature_version="s3v4"))
    return _session(identity).client("s3", config=config)


def s3() -> Any:
    """S3 (inbound media): typed Any, the project carries no S3 stubs."""
    return _s3_of(_acting_as.get())


@cache
def _secrets_of(identity: str) -> SecretsProvider:
    # One provider (and its cache) per identity: a value one role read is never served to another.
    return SecretsProvider(boto3_client=_client_of("secretsmanager", identity))


def secret(name: str, max_age: int) -> str:
    """A secret's value, cached for max_age seconds (GetParameterError when it cannot be read)."""
    value: str = _secrets_of(_acting_as.get()).get(name, max_age=max_age)  # type: ignore[assignment]
    return value


def use_roles(sessions: Callable[[str], boto3.session.Session] | None) -> None:
    """The local stack and tests: `sessions(identity)` gives the credentials of each identity
    (a function's logical id, as `acting_as` names it). None goes back to the default chain."""
    global _sessions
    _sessions = sessions
    reset_clients()


@contextmanager
def acting_as(identity: str) -> Iterator[None]:
    """Make the AWS calls in this block (and in threads started with its context) as `identity`."""
    token = _acting_as.set(identity)
    try:
        yield
    finally:
        _acting_as.reset(token)


def reset_clients() -> None:
    """Forget built clients and cached secrets (tests start a fresh moto per test)."""
    _client_of.cache_clear()
    _live_connections_of.cache_clear()
    _s3_of.cache_clear()
    _secrets_of.cache_clear()
