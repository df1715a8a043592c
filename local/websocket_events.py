"""What a WebSocket API says: the events API Gateway hands its Lambda proxy integration, one per
route, and its answers to a refused handshake and to the @connections API's callers.

The events' shapes are those AWS sends (as Powertools' sample events record them):

- $connect: the upgrade request's headers (Host the API's domain, the X-Forwarded-* an AWS load
  balancer adds, the upgrade's own Connection and Upgrade left out), its query string when it has
  one, and the request context every event carries;
- $default (a MESSAGE): no headers, the frame as the body, a messageId;
- $disconnect: the few headers AWS sends then, and the close frame's code and reason.

Ids (connectionId, requestId, messageId) have API Gateway's look: 16 characters of URL-safe
base64 ending in "=" (11 random bytes).
"""

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import responses
from typing import Any
from urllib.parse import parse_qs

from websockets.datastructures import Headers
from websockets.http11 import Response

from local.http_server import Served

# A close frame without a code (1005), as API Gateway words it.
NO_STATUS_REASON = "Client-side close frame status not set"
_HOP_BY_HOP = {"connection", "upgrade"}
# The refusal's own framing, whatever headers the function answered with.
_FRAMING = {"content-length", "connection"}


def gateway_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


@dataclass(frozen=True)
class Peer:
    """What every event of one connection says about it."""

    api_id: str
    stage: str
    region: str
    connection_id: str
    connected_at: int  # epoch milliseconds
    source_ip: str
    user_agent: str | None

    @property
    def domain(self) -> str:
        return f"{self.api_id}.execute-api.{self.region}.amazonaws.com"

    def identity(self) -> dict[str, str]:
        identity = {"sourceIp": self.source_ip}
        return identity | ({"userAgent": self.user_agent} if self.user_agent else {})


def connect_event(peer: Peer, headers: Headers, query: str) -> dict[str, Any]:
    forwarded = [
        ("Host", peer.domain),
        ("X-Forwarded-For", peer.source_ip),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]
    replaced = _HOP_BY_HOP | {name.lower() for name, _ in forwarded}
    kept = [(name, value) for name, value in headers.raw_items() if name.lower() not in replaced]
    multi: dict[str, list[str]] = {}
    for name, value in kept + forwarded:
        multi.setdefault(name, []).append(value)
    multi_query = parse_qs(query, keep_blank_values=True)
    queries: dict[str, Any] = (
        {
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()},
            "multiValueQueryStringParameters": multi_query,
        }
        if multi_query
        else {}
    )
    return {
        "headers": {name: values[-1] for name, values in multi.items()},
        "multiValueHeaders": multi,
        **queries,
        "requestContext": request_context(peer, "$connect", "CONNECT"),
        "isBase64Encoded": False,
    }


def message_event(peer: Peer, frame: str | bytes) -> dict[str, Any]:
    # A binary frame reaches the function base64-encoded, as a binary HTTP body would.
    body = base64.b64encode(frame).decode() if isinstance(frame, bytes) else frame
    context = request_context(peer, "$default", "MESSAGE") | {"messageId": gateway_id()}
    return {"requestContext": context, "body": body, "isBase64Encoded": isinstance(frame, bytes)}


def disconnect_event(peer: Peer, code: int, reason: str) -> dict[str, Any]:
    headers = {"Host": peer.domain, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = request_context(peer, "$disconnect", "DISCONNECT") | {
        "disconnectStatusCode": code,
        "disconnectReason": reason or (NO_STATUS_REASON if code == 1005 else ""),
    }
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def request_context(peer: Peer, route_key: str, event_type: str) -> dict[str, Any]:
    now = time.time()
    request_id = gateway_id()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "messageDirection": "IN",
        "stage": peer.stage,
        "connectedAt": peer.connected_at,
        "requestTimeEpoch": int(now * 1000),
        "identity": peer.identity(),
        "requestId": request_id,
        "domainName": peer.domain,
        "connectionId": peer.connection_id,
        "apiId": peer.api_id,
    }


def connect_answer(result: Any) -> tuple[int, Response | None]:
    """What API Gateway makes of $connect's answer: its status, and the handshake's refusal
    unless that status is 2xx."""
    # Unsure what API Gateway makes of an answer without a statusCode: it refuses here (502),
    # so a function that means to accept must say so.
    answer = result if isinstance(result, dict) and "statusCode" in result else {}
    status = int(answer.get("statusCode", 502))
    if 200 <= status < 300:
        return status, None
    return status, handshake_refused(status, answer.get("headers") or {}, answer.get("body"))


def handshake_refused(status: int, headers: dict[str, Any], body: Any) -> Response:
    data = str(body or "").encode()
    own = {str(k): str(v) for k, v in headers.items() if str(k).lower() not in _FRAMING}
    fields = {"Content-Type": "application/json"} | own
    fields |= {"Content-Length": str(len(data)), "Connection": "close"}
    return Response(status, responses.get(status, ""), Headers(fields), data)


def management_error(status: int, error_type: str, message: str | None) -> Served:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}
    return status, headers, json.dumps({"message": message}).encode()


def _iso(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connection_description(peer: Peer, last_active_at: float) -> Served:
    """GetConnection's answer, its fields named as on the wire."""
    description = {
        "connectedAt": _iso(peer.connected_at / 1000),
        "identity": peer.identity(),
        "lastActiveAt": _iso(last_active_at),
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(description).encode()
