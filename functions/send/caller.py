"""Who is calling: the id of the API key API Gateway checked, read from the request here only.

Routes hand it to the domain as a plain value; nothing below the routes sees the event.
"""

from typing import cast

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent


def api_key_id(router: Router) -> str | None:
    """The key's id (never its value): set on every route that requires a key, as all that
    change state do; None on the few that need none."""
    # The send function runs an APIGatewayRestResolver, whose events are REST proxy events.
    event = cast(APIGatewayProxyEvent, router.current_event)
    return event.request_context.identity.api_key_id
