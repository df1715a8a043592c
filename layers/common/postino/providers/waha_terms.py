"""WAHA's words that code outside the provider needs (a session's statuses, a message key, the
endpoint per message type), without the provider's HTTP client: the webhooks, the drain's
record and the send API's rules import these, and httpx only loads where WAHA is called."""

from postino.providers.base import SenderUnavailable
from postino.senders.model import WahaSender

WORKING = "WORKING"
SESSION_PAUSE = "waha_session"
UNAUTHORIZED_PAUSE = "waha_unauthorized"
# WAHA sends every file type with sendFile but images, which get their own preview.
ENDPOINTS = {
    "text": "sendText",
    "image": "sendImage",
    "document": "sendFile",
    "audio": "sendFile",
    "video": "sendFile",
}


def key_of(serialised: str) -> str:
    """A serialised WhatsApp message id, `<fromMe>_<chat>_<KEY>[_<participant>]`, as its KEY."""
    parts = serialised.split("_")
    if len(parts) >= 3 and parts[0] in ("true", "false"):
        return parts[2]
    return serialised


def session_not_working(sender: WahaSender, status: str) -> SenderUnavailable:
    return SenderUnavailable(
        SESSION_PAUSE,
        f"WAHA session '{sender.session}' is {status}, not WORKING"
        + (": scan its QR code to pair the phone" if status == "SCAN_QR_CODE" else ""),
    )
