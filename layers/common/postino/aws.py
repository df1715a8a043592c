"""The one place that builds AWS clients: lazily, so that moto (or AWS_ENDPOINT_URL) is in place first.

In Lambda a process runs one function, and its clients sign with that function's role (the
default credential chain). The local stack and the tests run every function in one process:
they give each function its own role's credentials through `use_roles` and `acting_as`, so
that what a role lacks is refused locally as AWS would refuse it.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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

# Standard retry mode: throttling and 5xx are retried with backoff by botocore itself.
# No client-side parameter validation: every request is built by code, AWS validates it again,
# and the check was a tenth of the drain's CPU per message (bench/drain_cpu.py).
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    max_pool_connections=96,
    parameter_validation=False,
)

# Whose credentials the clients use: "" is the process's own (Lambda: the function's role).
_acting_as: ContextVar[str] = ContextVar("postino_aws_acting_as", default="")
_sessions: Callable[[str], boto3.session.Session] | None = None


def _session(identity: str) -> boto3.session.Session:
    if _sessions is None:
        return boto3.session.Session()
    return _sessions(identity)


@cache
def _client_of(service: str, identity: str) -> Any:
    return _session(identity).client(service, config=_CONFIG)  # type: ignore[call-overload]


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
def _s3_of(identity: str) -> Any:
    # Signature version 4 for presigned URLs too (botocore would presign with version 2).
    config = _CONFIG.merge(Config(signature_version="s3v4"))
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
    _s3_of.cache_clear()
    _secrets_of.cache_clear()
