"""The send API (API Gateway REST): validate, queue, and answer with the message resource.

A request imports the route module of its path and no other: a cold start pays for one
module's domain (the send path, WAHA's chats, the reservations), not for all eight. The API's
description (GET /v1/openapi.json, and Swagger UI at /v1/docs) includes every module first.
"""

import importlib
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from openapi_errors import error_response

from postino.errors import PostinoError, Problem, error_body, from_validation_errors
from postino.observability import logger, metrics, tracer

# Above this a request is refused before parsing: a batch of 100 full messages fits easily.
MAX_BODY_BYTES = 1_048_576

# Each route module by the paths it answers, as their leading segments (`*`: any one segment).
# A path that starts like two modules' (a sender's chats) includes both; one that starts like
# none is answered 404 as before. tests/unit/test_send_routes.py checks every route is here.
ROUTE_MODULES: dict[str, tuple[str, ...]] = {
    "messages_routes": ("/v1/messages",),
    "senders_routes": ("/v1/senders",),
    "chats_routes": ("/v1/senders/*/chats", "/v1/senders/*/groups"),
    "reservations_routes": ("/v1/reservations",),
    "routing_routes": (
        "/v1/reservation-codes",
        "/v1/operators",
        "/v1/experiences",
        "/v1/bindings",
    ),
    "templates_routes": ("/v1/templates",),
    "links_routes": ("/v1/links",),
    "conversations_routes": ("/v1/conversations", "/v1/campaigns"),
    "live_routes": ("/v1/live",),
    "admin_routes": ("/admin",),
}
OPENAPI_PATH = "/v1/openapi.json"
DOCS_PATH = "/v1/docs"

app = APIGatewayRestResolver(enable_validation=True)
_included: set[str] = set()


def include_routes(path: str) -> None:
    """Include, once each, the route modules that answer `path` (all of them for the API's
    description), and Swagger UI when it is asked for."""
    describe = path in (OPENAPI_PATH, DOCS_PATH)
    for module, prefixes in ROUTE_MODULES.items():
        if module in _included or not (describe or any(_starts(path, p) for p in prefixes)):
            continue
        app.include_router(importlib.import_module(module).router)
        _included.add(module)
    if path == DOCS_PATH and DOCS_PATH not in _included:
        # Uncompressed on purpose: a gzipped page is base64 in the Lambda response, and API
        # Gateway decodes base64 only for a request whose first Accept type is a binary media
        # type (image/png here), so a browser (Accept: text/html,...) would get base64 text.
        # About 1.8 MB, well under Lambda's 6 MB response limit.
        app.enable_swagger(path=DOCS_PATH, **_description())
        _included.add(DOCS_PATH)


def _starts(path: str, prefix: str) -> bool:
    segments, leading = path.strip("/").split("/"), prefix.strip("/").split("/")
    return len(segments) >= len(leading) and all(
        want in ("*", have) for want, have in zip(leading, segments, strict=False)
    )


def _description() -> dict[str, Any]:
    """The document's title and security scheme: Powertools' OpenAPI models (a tenth of a
    second to import) are imported when the description is asked for, not at cold start."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    return {
        "title": "Postino",
        "version": "1.0.0",
        "description": "Send WhatsApp messages through your own AWS account and follow what "
        "happens.",
        "security_schemes": {"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        "security": [{"apiKey": []}],
    }


@app.get(OPENAPI_PATH, include_in_schema=False)
def openapi_document() -> Response[str]:
    include_routes(OPENAPI_PATH)
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(**_description()),
    )


@app.exception_handler(PostinoError)
def postino_error(error: PostinoError) -> Response[Any]:
    return error_response(error)


@app.exception_handler(RequestValidationError)
def validation_error(error: RequestValidationError) -> Response[Any]:
    return error_response(from_validation_errors(error.errors()))


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_content_type(_: RequestUnsupportedContentType) -> Response[Any]:
    return error_response(
        PostinoError(
            "unsupported_media_type",
            "Send the body as JSON, with Content-Type: application/json.",
            415,
        )
    )


@app.not_found
def route_not_found(_: NotFoundError) -> Response[Any]:
    return error_response(PostinoError("not_found", "There is no such route in this API.", 404))


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[Any]:
    logger.exception("unexpected error")
    return error_response(
        PostinoError("internal_error", "Something went wrong on our side; please retry.", 500)
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# No response or error in the trace: they hold phone numbers and message text. In code, not
# POWERTOOLS_TRACER_CAPTURE_*, so that no environment setting can turn them back on.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = refuse_body(event.get("body") or "")
    if refused is not None:
        return {
            "statusCode": refused.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": error_body(refused).model_dump_json(),
            "isBase64Encoded": False,
        }
    include_routes(event.get("path") or "")
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
