"""The drain, run by the EventBridge Scheduler schedule every minute and by the send API's nudge."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from postino.drain.drainer import Drainer
from postino.observability import logger, metrics, tracer
from postino.services import get_services


@logger.inject_lambda_context
# No response or error in the trace: they hold phone numbers and message text. In code, not
# POWERTOOLS_TRACER_CAPTURE_*, so that no environment setting can turn them back on.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services = get_services()
    # Stop taking new work this long before the function's own timeout.
    deadline = (
        services.clock.now()
        + context.get_remaining_time_in_millis() / 1000
        - services.settings.drain_margin_seconds
    )
    report = Drainer(services).run(deadline)
    if report.out_of_time:
        # Hand over: the backlog goes on in a new invocation now, not at the next minute's
        # schedule (the lease is free again). An empty queue ends a run before its deadline.
        services.nudger.nudge(context.function_name)
    summary = {**report.__dict__, "outcomes": dict(report.outcomes)}
    logger.info("drain finished", extra={"report": summary})
    return summary
