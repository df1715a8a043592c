"""/v1/live: a one-time token for the dashboard's WebSocket (postino/live/). A browser cannot set
the API key on a WebSocket's handshake, so the page asks here, behind the key, and connects
with the token in the URL."""

from aws_lambda_powertools.event_handler.api_gateway import Router
from openapi_errors import OK, error_responses
from pydantic import Field

from postino.errors import PostinoError
from postino.model import Model
from postino.services import get_services
from postino.store.live_connections import TOKEN_SECONDS, LiveConnectionStore

router = Router()


class LiveToken(Model):
    url: str = Field(description="The WebSocket to connect to, with ?token=<token>")
    token: str = Field(description="Good for one connection")
    expires_in: int = Field(description="Seconds the token is good for")


@router.post(
    "/v1/live",
    summary="A token for the dashboard's live updates",
    description="Connect to `url` with `?token=`: each message then carries "
    '`{"events": [...]}`, a message\'s status and phase, a conversation, a reservation or a '
    "sender as it changes.",
    responses=OK
    | error_responses(_422="Never: it reads no input", _503="The stack has no live updates"),
    tags=["live"],
    operation_id="issueLiveToken",
)
def issue_token() -> LiveToken:
    services = get_services()
    settings = services.settings
    if not settings.live_url:
        raise PostinoError("live_off", "This stack has no live updates (LIVE_URL is unset).", 503)
    store = LiveConnectionStore(settings.live_connections_table)
    token = store.issue_token(services.clock.now())
    return LiveToken(url=settings.live_url, token=token, expires_in=TOKEN_SECONDS)
