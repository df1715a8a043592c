"""Meta's webhook deliveries as the webhook function's URL hands them to us, and notification
bodies."""

import json
from typing import Any

from postino.webhooks.signature import sign
from tests.support.events import function_url_event

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
APP_SECRET = "0123456789abcdef-app-secret"


def webhook_event(
    body: Any,
    *,
    secret: str = APP_SECRET,
    signature: str | None = None,
    base64_encoded: bool = False,
    method: str = "POST",
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A function URL event for /webhooks/meta. `body` may be bytes (sent as they are).
    `base64_encoded`: sent as application/octet-stream, which Lambda hands over base64-encoded;
    otherwise as Meta sends it, application/json (text)."""
    if method != "POST":
        return function_url_event(method, "/webhooks/meta", query=query)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/octet-stream" if base64_encoded else "application/json"}
    if signature != "":
        headers["X-Hub-Signature-256"] = signature if signature is not None else sign(raw, secret)
    return function_url_event("POST", "/webhooks/meta", raw, headers=headers, query=query)


def notification(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": field}]}],
    }


def metadata() -> dict[str, str]:
    return {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}


def status(
    wamid: str,
    name: str,
    timestamp: int,
    *,
    recipient: str = "393331234567",
    callback: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    update: dict[str, Any] = {
        "id": wamid,
        "status": name,
        "timestamp": str(timestamp),
        "recipient_id": recipient,
    }
    if name in ("sent", "delivered"):
        update["conversation"] = {"id": "c0ffee", "origin": {"type": "service"}}
        update["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service"}
    if callback:
        update["biz_opaque_callback_data"] = callback
    if errors:
        update["errors"] = errors
    return update


def statuses(*updates: dict[str, Any]) -> dict[str, Any]:
    return notification(
        {"messaging_product": "whatsapp", "metadata": metadata(), "statuses": list(updates)}
    )


def inbound(
    *messages: dict[str, Any], wa_id: str = "393331234567", name: str = "Giulia"
) -> dict[str, Any]:
    return notification(
        {
            "messaging_product": "whatsapp",
            "metadata": metadata(),
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": list(messages),
        }
    )


def text_message(
    wamid: str, body: str, *, sender: str = "393331234567", at: int = 1795600000
) -> dict[str, Any]:
    return {
        "from": sender,
        "id": wamid,
        "timestamp": str(at),
        "type": "text",
        "text": {"body": body},
    }
