"""The media function: drains the media queue, one inbound file to keep per SQS record.

A record whose fetch failed is reported alone (ReportBatchItemFailures) and comes back until
the redrive policy moves it to the media dead-letter queue; the webhook never waits on it.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from postino.media.jobs import MediaJob
from postino.media.keep import keep
from postino.observability import logger, metrics, tracer
from postino.services import get_services

# A batch whose every fetch failed reports each record, as a partly failed one does.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    keep(get_services(), MediaJob.model_validate_json(record.body))


@logger.inject_lambda_context
# No response or error in the trace: an error may name a media URL.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
