"""The one place that builds AWS clients: lazily, so that moto (or AWS_ENDPOINT_URL) is in place first."""

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient

# Standard retry mode: throttling and 5xx are retried with backoff by botocore itself.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=96)


@cache
def _client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


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


def reset_clients() -> None:
    """Forget built clients (tests start a fresh moto per test)."""
    _client.cache_clear()
