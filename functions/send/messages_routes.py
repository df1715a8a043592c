"""/v1/messages: send one or many, look, list, retry, force, cancel."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from caller import api_key_id
from openapi_errors import BODY_ERRORS, OK, error_response, error_responses
from pydantic import Field

from postino.conversations.contacts import recipient
from postino.errors import PostinoError
from postino.messages.model import MessageResource, Status
from postino.messages.request import SendMessageRequest
from postino.model import Model
from postino.send.accept import (
    IDEMPOTENCY_CONFIG,
    KEY_REUSED,
    BatchResult,
    accept_batch,
    accept_keyed,
    accept_message,
)
from postino.send.actions import cancel_message, force_message, get_message, retry_message
from postino.services import get_services

router = Router()

MessageId = Annotated[str, Path(description="The message id")]
ERRORS = BODY_ERRORS | error_responses(
    _404="No such message",
    _409="Wrong state, or an Idempotency-Key reused with another body",
)


class BatchRequest(Model):
    messages: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=100,
        description="Up to 100 items shaped like POST /v1/messages, each with an optional idempotency_key",
    )


class BatchResponse(Model):
    results: list[BatchResult]


class MessagePage(Model):
    items: list[MessageResource]
    next_cursor: str | None


def _accepted(resource: MessageResource, status: int = 202) -> Response[MessageResource]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=resource)


@router.post(
    "/v1/messages",
    summary="Send a message",
    description="Validates the message to Meta's limits, stores it and queues it. Answers 202.",
    responses={202: {"description": "Accepted and queued (or scheduled)"}, **ERRORS},
    tags=["messages"],
    operation_id="sendMessage",
)
def send_message(
    body: Annotated[SendMessageRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=128,
            description="The same key with the same body returns the same message",
        ),
    ] = None,
) -> Response[MessageResource]:
    services = get_services()
    key = idempotency_key or _header("idempotency-key")
    caller = api_key_id(router)
    _register_invocation()
    message = (
        accept_keyed(services, body, key, api_key_id=caller)
        if key
        else accept_message(services, body, api_key_id=caller)
    )
    return _accepted(MessageResource.of(message, with_events=True))


@router.post(
    "/v1/messages/batch",
    summary="Send up to 100 messages",
    description="Each item is validated and queued on its own; one bad item does not sink the others.",
    responses=OK | ERRORS,
    tags=["messages"],
    operation_id="sendBatch",
)
def send_batch(body: Annotated[BatchRequest, Body()]) -> BatchResponse:
    _register_invocation()
    results = accept_batch(get_services(), body.messages, api_key_id=api_key_id(router))
    return BatchResponse(results=results)


@router.get(
    "/v1/messages",
    summary="List messages, newest first",
    responses=OK | ERRORS,
    tags=["messages"],
    operation_id="listMessages",
)
def list_messages(
    status: Annotated[Status | None, Query()] = None,
    sender: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    reference: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    to: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            description="The recipient: E.164 digits (a + and spaces are ignored) or a WAHA chat id",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> MessagePage:
    messages, next_cursor = get_services().messages.page(
        status=status,
        sender=sender,
        reference=reference,
        to=recipient(to),
        limit=limit,
        cursor=cursor,
    )
    return MessagePage(items=[MessageResource.of(m) for m in messages], next_cursor=next_cursor)


@router.get(
    "/v1/messages/<message_id>",
    summary="A message with its timeline",
    responses=OK | ERRORS,
    tags=["messages"],
    operation_id="getMessage",
)
def read_message(message_id: MessageId) -> MessageResource:
    return MessageResource.of(get_message(get_services(), message_id), with_events=True)


@router.post(
    "/v1/messages/<message_id>/retry",
    summary="Send a failed, expired or unknown message again",
    responses={202: {"description": "Queued again"}, **ERRORS},
    tags=["messages"],
    operation_id="retryMessage",
)
def retry(message_id: MessageId) -> Response[MessageResource]:
    message = retry_message(get_services(), message_id, api_key_id=api_key_id(router))
    return _accepted(MessageResource.of(message, with_events=True))


@router.post(
    "/v1/messages/<message_id>/force",
    summary="Send a waiting message at once, past the rate window",
    responses={202: {"description": "Queued to go out at once"}, **ERRORS},
    tags=["messages"],
    operation_id="forceMessage",
)
def force(message_id: MessageId) -> Response[MessageResource]:
    message = force_message(get_services(), message_id, api_key_id=api_key_id(router))
    return _accepted(MessageResource.of(message, with_events=True))


@router.post(
    "/v1/messages/<message_id>/cancel",
    summary="Cancel a scheduled or queued message",
    responses=OK | ERRORS,
    tags=["messages"],
    operation_id="cancelMessage",
)
def cancel(message_id: MessageId) -> MessageResource:
    message = cancel_message(get_services(), message_id, api_key_id=api_key_id(router))
    return MessageResource.of(message, with_events=True)


# The sends here are the API's only idempotent writes: their refusals are answered here, and
# join the app's exception handlers when this module is included.
@router.exception_handler(IdempotencyValidationError)
def idempotency_key_reused(_: IdempotencyValidationError) -> Response[Any]:
    return error_response(KEY_REUSED)


@router.exception_handler(IdempotencyAlreadyInProgressError)
def idempotency_in_progress(_: IdempotencyAlreadyInProgressError) -> Response[Any]:
    return error_response(
        PostinoError(
            "request_in_progress",
            "A request with this Idempotency-Key is still being handled; retry in a moment.",
            409,
        )
    )


def _register_invocation() -> None:
    """Idempotency gives an in-progress key the invocation's remaining time."""
    IDEMPOTENCY_CONFIG.register_lambda_context(router.lambda_context)


def _header(name: str) -> str | None:
    headers = router.current_event.headers or {}
    return next((v for k, v in headers.items() if k.lower() == name), None)
