"""A local API Gateway (REST API): template.yaml's routes, real proxy events, real handlers.

Each HTTP request becomes the event API Gateway would build (payload 1.0: headers and
multi-value headers, query strings, path parameters, base64 for binary bodies, a request
context with the stage and the API key's identity) and goes to the function's lambda_handler.
A keyed route without the right x-api-key gets API Gateway's own 403.

Binary payloads follow API Gateway's rules for a Lambda proxy integration ("Content type
conversions in API Gateway", "Return binary media from a Lambda proxy integration"), with the
API's BinaryMediaTypes from template.yaml (a type may be a wildcard: `image/*`, `*/*`):

- request: a body whose Content-Type matches a binary media type reaches the function
  base64-encoded, with isBase64Encoded true; any other body arrives as text;
- response: a body the function marks isBase64Encoded is decoded to bytes only when the
  request's FIRST Accept media type matches a binary media type. Otherwise (a browser's
  `text/html,...`, curl's `*/*`, no Accept at all) the client gets the base64 text as it is,
  under the function's own headers. The response's Content-Type plays no part.
"""

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local.http_server import ClientGone, LocalHttpServer, Served, request_handler
from local.template_stack import ApiRoute, load_template

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LambdaContext:
    """What a handler reads from its context."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 29.0
    invoked_function_arn: str = ""

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


@cache
def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")


def match_route(
    routes: list[ApiRoute], method: str, path: str
) -> tuple[ApiRoute, dict[str, str]] | None:
    """The route API Gateway would pick for `method path`, with its path parameters."""
    for route in routes:
        found = _pattern(route.path).match(path)
        if found and route.method == method:
            return route, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


class LocalApiGateway:
    def __init__(
        self,
        routes: list[ApiRoute],
        handlers: dict[str, Handler],
        *,
        api_key: str,
        stage: str = "prod",
        host: str = "127.0.0.1",
        port: int = 3000,
        on_request: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.routes = routes
        self.handlers = handlers
        # Lambda runs one invocation at a time in an environment, and here each function is one
        # environment (one module, one Powertools app holding the request it answers).
        self._one_at_a_time = {function: threading.Lock() for function in handlers}
        self.api_key = api_key
        self.stage = stage
        self.on_request = on_request
        self.server = LocalHttpServer((host, port), request_handler(self._answer))

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _answer(
        self, method: str, target: str, headers: Message, body: bytes, gone: ClientGone
    ) -> Served:
        try:
            served = self.serve(method, target, dict(headers.items()), body)
        except Exception:  # what API Gateway says when the function itself fails
            served = _json(502, {"message": "Internal server error"})
        if self.on_request:
            self.on_request(method, target, served[0])
        return served

    def serve(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        matched = match_route(self.routes, method, parts.path)
        if matched is None:
            # What API Gateway says for a path or method it does not have.
            return _json(403, {"message": "Missing Authentication Token"})
        route, path_parameters = matched
        given_key = next((v for k, v in headers.items() if k.lower() == "x-api-key"), None)
        if route.api_key_required and given_key != self.api_key:
            return _json(403, {"message": "Forbidden"})
        event = proxy_event(
            route,
            method,
            parts.path,
            parts.query,
            headers,
            body,
            path_parameters,
            stage=self.stage,
            api_key=given_key if route.api_key_required else None,
        )
        context = LambdaContext(function_name=route.function, aws_request_id=str(uuid.uuid4()))
        with self._one_at_a_time[route.function]:
            result = self.handlers[route.function](event, context)
        return _response(result, accept=_header(headers, "accept"))


@cache
def binary_media_types() -> tuple[str, ...]:
    """The API's BinaryMediaTypes in template.yaml ("image~1png" means image/png)."""
    apis = [
        r["Properties"]
        for r in load_template()["Resources"].values()
        if r.get("Type") == "AWS::Serverless::Api"
    ]
    return tuple(t.replace("~1", "/") for api in apis for t in api.get("BinaryMediaTypes", []))


def is_binary_media_type(header_value: str) -> bool:
    """Whether a Content-Type or Accept value's first media type is one of the API's binary
    media types: exactly, or through a wildcard there (`image/*`, `*/*`). A wildcard on the
    client's side (`Accept: */*`) is only a media type like any other."""
    first = header_value.split(",")[0].split(";")[0].strip().lower()
    kind, _, subtype = first.partition("/")
    if not kind or not subtype:
        return False
    for binary in binary_media_types():
        binary_kind, _, binary_subtype = binary.lower().partition("/")
        if binary_kind in ("*", kind) and binary_subtype in ("*", subtype):
            return True
    return False


def proxy_event(
    route: ApiRoute,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    path_parameters: dict[str, str],
    *,
    stage: str,
    api_key: str | None,
) -> dict[str, Any]:
    multi_query = parse_qs(query, keep_blank_values=True) if query else {}
    # As API Gateway does: only a binary media type arrives base64-encoded; any other body is
    # text, its invalid UTF-8 replaced (it is refused as bad JSON, not a crash).
    binary = bool(body) and is_binary_media_type(_header(headers, "content-type"))
    decoded = None if binary else body.decode("utf-8", "replace")
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {
                "apiKey": api_key,
                "apiKeyId": "local-key" if api_key else None,
                "sourceIp": "127.0.0.1",
                "userAgent": _header(headers, "user-agent"),
            },
        },
        "body": (decoded if decoded is not None else base64.b64encode(body).decode())
        if body
        else None,
        "isBase64Encoded": bool(body) and decoded is None,
    }


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _response(result: dict[str, Any], *, accept: str) -> tuple[int, dict[str, str], bytes]:
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(v) for v in values)
    raw = str(result.get("body") or "")
    # Only the first Accept type decides: anything else gets the base64 text itself.
    decode = bool(result.get("isBase64Encoded")) and is_binary_media_type(accept)
    body = base64.b64decode(raw) if decode else raw.encode()
    return int(result.get("statusCode", 200)), headers, body


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()
