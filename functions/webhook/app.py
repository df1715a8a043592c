"""Meta's webhook route (GET verification, POST deliveries) and WAHA's: verify, settle or
queue, answer.

Kept light on purpose, since the peers time webhooks and a cold start pays for every import: no
settings model, no pydantic, no X-Ray SDK (Lambda's active tracing still records the
invocation). `python -X importtime` shows the difference. A body of statuses only is settled
here with the processor's own code, imported on the first such body; the processor
(process.py) does everything else from the ingest queue.
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from aws_lambda_powertools.utilities.typing import LambdaContext

from postino import aws
from postino.webhooks.ingest import Ingest, handle

logger = Logger()
metrics = Metrics()

# Secrets change rarely; five minutes of cache keeps the route off Secrets Manager's clock.
SECRET_MAX_AGE_SECONDS = 300


def _secret(name: str) -> str:
    """A secret's value; "" when it is not set up, which refuses every signature (401)."""
    if not name:
        return ""
    try:
        value: str = aws.secret(name, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError:
        logger.warning("webhook secret unavailable", extra={"secret_name": name})
        return ""
    return value


def _enqueue(body: str) -> None:
    aws.sqs().send_message(QueueUrl=os.environ["INGEST_QUEUE_URL"], MessageBody=body)


def _count(metric: str) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


def _settle(text: str) -> bool:
    """Apply Meta's statuses now (postino/webhooks/process.py, as the processor would): True
    when each is applied, a repeat or an orphan. False sends the body to the queue: a status
    whose send the drain has not recorded yet (the processor retries it with its back-off), or
    any failure here. What was applied stays applied; the processor finds it a repeat."""
    # The status path's imports (models, settings, the stores), on the first status only.
    from postino.services import get_services
    from postino.webhooks.process import NotYetRecorded, Processor

    try:
        counts = Processor(get_services()).process(text)
    except NotYetRecorded:
        return False
    except Exception as error:  # the queue is the fallback, and the log says why
        # The type only: a message could quote the body (numbers, text).
        logger.warning("statuses queued, not settled", extra={"error": type(error).__name__})
        _count("WebhookStatusesQueued")
        return False
    logger.info("statuses settled", extra={"counts": dict(counts)})
    return True


INGEST = Ingest(
    app_secret=lambda: _secret(os.environ.get("APP_SECRET_NAME", "")),
    verify_token=lambda: _secret(os.environ.get("VERIFY_TOKEN_NAME", "")),
    waha_hmac_key=lambda: _secret(os.environ.get("WAHA_HMAC_KEY_NAME", "")),
    enqueue=_enqueue,
    count=_count,
    settle=_settle,
)


# No log_event: the body is a customer's message and never goes to the log. The function URL
# keeps no access log: who called, and where, is in this line (a 401 from an IP not the
# peer's is someone probing).
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = handle(event, INGEST)
    http = event.get("requestContext", {}).get("http", {})
    logger.info(
        "webhook answered",
        extra={
            "status": response["statusCode"],
            "method": http.get("method"),
            "path": event.get("rawPath"),
            "ip": http.get("sourceIp"),
        },
    )
    return response
