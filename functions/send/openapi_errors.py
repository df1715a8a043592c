"""How the API's errors look in its OpenAPI description: one shape for every 4xx."""

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from postino.errors import ErrorBody

_SCHEMA = ErrorBody.model_json_schema()


def error_responses(**by_status: str) -> dict[int, OpenAPIResponse]:
    """error_responses(_404="No such message") → the OpenAPI responses for those statuses."""
    return {
        int(status.lstrip("_")): {
            "description": text,
            "content": {"application/json": {"schema": _SCHEMA}},
        }
        for status, text in by_status.items()
    }
