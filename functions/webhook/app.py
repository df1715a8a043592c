"""Meta's webhook route (GET verification, POST deliveries) and WAHA's: verify, queue, answer.

Kept light on purpose, since the peers time webhooks and a cold start pays for every import: no
settings model, no pydantic, no X-Ray SDK (Lambda's active tracing still records the
invocation). `python -X importtime` shows the difference. The processor (process.py) does the
work.
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


INGEST = Ingest(
    app_secret=lambda: _secret(os.environ.get("APP_SECRET_NAME", "")),
    verify_token=lambda: _secret(os.environ.get("VERIFY_TOKEN_NAME", "")),
    waha_hmac_key=lambda: _secret(os.environ.get("WAHA_HMAC_KEY_NAME", "")),
    enqueue=_enqueue,
    count=_count,
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
