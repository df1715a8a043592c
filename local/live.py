"""The dashboard's live updates, locally: the WebSocket API in front of LiveFunction, and the
tables' streams feeding it, as Lambda's event source mappings feed it on AWS."""

import os
import threading
import uuid
from typing import Any

from local.apigw import LambdaContext
from local.console import say
from local.functions import load_function, under_role
from local.stream_events import StreamPoller, stream_loop, stream_sources, streams_client
from local.template_stack import StackResources
from local.websocket_api import LocalWebSocketApi

FUNCTION = "LiveFunction"


def live_function() -> Any:
    handler = under_role(FUNCTION, load_function("send", "live").lambda_handler)

    def invoke(event: dict[str, Any], context: Any = None) -> Any:
        context = context or LambdaContext(f"postino-{FUNCTION}", str(uuid.uuid4()), 25)
        return handler(event, context)

    return invoke


def start_live_api(resources: StackResources, port: int) -> LocalWebSocketApi:
    """The WebSocket API, serving; the functions are told its URL (the send API hands it to a
    page) and its @connections endpoint (LiveFunction posts there)."""
    api = LocalWebSocketApi(
        live_function(),
        api_id=resources.physical["LiveApi"],
        stage=resources.parameters["StageName"],
        region=resources.region,
        function_name=f"postino-{FUNCTION}",
        port=port,
        on_event=say,
    ).start()
    os.environ["LIVE_URL"] = api.url
    os.environ["LIVE_ENDPOINT"] = api.management_url
    return api


def stream_pollers(resources: StackResources) -> list[StreamPoller]:
    """A poller for each table stream LiveFunction's events name, reading with its role, from
    the newest record on."""
    from postino import aws

    with aws.acting_as(FUNCTION):
        streams = streams_client(aws.session(), resources.region)
    return [StreamPoller(streams, source) for source in stream_sources(FUNCTION, resources)]


def live_loop(stop: threading.Event, resources: StackResources) -> None:
    """Each table's stream to LiveFunction, as Lambda's event source mappings hand it over."""
    pollers = stream_pollers(resources)
    function = live_function()
    stream_loop(stop, pollers, function, lambda error: say(f"live      batch dropped: {error!r}"))
