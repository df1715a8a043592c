"""/v1/senders: the profiles messages are sent from, their live windows, pause and resume, and a WAHA
sender's session (status, QR code, start, restart, logout, a test message)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from caller import api_key_id
from openapi_errors import BODY_ERRORS, OK, error_responses
from pydantic import ConfigDict, Field, StringConstraints

from postino.messages.model import MessageResource
from postino.model import Model
from postino.senders.model import SenderName, SenderResource, SenderSettings
from postino.senders.profiles import (
    get_sender,
    pause_sender,
    put_sender,
    resume_sender,
    sender_resource,
    sender_windows,
)
from postino.senders.sessions import (
    QrCode,
    SessionResource,
    SessionTest,
    qr_as_json,
    read_session,
    send_test,
    session_action,
    session_qr,
)
from postino.services import get_services

router = Router()

Name = Annotated[SenderName, Path(description="The sender's name")]
ERRORS = BODY_ERRORS | error_responses(_404="No such sender")
SESSION_ERRORS = BODY_ERRORS | error_responses(
    _404="No such sender, or WAHA has no such session",
    _409="Not a WAHA sender, or the session cannot do that in its state",
    _502="WAHA refused the call (its answer is in the message)",
    _503="WAHA did not answer",
)


class SenderList(Model):
    items: list[SenderResource]


class ResumedSender(SenderResource):
    requeued: int


class PauseRequest(Model):
    model_config = ConfigDict(extra="forbid")

    reason: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
            Field(description="Why, shown with the sender (default: paused by hand)"),
        ]
        | None
    ) = None


@router.get(
    "/v1/senders",
    summary="All senders",
    responses=OK | error_responses(_422="A field is invalid"),
    tags=["senders"],
    operation_id="listSenders",
)
def list_senders() -> SenderList:
    return SenderList(items=[sender_resource(s) for s in get_services().senders.all()])


@router.get(
    "/v1/senders/<name>",
    summary="A sender with its live rate windows",
    responses=OK | ERRORS,
    tags=["senders"],
    operation_id="getSender",
)
def read_sender(name: Name) -> SenderResource:
    services = get_services()
    sender = get_sender(services, name)
    return sender_resource(sender, sender_windows(services, sender))


@router.put(
    "/v1/senders/<name>",
    summary="Create or replace a sender",
    description="Settings are replaced; a pause stays until resumed.",
    responses=OK | ERRORS,
    tags=["senders"],
    operation_id="putSender",
)
def write_sender(name: Name, body: Annotated[SenderSettings, Body()]) -> SenderResource:
    return sender_resource(put_sender(get_services(), name, body, api_key_id=api_key_id(router)))


@router.post(
    "/v1/senders/<name>/pause",
    summary="Pause a sender: its messages wait, queued, until it is resumed",
    responses=OK | ERRORS,
    tags=["senders"],
    operation_id="pauseSender",
)
def pause(name: Name, body: Annotated[PauseRequest | None, Body()] = None) -> SenderResource:
    reason = body.reason if body is not None else None
    sender = pause_sender(get_services(), name, reason, api_key_id=api_key_id(router))
    return sender_resource(sender)


@router.post(
    "/v1/senders/<name>/resume",
    summary="Lift a pause and queue the messages it held back",
    responses=OK | ERRORS,
    tags=["senders"],
    operation_id="resumeSender",
)
def resume(name: Name) -> ResumedSender:
    sender, requeued = resume_sender(get_services(), name, api_key_id=api_key_id(router))
    return ResumedSender(**sender_resource(sender).model_dump(), requeued=requeued)


@router.get(
    "/v1/senders/<name>/session",
    summary="A WAHA sender's session: its status and paired account",
    responses=OK | SESSION_ERRORS,
    tags=["sessions"],
    operation_id="getSenderSession",
)
def read_sender_session(name: Name) -> SessionResource:
    return read_session(get_services(), name)


@router.get(
    "/v1/senders/<name>/session/qr",
    summary="The QR code to pair the phone (PNG; JSON base64 with Accept: application/json)",
    description="Scan it from the phone: WhatsApp > Linked devices > Link a device. Ask with "
    "Accept: image/png for the image itself.",
    responses={
        200: {
            "description": "The QR code",
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"model": QrCode},
            },
        },
        **SESSION_ERRORS,
    },
    tags=["sessions"],
    operation_id="getSenderSessionQr",
)
def read_sender_session_qr(name: Name):  # type: ignore[no-untyped-def]
    # No return annotation on purpose: Powertools then leaves a non-JSON body (the PNG's bytes)
    # alone instead of serialising it as JSON; the responses above describe it.
    png = session_qr(get_services(), name)
    accept = router.current_event.headers.get("accept") or ""
    if "application/json" in accept:
        return Response(200, content_types.APPLICATION_JSON, qr_as_json(png))
    return Response(200, "image/png", png)


def _session_route(action: str, summary: str) -> None:
    @router.post(
        f"/v1/senders/<name>/session/{action}",
        summary=summary,
        responses=OK | SESSION_ERRORS,
        tags=["sessions"],
        operation_id=f"{action}SenderSession",
    )
    def act(name: Name) -> SessionResource:
        return session_action(get_services(), name, action, api_key_id=api_key_id(router))


_session_route("start", "Start the session (then scan its QR code)")
_session_route("restart", "Restart the session (a fresh QR code when not paired)")
_session_route("logout", "Log the phone out (the session asks for a new QR code)")


@router.post(
    "/v1/senders/<name>/session/test",
    summary="Queue a test message from this sender",
    responses={202: {"description": "Queued like any message"}, **SESSION_ERRORS},
    tags=["sessions"],
    operation_id="testSenderSession",
)
def test_sender_session(
    name: Name, body: Annotated[SessionTest, Body()]
) -> Response[MessageResource]:
    message = send_test(get_services(), name, body, api_key_id=api_key_id(router))
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=MessageResource.of(message),
    )
