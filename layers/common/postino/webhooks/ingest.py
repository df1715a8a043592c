"""The webhook routes: Meta's verification handshake, and verify-then-enqueue for deliveries
from Meta (/webhooks/meta) and from WAHA (/webhooks/waha), on the webhook function's own URL.

Each is on its peer's clock (Meta: median under 250 ms), so it does the least: check the
signature over the raw bytes, check the body's shape, then either settle it or put it on the
ingest queue, and answer. Settling is for a Meta body of statuses only, most of what Meta sends:
they are applied here, before the 200 (a read and a conditional write each), which spares each
status an SQS request and a share of the processor (about a third of the bill's webhook part).
Anything else, and any status the route cannot settle, goes on the queue as before; the
processor does the rest from there, telling the two peers by their shape.
"""

import base64
import binascii
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from postino.webhooks import waha_signature
from postino.webhooks.signature import is_valid

# The ingest queue's MaximumMessageSize (template.yaml): a body SQS cannot hold is refused.
MAX_BODY_BYTES = 262_144
WHATSAPP_OBJECT = "whatsapp_business_account"
META_PATH = "/webhooks/meta"
WAHA_PATH = "/webhooks/waha"
# A function URL hands the function every path and method: the routes are decided here.
ROUTES: dict[str, tuple[str, ...]] = {META_PATH: ("GET", "POST"), WAHA_PATH: ("POST",)}


@dataclass
class Ingest:
    """What the route needs from outside, as functions so tests (and the local stack) can swap."""

    app_secret: Callable[[], str]
    verify_token: Callable[[], str]
    waha_hmac_key: Callable[[], str]
    enqueue: Callable[[str], None]
    count: Callable[[str], None]
    # Apply a body of statuses here: True when done, False for the queue to take it.
    settle: Callable[[str], bool] = lambda text: False


@dataclass
class Refusal(Exception):
    status: int
    code: str
    message: str
    metric: str | None = None
    allow: tuple[str, ...] = ()


def handle(event: dict[str, Any], ingest: Ingest) -> dict[str, Any]:
    """A function URL's request (payload format 2.0) in, its response out."""
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", ""))
    path = str(event.get("rawPath") or "")
    try:
        _check_route(method, path)
        if method == "GET":
            return _text(200, _challenge(event.get("queryStringParameters") or {}, ingest))
        if path == WAHA_PATH:
            _enqueue(_waha_event(event, ingest), ingest)
        else:
            text, body = _meta_notification(event, ingest)
            if not (statuses_only(body) and ingest.settle(text)):
                _enqueue(text, ingest)
    except Refusal as refusal:
        if refusal.metric:
            ingest.count(refusal.metric)
        return _error(refusal)
    return _json(200, {"received": True})


def _check_route(method: str, path: str) -> None:
    if path not in ROUTES:
        raise Refusal(
            404,
            "not_found",
            f"There is no such route: the webhooks are {META_PATH} and {WAHA_PATH}.",
        )
    if method not in ROUTES[path]:
        raise Refusal(
            405,
            "method_not_allowed",
            f"{path} takes {' and '.join(ROUTES[path])}, not {method}.",
            allow=ROUTES[path],
        )


def _challenge(query: dict[str, str], ingest: Ingest) -> str:
    token = query.get("hub.verify_token") or ""
    expected = ingest.verify_token()
    if (
        query.get("hub.mode") != "subscribe"
        or not expected
        or not _same(token, expected)
        or not query.get("hub.challenge")
    ):
        raise Refusal(403, "verification_failed", "The verify token or mode is not right.")
    return query["hub.challenge"]


def _meta_notification(event: dict[str, Any], ingest: Ingest) -> tuple[str, dict[str, Any]]:
    """The verified body as Meta sent it (the text the queue takes) and as parsed."""
    raw = _sized_body(event)
    signature = _header(event, "x-hub-signature-256")
    if not is_valid(raw, signature, ingest.app_secret()):
        raise Refusal(
            401,
            "invalid_signature",
            "The X-Hub-Signature-256 header is missing or does not match the body.",
            "WebhookSignatureInvalid",
        )
    text, body = _json_body(raw)
    if not isinstance(body, dict) or body.get("object") != WHATSAPP_OBJECT:
        raise Refusal(
            400,
            "unsupported_object",
            f'The body must be an object with "object": "{WHATSAPP_OBJECT}".',
        )
    if not isinstance(body.get("entry"), list):
        raise Refusal(400, "invalid_field", "The body's 'entry' must be a list.")
    return text, body


def statuses_only(body: dict[str, Any]) -> bool:
    """Whether a verified Meta body holds statuses and nothing else (no message, no error)."""
    changes = [c for e in body["entry"] if isinstance(e, dict) for c in e.get("changes") or []]
    return bool(changes) and all(
        isinstance(c, dict)
        and c.get("field") == "messages"
        and isinstance(c.get("value"), dict)
        and c["value"].get("statuses")
        and set(c["value"]) <= {"messaging_product", "metadata", "statuses"}
        for c in changes
    )


def _waha_event(event: dict[str, Any], ingest: Ingest) -> str:
    raw = _sized_body(event)
    if not waha_signature.is_valid(raw, _header(event, "x-webhook-hmac"), ingest.waha_hmac_key()):
        raise Refusal(
            401,
            "invalid_signature",
            "The X-Webhook-Hmac header is missing or does not match the body.",
            "WebhookSignatureInvalid",
        )
    text, body = _json_body(raw)
    if not isinstance(body, dict):
        raise Refusal(400, "unsupported_object", "The body must be a WAHA event object.")
    for field in ("id", "event", "session"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise Refusal(
                400, "invalid_field", f"The WAHA event's '{field}' must be a non-empty string."
            )
    return text


def _sized_body(event: dict[str, Any]) -> bytes:
    raw = _raw_body(event)
    if len(raw) > MAX_BODY_BYTES:
        raise Refusal(
            413,
            "payload_too_large",
            f"The body is {len(raw)} bytes; at most {MAX_BODY_BYTES} are accepted.",
            "WebhookTooLarge",
        )
    return raw


def _json_body(raw: bytes) -> tuple[str, Any]:
    try:
        text = raw.decode("utf-8")
        return text, json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        raise Refusal(400, "malformed_json", "The body is not UTF-8 JSON.") from error


def _enqueue(text: str, ingest: Ingest) -> None:
    try:
        ingest.enqueue(text)
    except Exception as error:
        # Meta and WAHA retry a 5xx: nothing is lost when the queue is briefly unavailable.
        raise Refusal(
            500,
            "enqueue_failed",
            "The notification could not be queued; please retry.",
            "WebhookEnqueueFailed",
        ) from error


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise Refusal(400, "malformed_body", "The body is not valid base64.") from error
    # A function URL hands a text body (JSON, as both peers send) over as text, any other
    # base64-encoded: either way these bytes are what the peer signed.
    return body.encode("utf-8", errors="surrogateescape")


def _header(event: dict[str, Any], name: str) -> str | None:
    """A request header; a function URL's event names each in lowercase."""
    value = (event.get("headers") or {}).get(name)
    return None if value is None else str(value)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _text(status: int, body: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": body}


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def _error(refusal: Refusal) -> dict[str, Any]:
    return _json(
        refusal.status,
        {"error": {"code": refusal.code, "message": refusal.message, "details": []}},
        {"Allow": ", ".join(refusal.allow)} if refusal.allow else None,
    )
