"""Real event shapes: API Gateway REST proxy events, Lambda function URL events and EventBridge
Scheduler invocations."""

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from local.apigw import match_route
from local.function_url import FunctionUrl, url_event
from local.template_stack import api_routes

API_KEY = "local-dev-key"
# The id API Gateway gives the key it checked (requestContext.identity.apiKeyId).
API_KEY_ID = "k1y2z3"
STAGE = "prod"


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
    api_key_id: str = API_KEY_ID,
) -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) proxy event, as API Gateway builds it.

    `api_key_id`: the id of the caller's key, to play two calling systems."""
    # The route as the template declares it; a path it lacks keeps its own (API Gateway's 403).
    matched = match_route(api_routes(), method, path)
    resource, path_parameters = (matched[0].path, matched[1]) if matched else (path, {})
    all_headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "User-Agent": "pytest",
        "x-api-key": API_KEY,
        **(headers or {}),
    }
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": "Zm9vYmFy",
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "protocol": "HTTP/1.1",
            "requestTime": "25/Nov/2026:10:00:00 +0000",
            "requestTimeEpoch": 1795600800000,
            "identity": {
                "apiKey": API_KEY,
                "apiKeyId": api_key_id,
                "sourceIp": "203.0.113.9",
                "userAgent": "pytest",
            },
        },
        "body": text,
        "isBase64Encoded": False,
    }


# The webhook function's own URL (template.yaml: its FunctionUrlConfig).
WEBHOOK_FUNCTION_URL = FunctionUrl("WebhookFunction", "NONE", "BUFFERED", public=True)


def function_url_event(
    method: str,
    path: str,
    raw: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Lambda function URL event (payload format 2.0) for the webhook function, as Lambda
    builds it: the body as text under a text Content-Type, base64-encoded under any other."""
    target = path + (f"?{urlencode(query)}" if query else "")
    sent = {"User-Agent": "pytest", **(headers or {})}
    return url_event(
        method, target, sent, raw, domain=WEBHOOK_FUNCTION_URL.domain, source_ip="203.0.113.9"
    )


def schedule_event() -> dict[str, Any]:
    """What EventBridge Scheduler hands the drain every minute (the template's Input)."""
    return {"source": "postino.schedule", "action": "drain"}


@dataclass
class FakeLambdaContext:
    function_name: str = "postino-SendFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:postino-SendFunction"
    )
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    remaining_millis: int = 29_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@dataclass
class HttpResult:
    status: int
    body: Any
    headers: dict[str, str]


def as_http(result: dict[str, Any]) -> HttpResult:
    text = result.get("body") or ""
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    # The REST resolver answers with multiValueHeaders; one value each is what tests read.
    headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items() if v}
    return HttpResult(result["statusCode"], body, headers | (result.get("headers") or {}))
