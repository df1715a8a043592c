"""A WAHA sender's WhatsApp session: its status, its QR code, start, restart, logout, a test.

WAHA's errors become the API's one error shape with a sentence a person can act on.
"""

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import Field

from postino.errors import PostinoError
from postino.messages.model import Message
from postino.messages.request import SendMessageRequest
from postino.model import Model
from postino.providers.waha import WahaError, WahaNotAllowed, WahaUnreachable
from postino.send.accept import accept_message
from postino.senders.model import WahaSender
from postino.senders.profiles import get_sender
from postino.services import Services

SESSION_ACTIONS = ("start", "restart", "logout")
TEST_REFERENCE = "session-test"


class SessionAccount(Model):
    id: str | None = None
    push_name: str | None = None


class SessionResource(Model):
    sender: str
    session: str
    status: str = Field(
        description="WAHA's: STOPPED, STARTING, SCAN_QR_CODE, WORKING or FAILED (or a passkey step)"
    )
    me: SessionAccount | None = Field(
        default=None, description="The paired WhatsApp account, once WORKING"
    )


class QrCode(Model):
    mimetype: str
    data: str = Field(description="The PNG, base64")


class SessionTest(Model):
    to: str = Field(description="E.164 phone number or a group id (…@g.us)")
    text: str = Field(min_length=1, max_length=4096)


def waha_sender(services: Services, name: str, *, lacks: str = "session to pair") -> WahaSender:
    """The WAHA sender named; a Cloud API sender is a 409 saying it has no `lacks`."""
    sender = get_sender(services, name)
    if not isinstance(sender, WahaSender):
        raise PostinoError(
            "not_a_waha_sender",
            f"The sender '{name}' uses Meta's Cloud API, which has no {lacks}.",
            409,
        )
    return sender


def read_session(services: Services, name: str) -> SessionResource:
    sender = waha_sender(services, name)
    with waha_errors(sender):
        found = services.provider.waha.client(sender).session()
    status = str(found.get("status") or "UNKNOWN")
    now = services.clock.now()
    services.senders.set_session_status(sender.name, status, now, at=now)
    me = found.get("me") if isinstance(found.get("me"), dict) else None
    return SessionResource(
        sender=sender.name,
        session=sender.session,
        status=status,
        me=SessionAccount(id=me.get("id"), push_name=me.get("pushName")) if me else None,
    )


def session_qr(services: Services, name: str) -> bytes:
    """The QR code to scan from the phone (WhatsApp > Linked devices), as PNG bytes."""
    sender = waha_sender(services, name)
    client = services.provider.waha.client(sender)
    with waha_errors(sender):
        response = client.call(
            "GET", f"/api/{sender.session}/auth/qr?format=image", accept="image/png"
        )
    if response.headers.get("content-type", "").startswith("application/json"):
        # Some WAHA versions answer JSON base64 even when asked for the image.
        return base64.b64decode(response.json()["data"])
    return response.content


def qr_as_json(png: bytes) -> QrCode:
    return QrCode(mimetype="image/png", data=base64.b64encode(png).decode())


def session_action(
    services: Services, name: str, action: str, *, api_key_id: str | None = None
) -> SessionResource:
    """start, restart (a fresh QR code) or logout (unpair the phone).

    `api_key_id`: the caller's key, kept on the sender once WAHA has done it."""
    sender = waha_sender(services, name)
    client = services.provider.waha.client(sender)
    with waha_errors(sender):
        try:
            client.call("POST", f"/api/sessions/{sender.session}/{action}")
        except WahaError as error:
            if action != "start" or error.status != 404:
                raise
            # A session WAHA has never seen is created, and started with it.
            client.call("POST", "/api/sessions", {"name": sender.session, "start": True})
    if api_key_id is not None:
        services.senders.set_updated_by(sender.name, api_key_id, services.clock.now())
    return read_session(services, name)


def send_test(
    services: Services, name: str, test: SessionTest, *, api_key_id: str | None = None
) -> Message:
    """A test message through the queue, like any other (the rate window applies)."""
    waha_sender(services, name)
    request = SendMessageRequest.model_validate(
        {
            "to": test.to,
            "sender": name,
            "type": "text",
            "text": {"body": test.text},
            "reference": TEST_REFERENCE,
        }
    )
    return accept_message(services, request, api_key_id=api_key_id)


@contextmanager
def waha_errors(sender: WahaSender) -> Iterator[None]:
    try:
        yield
    except WahaUnreachable as error:
        raise PostinoError(
            "waha_unreachable",
            f"WAHA at {sender.base_url} did not answer ({error}); check that it is running and "
            "that Postino can reach it.",
            503,
        ) from None
    except WahaError as error:
        raise _translated(sender, error) from None


def _translated(sender: WahaSender, error: WahaError) -> PostinoError:
    said = _said(error.body)
    if isinstance(error, WahaNotAllowed):
        return PostinoError(
            "base_url_not_allowed",
            f"The sender's base_url {error.base_url} is not in the stack's WahaAllowedBaseUrls: "
            "PUT the sender with an allowed one.",
            409,
        )
    if error.status in (401, 403):
        return PostinoError(
            "waha_unauthorized",
            f"WAHA refused Postino's API key; check the secret '{sender.api_key_secret}'.",
            502,
        )
    if error.status == 404:
        return PostinoError(
            "session_not_found",
            f"WAHA has no session '{sender.session}'; start it with "
            f"POST /v1/senders/{sender.name}/session/start.",
            404,
        )
    if error.status == 422:
        status = error.body.get("status") if isinstance(error.body, dict) else None
        return PostinoError(
            "session_not_ready",
            f"The session '{sender.session}' cannot do that now"
            + (f": it is {status}" if status else "")
            + (f" ({said})" if said else "")
            + ".",
            409,
        )
    return PostinoError(
        "waha_error",
        f"WAHA answered HTTP {error.status}" + (f": {said}" if said else "") + ".",
        502,
    )


def _said(body: Any) -> str | None:
    if isinstance(body, dict):
        found = body.get("message") or body.get("error")
        return str(found)[:300] if found else None
    return str(body)[:300] if body else None
