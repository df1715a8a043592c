"""/v1/conversations and /v1/campaigns: the replies, read back."""

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from openapi_errors import OK, error_responses

from postino.conversations.campaigns import CampaignReport, campaign_report
from postino.conversations.contacts import recipient
from postino.conversations.view import (
    Conversation,
    ConversationMessagePage,
    ConversationPage,
    conversation_messages,
    list_conversations,
    mark_read,
)
from postino.services import get_services

router = Router()

ERRORS = error_responses(
    _400="A cursor from another list",
    _404="No such sender, conversation or campaign",
    _422="A parameter is invalid",
)
SenderName = Annotated[str, Path(description="The sender's name", max_length=64)]
Contact = Annotated[
    str, Path(description="E.164 digits, or a WAHA chat id (a group: …@g.us)", max_length=128)
]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]


@router.get(
    "/v1/conversations",
    summary="Conversations, newest inbound activity first",
    responses=OK | ERRORS,
    tags=["conversations"],
    operation_id="listConversations",
)
def conversations(
    sender: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ConversationPage:
    return list_conversations(get_services(), sender, limit, cursor)


@router.get(
    "/v1/conversations/<sender>/<contact>/messages",
    summary="A conversation's messages, both directions, newest first",
    responses=OK | ERRORS,
    tags=["conversations"],
    operation_id="listConversationMessages",
)
def messages(
    sender: SenderName, contact: Contact, limit: Limit = 20, cursor: Cursor = None
) -> ConversationMessagePage:
    return conversation_messages(get_services(), sender, _contact(contact), limit, cursor)


@router.post(
    "/v1/conversations/<sender>/<contact>/read",
    summary="Mark a conversation read (and send Meta's read receipt for a Cloud API sender)",
    responses=OK | ERRORS,
    tags=["conversations"],
    operation_id="markConversationRead",
)
def read(sender: SenderName, contact: Contact) -> Conversation:
    return mark_read(get_services(), sender, _contact(contact))


@router.get(
    "/v1/campaigns/<campaign>",
    summary="A campaign's report: counts by status, replies, reply buttons pressed",
    responses=OK | ERRORS,
    tags=["campaigns"],
    operation_id="getCampaignReport",
)
def campaign(
    campaign: Annotated[str, Path(description="The campaign's name", max_length=64)],
) -> CampaignReport:
    return campaign_report(get_services(), campaign)


def _contact(raw: str) -> str:
    # A path segment may arrive percent-encoded ("%2B39%20333…"): read as the number it spells.
    contact = recipient(unquote(raw), field="contact")
    assert contact is not None
    return contact
