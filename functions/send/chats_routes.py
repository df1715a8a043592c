"""/v1/senders/{name}/chats and /groups: what a WAHA sender's phone sees, cached a few minutes."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from openapi_errors import OK, error_responses

from postino.senders.chats import ChatList, GroupList, list_chats, list_groups
from postino.senders.model import SenderName
from postino.services import get_services

# Powertools' Router is untyped (pyproject.toml's list of route modules says so for the others).
router = Router()

Name = Annotated[SenderName, Path(description="The sender's name")]
Refresh = Annotated[bool, Query(description="Read WAHA again instead of the cached list")]
ERRORS = error_responses(
    _404="No such sender, or WAHA has no such session",
    _409="Not a WAHA sender, or its session is not working",
    _422="A field is invalid",
    _502="WAHA refused the call (its answer is in the message)",
    _503="WAHA did not answer",
)


@router.get(
    "/v1/senders/<name>/chats",
    summary="A WAHA sender's chats, latest first",
    description="Cached for 5 minutes; refresh=true reads WAHA again.",
    responses=OK | ERRORS,
    tags=["senders"],
    operation_id="listSenderChats",
)
def list_sender_chats(name: Name, refresh: Refresh = False) -> ChatList:
    return list_chats(get_services(), name, refresh=refresh)


@router.get(
    "/v1/senders/<name>/groups",
    summary="The WhatsApp groups a WAHA sender's phone is in",
    description="Cached for 5 minutes; refresh=true reads WAHA again. A group's id is what a "
    "target's `to` names to send to it.",
    responses=OK | ERRORS,
    tags=["senders"],
    operation_id="listSenderGroups",
)
def list_sender_groups(name: Name, refresh: Refresh = False) -> GroupList:
    return list_groups(get_services(), name, refresh=refresh)
