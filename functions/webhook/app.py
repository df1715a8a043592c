"""Meta's webhook route (GET verification, POST deliveries): verify, queue, answer.

Kept light on purpose (Meta times webhooks): the processor in process.py does the work.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from postino import aws
from postino.observability import logger, metrics, tracer
from postino.settings import get_settings
from postino.webhooks.ingest import Ingest, handle

# Secrets change rarely; five minutes of cache keeps the route off Secrets Manager's clock.
SECRET_MAX_AGE_SECONDS = 300


def _secret(name: str) -> str:
    value: str = parameters.get_secret(name, max_age=SECRET_MAX_AGE_SECONDS) if name else ""
    return value


def _enqueue(body: str) -> None:
    aws.sqs().send_message(QueueUrl=get_settings().ingest_queue_url, MessageBody=body)


def _count(metric: str) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


INGEST = Ingest(
    app_secret=lambda: _secret(get_settings().app_secret_name),
    verify_token=lambda: _secret(get_settings().verify_token_name),
    enqueue=_enqueue,
    count=_count,
)


# No log_event: the body is a customer's message and never goes to the log.
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = handle(event, INGEST)
    logger.info("webhook answered", extra={"status": response["statusCode"]})
    return response
