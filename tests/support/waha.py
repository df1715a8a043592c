"""WAHA's side in tests: its webhook deliveries as the webhook function's URL hands them over,
and senders."""

import json
import secrets
import time
from typing import Any

from postino.webhooks.waha_signature import sign
from tests.support.events import function_url_event

WAHA_API_KEY = "waha-test-key"
WAHA_KEY_SECRET = "postino/waha/api-key"
WAHA_HMAC_KEY = "waha-test-hmac-key"
WAHA_HMAC_SECRET = "postino/waha/webhook-hmac-key"
GUEST = "393331234567"


def waha_sender(base_url: str, session: str, **fields: Any) -> dict[str, Any]:
    """A WAHA sender's settings; no gap between sends unless a test asks for one."""
    return {
        "provider": "waha",
        "base_url": base_url,
        "api_key_secret": WAHA_KEY_SECRET,
        "session": session,
        "gap_seconds": {"min": 0, "max": 0},
    } | fields


def envelope(
    event: str,
    payload: dict[str, Any],
    *,
    session: str = "groom",
    at_ms: float | None = None,
    event_id: str | None = None,
    engine: str = "WEBJS",
) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + secrets.token_hex(13),
        "timestamp": at_ms if at_ms is not None else time.time() * 1000,
        "session": session,
        "metadata": {},
        "engine": engine,
        "event": event,
        "payload": payload,
        "me": {"id": "393470000001@c.us", "pushName": "Marco"},
    }


def ack(key: str, number: int, to: str = GUEST) -> dict[str, Any]:
    names = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
    return {
        "id": f"true_{to}@c.us_{key}",
        "from": "393470000001@c.us",
        "to": f"{to}@c.us",
        "participant": None,
        "fromMe": True,
        "ack": number,
        "ackName": names[number],
    }


def inbound(text: str, *, sender: str = f"{GUEST}@c.us", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"false_{sender}_3EB0{secrets.token_hex(8).upper()}",
        "timestamp": int(time.time()),
        "from": sender,
        "fromMe": False,
        "to": "393470000001@c.us",
        "body": text,
        "hasMedia": False,
        "_data": {"notifyName": "Giulia"},
    } | fields


def waha_webhook_event(
    body: Any,
    *,
    key: str = WAHA_HMAC_KEY,
    signature: str | None = None,
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """A function URL event for POST /webhooks/waha, signed as WAHA signs (X-Webhook-Hmac).
    `base64_encoded`: sent as application/octet-stream, which Lambda hands over base64-encoded."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "Content-Type": "application/octet-stream" if base64_encoded else "application/json",
        "X-Webhook-Hmac-Algorithm": "sha512",
    }
    if signature != "":
        headers["X-Webhook-Hmac"] = signature if signature is not None else sign(raw, key)
    return function_url_event("POST", "/webhooks/waha", raw, headers=headers)
