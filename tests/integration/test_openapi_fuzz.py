"""The send API fuzzed from the OpenAPI document it serves, through its real handler.

Schemathesis reads the document GET /v1/openapi.json answers and generates requests for every
operation in it, both fitting the document (positive) and breaking it (negative). Each request
goes through API Gateway's routing (local/apigw.py) into the send function's lambda_handler,
against moto, as in test_hostile_input.py. Whatever is sent: no 5xx, every 4xx in the one error
shape, every answer as the document describes it, and nothing stored or queued by a request that
was refused. Each of the three tests sends POSTINO_FUZZ_EXAMPLES requests: 40 in `make test`,
2,500 under `make fuzz` (7,500 here, beside test_hostile_input.py's 10,000).

Not fuzzed, because the document does not describe them: /admin (an HTML page and its assets),
/v1/docs (Swagger UI) and /v1/openapi.json itself (include_in_schema=False), and the webhook
routes (another function, fuzzed by test_hostile_input.py).
"""

import base64
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from local.apigw import match_route, proxy_event
from local.template_stack import api_routes
from postino import aws
from postino.services import Services
from tests.support.events import API_KEY, STAGE, FakeLambdaContext, HttpResult
from tests.support.functions import load_function

EXAMPLES = int(os.environ.get("POSTINO_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # No shrinking: each step is a request through moto, and shrinking one of schemathesis'
    # cases can take minutes. A failure prints the request as sent (curl), unshrunk.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    # One moto stack per test, shared by its examples: what accepted requests store adds up,
    # and later requests meet it (a message that exists, a sender that was created).
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
BASE_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

Call = Callable[..., HttpResult]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def served_document(api: Call) -> dict[str, Any]:
    answer = api("GET", "/v1/openapi.json")
    assert answer.status == 200, answer.body
    document: dict[str, Any] = answer.body
    return document


def stored(services: Services) -> dict[str, int]:
    """Items in every table and messages in every queue of the stack, by name."""
    dynamodb, sqs = aws.dynamodb(), aws.sqs()
    counts = {
        name: dynamodb.describe_table(TableName=name)["Table"].get("ItemCount", 0)
        for name in dynamodb.list_tables()["TableNames"]
    }
    names = [f"ApproximateNumberOfMessages{n}" for n in ("", "Delayed", "NotVisible")]
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)  # type: ignore[arg-type]
        counts[url] = sum(int(v) for v in attributes["Attributes"].values())
    return counts


def through_the_gateway(
    handler: Handler, case: Case[Any], *, content_type: str | None = None
) -> schemathesis.Response | None:
    """Send a generated case as API Gateway would: None where API Gateway answers by itself."""
    kwargs = case.as_transport_kwargs(
        base_url=BASE_URL, headers={"Content-Type": content_type} if content_type else None
    )
    request = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs["headers"],
        params=kwargs.get("params"),
        data=kwargs.get("data"),
        json=kwargs.get("json"),
        cookies=kwargs.get("cookies"),
    ).prepare()
    url = urlsplit(request.url or "")
    method = case.method.upper()
    matched = match_route(api_routes(), method, url.path)
    if matched is None:  # an empty path parameter, say: API Gateway's own 403
        return None
    route, path_parameters = matched
    assert route.function == "SendFunction", route
    body = request.body or b""
    assert isinstance(body, str | bytes), type(body)  # requests prepares data and json so
    raw = body.encode() if isinstance(body, str) else body
    headers = {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}
    event = proxy_event(
        route, method, url.path, url.query, headers, raw, path_parameters,
        stage=STAGE, api_key=API_KEY,
    )  # fmt: skip
    started = time.monotonic()
    result = handler(event, FakeLambdaContext())
    elapsed = time.monotonic() - started
    answer = {k: [str(v)] for k, v in (result.get("headers") or {}).items()}
    answer |= {k: [str(v) for v in vs] for k, vs in (result.get("multiValueHeaders") or {}).items()}
    text = result.get("body") or ""
    content = base64.b64decode(text) if result.get("isBase64Encoded") else str(text).encode()
    return schemathesis.Response(
        status_code=int(result["statusCode"]), headers=answer, content=content,
        request=request, elapsed=elapsed, verify=True,
    )  # fmt: skip


def in_the_error_shape(response: schemathesis.Response) -> None:
    """Beside response_schema_conformance: the one shape is the promise, whatever the document
    says (its error schema once referred to definitions it did not hold, and passed anything)."""
    body = response.json()
    error = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_send_api_answers_as_its_document_says_and_stores_only_what_it_accepts(
    api: Call, services: Services, mode: GenerationMode
) -> None:
    # GIVEN the document the send function serves, and the function itself
    schema = schemathesis.openapi.from_dict(served_document(api))
    handler: Handler = load_function("send").lambda_handler
    answered: Counter[str] = Counter()

    @FUZZ
    @given(case=schema.as_strategy(generation_mode=mode, headers={"x-api-key": API_KEY}))
    def any_request(case: Case[Any]) -> None:
        before = stored(services)
        # WHEN a request generated from it (fitting it, or breaking it) reaches the function
        response = through_the_gateway(handler, case)
        if response is None:
            answered["answered by API Gateway"] += 1
            return
        answered[f"{response.status_code // 100}xx"] += 1
        event(f"{case.method.upper()} {case.path} answered {response.status_code}")
        # THEN it never answers 5xx, and answers only as the document says (status, content
        # type, body schema; a request breaking the document is refused)
        assert response.status_code < 500, (response.text, case.as_curl_command())
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            # AND a refusal is in the one error shape, and stored and queued nothing
            in_the_error_shape(response)
            assert stored(services) == before

    any_request()
    print(f"{mode.value}: {answered.total()} requests, {dict(answered)}")
    assert answered.total() >= EXAMPLES


# Schemathesis sends each body in the media type the document declares (application/json).
UNREAD_TYPES = ["text/plain", "image/png", "application/xml", "application/octet-stream", "x/y"]


def test_a_body_in_a_type_the_api_does_not_read_is_refused_in_the_error_shape(
    api: Call, services: Services
) -> None:
    # GIVEN the operations of the served document that take a body
    document = served_document(api)
    with_body = [
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        if "requestBody" in operation
    ]
    schema = schemathesis.openapi.from_dict(document).include(operation_id=with_body)
    handler: Handler = load_function("send").lambda_handler
    answered: Counter[int] = Counter()

    @FUZZ
    @given(
        case=schema.as_strategy(headers={"x-api-key": API_KEY}),
        content_type=st.sampled_from(UNREAD_TYPES),
    )
    def a_body_that_fits(case: Case[Any], content_type: str) -> None:
        before = stored(services)
        # WHEN one comes with a body that fits, labelled with a type the API does not read
        response = through_the_gateway(handler, case, content_type=content_type)
        assert response is not None
        answered[response.status_code] += 1
        event(f"{content_type} answered {response.status_code}")
        # THEN it is refused in the error shape, and nothing is stored or queued
        sent = case.as_curl_command(headers={"Content-Type": content_type})
        assert 400 <= response.status_code < 500, (response.status_code, response.text, sent)
        in_the_error_shape(response)
        assert stored(services) == before

    a_body_that_fits()
    print(f"unread content types: {answered.total()} requests, {dict(answered)}")
    assert answered.total() >= EXAMPLES
