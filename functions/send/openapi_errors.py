"""The API's one error shape for every 4xx and 5xx: as it answers it, and as its OpenAPI
description says it."""

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from postino.errors import ErrorBody, PostinoError, error_body


class Error(ErrorBody):
    """The one error shape of the API: every 4xx and 5xx answer is one."""


def error_response(error: PostinoError) -> Response[Any]:
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=error_body(error).model_dump_json(),
    )


# A route's 200, described by its return type (Powertools fills the schema in when the
# response has no content of its own, and adds none by itself once `responses` is given).
OK: dict[int, OpenAPIResponse] = {200: {"description": "OK"}}


def error_responses(**by_status: str) -> dict[int, OpenAPIResponse]:
    """error_responses(_404="No such message") → the OpenAPI responses for those statuses.

    Each names the model: Powertools then refers to one `Error` component (with the models it
    nests as components too), which a client generator turns into one error class.
    """
    return {
        int(status.lstrip("_")): {
            "description": text,
            "content": {"application/json": {"model": Error}},
        }
        for status, text in by_status.items()
    }


# What any route may answer before its own work: the body's checks (app.py) and validation.
BODY_ERRORS = error_responses(
    _400="Malformed JSON",
    _413="Body too large",
    _415="The body is not JSON",
    _422="A field is invalid",
)
