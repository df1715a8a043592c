"""The send API (API Gateway REST): validate, queue, and answer with the message resource."""

from typing import Any

from admin_routes import router as admin_router
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from chats_routes import router as chats_router
from conversations_routes import router as conversations_router
from links_routes import router as links_router
from messages_routes import router as messages_router
from reservations_routes import router as reservations_router
from senders_routes import router as senders_router
from templates_routes import router as templates_router

from postino.errors import PostinoError, Problem, error_body, from_validation_errors
from postino.observability import logger, metrics, tracer
from postino.send.accept import IDEMPOTENCY_CONFIG, KEY_REUSED

# Above this a request is refused before parsing: a batch of 100 full messages fits easily.
MAX_BODY_BYTES = 1_048_576

OPENAPI = {
    "title": "Postino",
    "version": "1.0.0",
    "description": "Send WhatsApp messages through your own AWS account and follow what happens.",
    "security_schemes": {"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
    "security": [{"apiKey": []}],
}

app = APIGatewayRestResolver(enable_validation=True)
app.include_router(messages_router)
app.include_router(senders_router)
app.include_router(chats_router)
app.include_router(reservations_router)
app.include_router(templates_router)
app.include_router(links_router)
app.include_router(conversations_router)
app.include_router(admin_router)
# Uncompressed on purpose: a gzipped page is base64 in the Lambda response, and API Gateway
# decodes base64 only for a request whose first Accept type is a binary media type (image/png
# here), so a browser (Accept: text/html,...) would get base64 text. About 1.8 MB, well under
# Lambda's 6 MB response limit.
app.enable_swagger(path="/v1/docs", **OPENAPI)  # type: ignore[arg-type]


def _error(error: PostinoError) -> Response[Any]:
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=error_body(error).model_dump_json(),
    )


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(**OPENAPI),  # type: ignore[arg-type]
    )


@app.exception_handler(PostinoError)
def postino_error(error: PostinoError) -> Response[Any]:
    return _error(error)


@app.exception_handler(RequestValidationError)
def validation_error(error: RequestValidationError) -> Response[Any]:
    return _error(from_validation_errors(error.errors()))


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_content_type(_: RequestUnsupportedContentType) -> Response[Any]:
    return _error(
        PostinoError(
            "unsupported_media_type",
            "Send the body as JSON, with Content-Type: application/json.",
            415,
        )
    )


@app.exception_handler(IdempotencyValidationError)
def idempotency_key_reused(_: IdempotencyValidationError) -> Response[Any]:
    return _error(KEY_REUSED)


@app.exception_handler(IdempotencyAlreadyInProgressError)
def idempotency_in_progress(_: IdempotencyAlreadyInProgressError) -> Response[Any]:
    return _error(
        PostinoError(
            "request_in_progress",
            "A request with this Idempotency-Key is still being handled; retry in a moment.",
            409,
        )
    )


@app.not_found
def route_not_found(_: NotFoundError) -> Response[Any]:
    return _error(PostinoError("not_found", "There is no such route in this API.", 404))


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[Any]:
    logger.exception("unexpected error")
    return _error(
        PostinoError("internal_error", "Something went wrong on our side; please retry.", 500)
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# No response or error in the trace: they hold phone numbers and message text. In code, not
# POWERTOOLS_TRACER_CAPTURE_*, so that no environment setting can turn them back on.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    IDEMPOTENCY_CONFIG.register_lambda_context(context)
    refused = refuse_body(event.get("body") or "")
    if refused is not None:
        return {
            "statusCode": refused.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": error_body(refused).model_dump_json(),
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)


def refuse_body(body: str) -> PostinoError | None:
    """Refusals that must happen before routing: oversized bodies, and JSON that is not an
    object (Powertools would quietly take the first element of an array as the body)."""
    if len(body) > MAX_BODY_BYTES:
        metrics.add_metric(name="RequestsTooLarge", unit="Count", value=1)
        return PostinoError(
            "body_too_large", f"The request body exceeds {MAX_BODY_BYTES} bytes.", 413
        )
    if body.lstrip().startswith("["):
        return PostinoError(
            "invalid_request",
            "The request body must be a JSON object, not an array.",
            422,
            [Problem("body", "must be a JSON object")],
        )
    return None
