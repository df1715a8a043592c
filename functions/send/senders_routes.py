"""/v1/senders: the profiles messages are sent from, their live windows, and resume."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from openapi_errors import error_responses
from pydantic import BaseModel

from postino.senders.model import SenderName, SenderResource, SenderSettings
from postino.senders.profiles import (
    get_sender,
    put_sender,
    resume_sender,
    sender_resource,
    sender_windows,
)
from postino.services import get_services

router = Router()

Name = Annotated[SenderName, Path(description="The sender's name")]
ERRORS = error_responses(_404="No such sender", _422="A field is invalid")


class SenderList(BaseModel):
    items: list[SenderResource]


class ResumedSender(SenderResource):
    requeued: int


@router.get("/v1/senders", summary="All senders", tags=["senders"])
def list_senders() -> SenderList:
    return SenderList(items=[sender_resource(s) for s in get_services().senders.all()])


@router.get(
    "/v1/senders/<name>",
    summary="A sender with its live rate windows",
    responses=ERRORS,
    tags=["senders"],
)
def read_sender(name: Name) -> SenderResource:
    services = get_services()
    sender = get_sender(services, name)
    return sender_resource(sender, sender_windows(services, sender))


@router.put(
    "/v1/senders/<name>",
    summary="Create or replace a sender",
    description="Settings are replaced; a pause stays until resumed.",
    responses=ERRORS,
    tags=["senders"],
)
def write_sender(name: Name, body: Annotated[SenderSettings, Body()]) -> SenderResource:
    return sender_resource(put_sender(get_services(), name, body))


@router.post(
    "/v1/senders/<name>/resume",
    summary="Lift a pause and queue the messages it held back",
    responses=ERRORS,
    tags=["senders"],
)
def resume(name: Name) -> ResumedSender:
    sender, requeued = resume_sender(get_services(), name)
    return ResumedSender(**sender_resource(sender).model_dump(), requeued=requeued)
