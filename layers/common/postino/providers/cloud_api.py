"""Meta's WhatsApp Cloud API: POST /{version}/{phone_number_id}/messages."""

import threading
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import ValidationError

from postino import aws
from postino.messages.model import Message
from postino.model import Model
from postino.providers.base import (
    Accepted,
    NotSent,
    OnWire,
    OutcomeUnknown,
    Progress,
    Rejected,
    SenderUnavailable,
    SendResult,
)
from postino.senders.model import CloudApiSender

# Tokens change rarely; five minutes of caching saves a Secrets Manager call per send.
TOKEN_MAX_AGE_SECONDS = 300


class GraphApiErrorData(Model):
    details: str | None = None


class GraphApiErrorBody(Model):
    message: str = ""
    type: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    error_user_title: str | None = None
    error_user_msg: str | None = None
    error_data: GraphApiErrorData | None = None
    fbtrace_id: str | None = None


class GraphApiError(Model):
    error: GraphApiErrorBody


class SentMessage(Model):
    id: str
    message_status: str = "accepted"


class SendMessageResponse(Model):
    messages: list[SentMessage]


def request_body(message: Message) -> dict[str, Any]:
    """Meta's request exactly as its schema says; our id rides along to match status webhooks."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to,
        "type": message.type,
        message.type: message.content,
        "biz_opaque_callback_data": message.id,
    }


class CloudApiProvider:
    def __init__(self, base_url: str, version: str, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # One fetch of a cold token, not one per send thread (each would be a billed request).
        self._token_lock = threading.Lock()
        self.version = version
        self.http = http or httpx.Client(
            # connect: a refused connection is "not sent"; read: an answer that never came
            # after the body went out is an unknown outcome.
            timeout=httpx.Timeout(20.0, connect=5.0, pool=10.0),
            limits=httpx.Limits(max_connections=128, max_keepalive_connections=128),
        )

    def warm(self, sender: CloudApiSender) -> SenderUnavailable | None:
        self._token(sender)
        return None

    def _token(self, sender: CloudApiSender) -> str:
        with self._token_lock:
            token: str = aws.secret(sender.access_token_secret, max_age=TOKEN_MAX_AGE_SECONDS)
        return token

    def send(
        self,
        sender: CloudApiSender,
        message: Message,
        progress: Progress,
        on_wire: OnWire | None = None,
    ) -> SendResult:
        """Raises SlotMissed, with nothing sent, when `on_wire` says the slot has passed."""
        token = self._token(sender)
        url = f"{self.base_url}/{self.version}/{sender.phone_number_id}/messages"
        try:
            response = self.http.post(
                url,
                json=request_body(message),
                headers={"Authorization": f"Bearer {token}"},
                extensions={"trace": before_the_wire(on_wire)} if on_wire else None,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            return NotSent(type(error).__name__)
        except httpx.TransportError as error:
            # Read timeouts, resets and protocol errors happen after the request was written.
            return OutcomeUnknown(type(error).__name__)
        return parse_response(response)

    def mark_read(self, sender: CloudApiSender, wamid: str, chat: str) -> bool:
        url = f"{self.base_url}/{self.version}/{sender.phone_number_id}/messages"
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
        try:
            response = self.http.post(
                url, json=body, headers={"Authorization": f"Bearer {self._token(sender)}"}
            )
        except httpx.TransportError:
            return False
        return response.is_success


def before_the_wire(on_wire: OnWire) -> Callable[[str, dict[str, Any]], None]:
    """An httpx trace hook that calls `on_wire` at the last moment a send can be kept back for
    nothing: before a new connection is opened, or before the headers go out on one kept open.

    A check any earlier (the drain's, on waking for its slot) leaves the request's building and
    the pool's hand-over to happen after it, unchecked: a process starved there (a busy host, a
    throttled CPU) sends late, and the peer counts the late send in the next sends' second
    (postino/drain/rate_window.py). Not again after a connect: a send kept back then would throw
    the new connection away, and its next try would open another, late again by as much.
    """
    connecting = False

    def trace(event: str, info: dict[str, Any]) -> None:
        nonlocal connecting
        if event == "connection.connect_tcp.started":
            connecting = True
            on_wire()
        elif event.endswith("send_request_headers.started") and not connecting:
            on_wire()  # "http11.send_request_headers.started", or http2's

    return trace


def parse_response(response: httpx.Response) -> SendResult:
    if response.is_success:
        try:
            sent = SendMessageResponse.model_validate_json(response.content).messages[0]
        except (ValidationError, IndexError):
            # Meta took it (2xx) but we cannot read the id: it may well be delivered.
            return OutcomeUnknown("unreadable success response")
        return Accepted(sent.id, sent.message_status)
    try:
        error = GraphApiError.model_validate_json(response.content).error
    except ValidationError:
        return Rejected(
            code=None,
            title=f"HTTP {response.status_code}",
            message=response.reason_phrase or "error without a Graph API error body",
            http_status=response.status_code,
        )
    return Rejected(
        code=error.code,
        title=error.error_user_title or error.message,
        message=error.error_user_msg or error.message,
        http_status=response.status_code,
        details=error.error_data.details if error.error_data else None,
    )
