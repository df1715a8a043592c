"""How the API's answers look in its OpenAPI description: one shape for every 4xx."""

from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from postino.errors import ErrorBody


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its `#/$defs/...` references replaced by what they name.

    Pydantic's references point at the root of the schema, which inside an OpenAPI document
    is the document itself: left as they are they resolve to nothing (and validate anything).
    """
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


_SCHEMA = _inlined(ErrorBody.model_json_schema())
# A route's 200, described by its return type (Powertools fills the schema in when the
# response has no content of its own, and adds none by itself once `responses` is given).
OK: dict[int, OpenAPIResponse] = {200: {"description": "OK"}}


def error_responses(**by_status: str) -> dict[int, OpenAPIResponse]:
    """error_responses(_404="No such message") → the OpenAPI responses for those statuses."""
    return {
        int(status.lstrip("_")): {
            "description": text,
            "content": {"application/json": {"schema": _SCHEMA}},
        }
        for status, text in by_status.items()
    }
