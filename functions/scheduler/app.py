"""The drain. EventBridge Scheduler's tick every minute wakes the drainers of every sender with
a backlog; each of those invocations (and the send API's nudges) drains one sender's shard."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from postino.drain.due import enqueue_due
from postino.drain.targets import DrainTarget, takeover, wake_all_with_backlog
from postino.observability import logger, metrics, tracer
from postino.services import get_services


@logger.inject_lambda_context
# No response or error in the trace: they hold phone numbers and message text. In code, not
# POWERTOOLS_TRACER_CAPTURE_*, so that no environment setting can turn them back on.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services = get_services()
    target = DrainTarget.from_event(event)
    if target is None:
        # The tick: messages whose time came (a pause over, a send_at near) back on their
        # queues, then a drainer for every queue with copies. Each is an invocation of its own.
        senders = services.senders.all()
        due = enqueue_due(services, senders)
        woken = wake_all_with_backlog(services, senders, context.function_name)
        logger.info("drainers woken", extra={"woken": woken, "due_enqueued": due})
        return {"woken": woken, "due_enqueued": due}
    # The drain's own modules (claim, send, record), on a drainer's first invocation: the tick
    # needs none of them.
    from postino.drain.drainer import Drainer

    # Stop taking new work this long before the function's own timeout.
    deadline = (
        services.clock.now()
        + context.get_remaining_time_in_millis() / 1000
        - services.settings.drain_margin_seconds
    )
    report = Drainer(services, target).invoke(
        deadline,
        takeover=takeover(event),
        nudge=lambda successor: services.nudger.nudge(
            target, context.function_name, takeover=successor
        ),
    )
    if report.received:
        metrics.add_metric(
            name="QueueWaitSeconds", unit="Seconds", value=report.longest_wait_seconds
        )
    summary = {**report.__dict__, "outcomes": dict(report.outcomes), "drain": target.scope}
    logger.info("drain finished", extra={"report": summary})
    return summary
