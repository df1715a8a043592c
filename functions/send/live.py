"""The dashboard's live updates: the WebSocket API's routes, and the tables' stream records
turned into events for the connected pages (postino/live/).

One function for both: the pages it posts to are the ones it admitted.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from postino.live.changes import page_events
from postino.live.fanout import tell_pages
from postino.live.pages import connect, disconnect
from postino.observability import logger, metrics, tracer
from postino.services import get_services
from postino.store.live_connections import LiveConnectionStore


def handle(event: dict[str, Any]) -> dict[str, Any]:
    services = get_services()
    settings, now = services.settings, services.clock.now()
    connections = LiveConnectionStore(settings.live_connections_table)
    route = event.get("requestContext", {}).get("routeKey")
    if route == "$connect":
        return connect(event, connections, now)
    if route == "$disconnect":
        return disconnect(event, connections)
    if route is not None:  # $default: a page's keep-alive; nothing to answer
        return {"statusCode": 200}
    events = page_events(event, settings)
    told = tell_pages(events, connections, settings.live_endpoint, now)
    logger.info(
        "live events posted",
        extra={
            "records": len(event.get("Records") or []),
            "events": len(events),
            "posted": told.posted,
            "gone": len(told.gone),
            "failed": told.failed,
        },
    )
    return {"posted": told.posted, "gone": len(told.gone), "failed": told.failed}


@logger.inject_lambda_context
# No response or error in the trace: the events hold phone numbers and message text.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)
