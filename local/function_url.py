"""A local Lambda function URL: template.yaml's FunctionUrlConfig, real events, the real handler.

A function URL is a host of its own in AWS (https://<url-id>.lambda-url.<region>.on.aws/); here
it is a port of its own. Each HTTP request becomes the event Lambda builds for a function URL
(payload format 2.0: lowercase headers, rawPath and rawQueryString, queryStringParameters with
repeated values joined by commas, cookies apart, requestContext.http) and goes to the
function's lambda_handler; its answer becomes the HTTP response, as Lambda maps it.

Lambda's own rules, which the function never sees:

- every path and method reach the function: it routes them itself;
- a body arrives as text only when its Content-Type is text (`text/*`, JSON, XML, JavaScript);
  any other body, and one without a Content-Type, arrives base64-encoded (isBase64Encoded);
- AuthType NONE still needs the function's resource-based policy to let anyone
  lambda:InvokeFunctionUrl (FunctionUrlAuthType NONE) and, since October 2025,
  lambda:InvokeFunction through the URL (InvokedViaFunctionUrl). Without both, every request
  gets Lambda's 403 and the function never runs. Both are read from the SAM-rendered template;
- a function that raises: 502.

AWS_IAM and RESPONSE_STREAM are not emulated: a template that asks for them is refused.
"""

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.apigw import LambdaContext
from local.http_server import ClientGone, LocalHttpServer, Served, request_handler

Handler = Callable[[dict[str, Any], Any], Any]

# The content types whose body a function URL passes as text (AWS lists none; these are the
# ones seen to arrive unencoded).
TEXT_TYPES = ("application/json", "application/xml", "application/javascript")
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class FunctionUrl:
    """A function's URL as the rendered template declares it (AWS::Lambda::Url)."""

    function: str
    auth_type: str
    invoke_mode: str
    # Both statements AuthType NONE needs in the function's resource-based policy.
    public: bool

    @property
    def url_id(self) -> str:
        """Lambda's <url-id>: 32 characters, here derived from the function's name."""
        return uuid.uuid5(uuid.NAMESPACE_URL, self.function).hex

    @property
    def domain(self) -> str:
        return f"{self.url_id}.lambda-url.{REGION}.on.aws"


def function_urls(rendered: Mapping[str, Any]) -> dict[str, FunctionUrl]:
    """Each function's URL in a SAM-rendered template, with whether its policy makes it public."""
    resources = rendered["Resources"]
    urls = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Url":
            continue
        properties = resource["Properties"]
        function = properties["TargetFunctionArn"]["Ref"]
        auth_type, mode = properties["AuthType"], properties.get("InvokeMode", "BUFFERED")
        if (auth_type, mode) != ("NONE", "BUFFERED"):
            raise ValueError(f"AWS::Lambda::Url {name}: cannot emulate {auth_type} {mode}")
        statements = [
            r["Properties"]
            for r in resources.values()
            if r["Type"] == "AWS::Lambda::Permission"
            and r["Properties"]["FunctionName"] == {"Ref": function}
            and r["Properties"]["Principal"] == "*"
        ]
        public = any(
            s["Action"] == "lambda:InvokeFunctionUrl" and s.get("FunctionUrlAuthType") == "NONE"
            for s in statements
        ) and any(
            s["Action"] == "lambda:InvokeFunction" and s.get("InvokedViaFunctionUrl") is True
            for s in statements
        )
        urls[function] = FunctionUrl(function, auth_type, mode, public)
    return urls


def is_text(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type.startswith("text/") or media_type in TEXT_TYPES


def url_event(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    domain: str,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The event Lambda hands a function for `method target` (path and query) at its URL."""
    parts = urlsplit(target)
    lowered = {k.lower(): v for k, v in headers.items()}
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    forwarded = {
        "x-forwarded-for": source_ip,
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
    }
    lowered |= {"host": domain} | forwarded
    query = {k: ",".join(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    now = time.time()
    url_id = domain.split(".", 1)[0]
    text = is_text(lowered.get("content-type", ""))
    # Invalid UTF-8 under a text type is replaced: refused as bad JSON, never a crash.
    carried = body.decode("utf-8", "replace") if text else base64.b64encode(body).decode()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        **({"cookies": cookies} if cookies else {}),
        "headers": lowered,
        **({"queryStringParameters": query} if query else {}),
        "requestContext": {
            "accountId": "anonymous",  # AuthType NONE: no caller identity
            "apiId": url_id,
            "domainName": domain,
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        **({"body": carried} if body else {}),
        "isBase64Encoded": bool(body) and not text,
    }


def url_response(result: Any) -> Served:
    """The HTTP response Lambda makes of a function's answer (payload format 2.0)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Lambda's inference: any other JSON value is a 200 with that value as the body.
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    if result.get("cookies"):
        headers["set-cookie"] = ", ".join(result["cookies"])
    raw = str(result.get("body") or "")
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    return int(result["statusCode"]), headers, body


class LocalFunctionUrl:
    def __init__(
        self,
        url: FunctionUrl,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 3004,
        on_request: Callable[[str, str, int], None] | None = None,
        environments: int = 1,
    ) -> None:
        self.function_url = url
        self.handler = handler
        # Lambda runs one invocation at a time in an environment, and starts more environments
        # for requests that come meanwhile. Here each environment is a slot on one module: more
        # than one only for a function that keeps no request on its module (no Powertools
        # resolver, whose app holds the current event).
        self._environments = threading.BoundedSemaphore(environments)
        self.on_request = on_request
        self.server = LocalHttpServer((host, port), request_handler(self._answer))

    @property
    def url(self) -> str:
        """As Lambda gives it (the AWS::Lambda::Url's FunctionUrl): ending in "/"."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def _answer(
        self, method: str, target: str, headers: Message, body: bytes, gone: ClientGone
    ) -> Served | None:
        # A header sent twice reaches the function once, its values joined by commas.
        joined = {k: ",".join(headers.get_all(k) or []) for k in headers}
        try:
            served = self.serve(method, target, joined, body, gone)
        except ClientGaveUp:
            served = None
        if self.on_request:
            status = 499 if served is None else served[0]  # 499: nginx's "client closed"
            self.on_request(method, urlsplit(target).path, status)
        return served

    def serve(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        gone: ClientGone | None = None,
    ) -> Served:
        if not self.function_url.public:
            return 403, {"content-type": "application/json"}, b'{"Message":"Forbidden"}'
        event = url_event(method, target, headers, body, domain=self.function_url.domain)
        context = LambdaContext(
            function_name=self.function_url.function, aws_request_id=str(uuid.uuid4())
        )
        with self._environments:
            # Lambda would have run it at once in another environment. Here it queued behind the
            # busy environments, and run for a client that gave up meanwhile (Meta's sandbox,
            # which then tries again), the function would do its work twice: a local artefact.
            if gone is not None and gone():
                raise ClientGaveUp
            try:
                result = self.handler(event, context)
            except Exception:  # what Lambda answers when the function itself fails
                return 502, {"content-type": "text/plain"}, b"Internal Server Error"
        return url_response(result)


class ClientGaveUp(Exception):
    """The request's client closed its connection before the function could take it."""
