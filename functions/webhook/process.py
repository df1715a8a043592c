"""The webhook processor: drains the ingest queue, one notification per SQS record.

A record that fails is reported alone (ReportBatchItemFailures): its batch mates are done, and
SQS tries it again until the redrive policy moves it to the ingest dead-letter queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from postino import aws
from postino.observability import logger, metrics, tracer
from postino.services import get_services
from postino.sqs_batch import PartialBatchResponse, SqsRecord, handle_batch
from postino.webhooks.process import NotYetRecorded, Processor

# A status that beat the drain's own record comes back soon (10 s), then later and later (30,
# 90, 270 s): long enough, before the ingest DLQ, for a dead drainer's copy to come back
# (outbound visibility 120 s) and mark the send unknown, which the status then settles.
NOT_YET_RECORDED_FIRST_RETRY_SECONDS = 10


def record_handler(record: SqsRecord) -> None:
    services = get_services()
    try:
        counts = Processor(services, record.sent_at).process(record.body)
    except NotYetRecorded:
        aws.sqs().change_message_visibility(
            QueueUrl=services.settings.ingest_queue_url,
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=min(
                NOT_YET_RECORDED_FIRST_RETRY_SECONDS * 3 ** (record.receive_count - 1),
                900,
            ),
        )
        raise
    logger.info("notification processed", extra={"counts": dict(counts)})


@logger.inject_lambda_context
# No response or error in the trace: they hold phone numbers and message text. In code, not
# POWERTOOLS_TRACER_CAPTURE_*, so that no environment setting can turn them back on.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return handle_batch(event, record_handler)
