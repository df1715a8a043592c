"""/v1/templates: a sender's message templates as Meta lists them (cached)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from openapi_errors import OK, error_responses

from postino.model import Model
from postino.senders.model import SenderName
from postino.senders.profiles import get_sender
from postino.services import get_services
from postino.templates.catalog import templates_for
from postino.templates.model import Template

router = Router()


# Its own name in the OpenAPI document: a send request's `template` is a Template too, and two
# models of one name leave a generated client without one of them.
class MetaTemplate(Template):
    """A message template as Meta lists it."""


class TemplateList(Model):
    items: list[MetaTemplate]


@router.get(
    "/v1/templates",
    summary="A sender's message templates",
    description="From the cache; refresh=true reads Meta's list again (and caches it).",
    responses=OK
    | error_responses(
        _404="No such sender", _422="The sender has no WABA id", _502="Meta did not answer"
    ),
    tags=["templates"],
    operation_id="listTemplates",
)
def list_templates(
    sender: Annotated[SenderName, Query()] = "default",
    refresh: Annotated[bool, Query()] = False,
) -> TemplateList:
    services = get_services()
    profile = get_sender(services, sender)
    listed = templates_for(services, profile, refresh=refresh)
    return TemplateList.model_validate({"items": listed}, from_attributes=True)
