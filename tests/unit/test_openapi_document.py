"""The send API's OpenAPI document, as GET /v1/openapi.json serves it, read as a client
generator reads it: short operation ids, tags, and one error component (no stack needed)."""

import json
import re
from typing import Any

import pytest

from local.functions import load_function

CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    served = load_function("send").openapi_document()
    assert served.status_code == 200
    parsed: dict[str, Any] = json.loads(served.body)
    return parsed


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, by_method in document["paths"].items()
        for method, operation in by_method.items()
    ]


def test_every_operation_has_a_unique_camel_case_id_and_a_tag(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert [i for i in ids if not CAMEL_CASE.match(i)] == []
    assert len(set(ids)) == len(ids), sorted(ids)
    untagged = [(m, p) for m, p, operation in operations(document) if not operation.get("tags")]
    assert untagged == []


def test_the_operations_a_client_starts_with_have_the_names_it_would_guess(
    document: dict[str, Any],
) -> None:
    ids = {(method, path): op["operationId"] for method, path, op in operations(document)}
    assert ids[("POST", "/v1/messages")] == "sendMessage"
    assert ids[("POST", "/v1/messages/batch")] == "sendBatch"
    assert ids[("GET", "/v1/messages")] == "listMessages"
    assert ids[("GET", "/v1/messages/{message_id}")] == "getMessage"
    assert ids[("POST", "/v1/messages/{message_id}/retry")] == "retryMessage"


def test_every_error_answer_refers_to_the_one_error_component(document: dict[str, Any]) -> None:
    # GIVEN every 4xx and 5xx answer of every operation
    inlined = [
        (method, path, code, answer)
        for method, path, operation in operations(document)
        for code, answer in operation["responses"].items()
        if code[0] in "45" and answer["content"] != {"application/json": {"schema": ERROR_REF}}
    ]
    # THEN each is a reference to the Error component, not a copy of its shape
    assert inlined == []
    # AND that component and what it nests are components too, in the API's one error shape
    schemas = document["components"]["schemas"]
    assert schemas["Error"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    details = schemas["ErrorDetail"]["properties"]["details"]["items"]
    assert details == {"$ref": "#/components/schemas/ProblemBody"}
    assert "#/$defs/" not in json.dumps(document)
