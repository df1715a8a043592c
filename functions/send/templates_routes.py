"""/v1/templates: a sender's message templates as Meta lists them (cached)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from openapi_errors import OK, error_responses
from pydantic import BaseModel

from postino.senders.model import SenderName
from postino.senders.profiles import get_sender
from postino.services import get_services
from postino.templates.catalog import templates_for
from postino.templates.model import Template

router = Router()


class TemplateList(BaseModel):
    items: list[Template]


@router.get(
    "/v1/templates",
    summary="A sender's message templates",
    description="From the cache; refresh=true reads Meta's list again (and caches it).",
    responses=OK
    | error_responses(
        _404="No such sender", _422="The sender has no WABA id", _502="Meta did not answer"
    ),
    tags=["templates"],
)
def list_templates(
    sender: Annotated[SenderName, Query()] = "default",
    refresh: Annotated[bool, Query()] = False,
) -> TemplateList:
    services = get_services()
    profile = get_sender(services, sender)
    return TemplateList(items=templates_for(services, profile, refresh=refresh))
