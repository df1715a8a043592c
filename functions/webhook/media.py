"""The media function: drains the media queue, one inbound file to keep per SQS record.

A record whose fetch failed is reported alone (ReportBatchItemFailures) and comes back until
the redrive policy moves it to the media dead-letter queue; the webhook never waits on it.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from postino.media.jobs import MediaJob
from postino.media.keep import keep
from postino.observability import logger, metrics, tracer
from postino.services import get_services
from postino.sqs_batch import PartialBatchResponse, SqsRecord, handle_batch


def record_handler(record: SqsRecord) -> None:
    keep(get_services(), MediaJob.model_validate_json(record.body))


@logger.inject_lambda_context
# No response or error in the trace: an error may name a media URL.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    # A batch whose every fetch failed reports each record, as a partly failed one does.
    return handle_batch(event, record_handler, raise_when_every_record_fails=False)
