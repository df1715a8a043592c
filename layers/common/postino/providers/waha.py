"""WAHA (WhatsApp HTTP API): a phone's WhatsApp Web session, sending like a person would.

A send reads the chat (sendSeen), thinks, types for as long as the text takes, stops typing and
sends; each step goes on the message's timeline. Waits go through the injectable clock.
"""

import json
import mimetypes
import random
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx

from postino import aws
from postino.clock import Clock
from postino.messages.model import Message, Phase
from postino.observability import logger
from postino.providers.base import (
    Accepted,
    NotSent,
    OutcomeUnknown,
    Progress,
    Rejected,
    SenderUnavailable,
    SendResult,
)
from postino.providers.waha_terms import (
    ENDPOINTS,
    UNAUTHORIZED_PAUSE,
    WORKING,
    key_of,
    session_not_working,
)
from postino.senders.allowed import waha_url_allowed
from postino.senders.model import WahaSender

KEY_MAX_AGE_SECONDS = 300
# A session's status is asked once per sender per this long, not once per message.
SESSION_CHECK_SECONDS = 5.0
DEFAULT_MIME_TYPES = {
    "image": "image/jpeg",
    "document": "application/octet-stream",
    "audio": "audio/mpeg",
    "video": "video/mp4",
}


class WahaUnreachable(Exception):
    """WAHA did not answer (connection refused, timeout): the API says 503."""


class WahaError(Exception):
    """WAHA answered with an error; `status` is its HTTP status, `body` its JSON (or text)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"WAHA answered HTTP {status}")
        self.status = status
        self.body = body


class WahaNotAllowed(WahaError):
    """A sender names a WAHA outside the stack's WahaAllowedBaseUrls: never called, never
    sent the key (a sender stored before the rule, or written around the API)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(403, {"message": f"{base_url} is not in WahaAllowedBaseUrls"})
        self.base_url = base_url


def chat_id(to: str) -> str:
    """A phone number (digits) becomes <digits>@c.us; a group id (…@g.us) stays as it is."""
    return to if "@" in to else f"{to.lstrip('+')}@c.us"


def message_key(response: Any) -> str | None:
    """One provider message id whatever the engine: WhatsApp's message key id.

    NOWEB answers {key: {id}}; GOWS {id: "true_<chat>_<KEY>"}; WEBJS {id: {_serialized: the same}}.
    Webhooks (message.ack) carry the serialised form, `<fromMe>_<chat>_<KEY>[_<participant>]`;
    both become KEY, so a send and its acks meet.
    """
    if not isinstance(response, dict):
        return None
    key = response.get("key")
    if isinstance(key, dict) and isinstance(key.get("id"), str):
        return str(key["id"])
    found = response.get("id")
    if isinstance(found, dict):
        found = found.get("_serialized") or found.get("id")
    return key_of(found) if isinstance(found, str) and found else None


def request_body(sender: WahaSender, message: Message) -> tuple[str, dict[str, Any]]:
    """The endpoint and body for a message, as WAHA's schema has them."""
    chat = chat_id(message.to)
    content = message.content
    if message.type == "text":
        return "sendText", {
            "chatId": chat,
            "text": content["body"],
            "linkPreview": bool(content.get("preview_url", False)),
            "session": sender.session,
        }
    link = str(content["link"])
    file: dict[str, Any] = {
        "mimetype": mimetypes.guess_type(urlsplit(link).path)[0]
        or DEFAULT_MIME_TYPES[message.type],
        "url": link,
    }
    if content.get("filename"):
        file["filename"] = content["filename"]
    body: dict[str, Any] = {"chatId": chat, "file": file, "session": sender.session}
    if content.get("caption"):
        body["caption"] = content["caption"]
    return ENDPOINTS[message.type], body


def typing_seconds(sender: WahaSender, message: Message) -> float:
    text = message.content.get("body") or message.content.get("caption") or ""
    human = sender.human_like
    return min(len(str(text)) / human.typing_chars_per_second, human.typing_max_seconds)


class WahaClient:
    """WAHA's HTTP API for one sender: the key from Secrets Manager, errors as exceptions."""

    def __init__(self, http: httpx.Client, sender: WahaSender, allowed_base_urls: str) -> None:
        self.http = http
        self.sender = sender
        self.allowed_base_urls = allowed_base_urls

    def api_key(self) -> str:
        value: str = aws.secret(self.sender.api_key_secret, max_age=KEY_MAX_AGE_SECONDS)
        # One secret can serve WAHA too: {"api_key": plain, "api_key_sha512": "sha512:…"}.
        if value.startswith("{"):
            found = json.loads(value).get("api_key")
            if isinstance(found, str):
                return found
        return value

    def call(
        self, method: str, path: str, body: Any = None, *, accept: str = "application/json"
    ) -> httpx.Response:
        if not waha_url_allowed(self.sender.base_url, self.allowed_base_urls):
            raise WahaNotAllowed(self.sender.base_url)
        url = self.sender.base_url.rstrip("/") + path
        headers = {"X-Api-Key": self.api_key(), "Accept": accept}
        try:
            response = self.http.request(method, url, json=body, headers=headers)
        except httpx.TransportError as error:
            raise WahaUnreachable(type(error).__name__) from error
        if not response.is_success:
            raise WahaError(response.status_code, _body(response))
        return response

    def session(self) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/api/sessions/{self.sender.session}").json()
        return found

    def chats(self, limit: int) -> Any:
        """The session's chats, latest first, in the engine's own shape (see waha_chats)."""
        query = f"sortBy=conversationTimestamp&sortOrder=desc&limit={limit}"
        return self.call("GET", f"/api/{self.sender.session}/chats?{query}").json()

    def groups(self) -> Any:
        """The groups the session's phone is in, in the engine's own shape (see waha_chats)."""
        return self.call("GET", f"/api/{self.sender.session}/groups").json()


class WahaProvider:
    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        allowed_base_urls: str,
        http: httpx.Client | None = None,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.allowed_base_urls = allowed_base_urls
        self.http = http or httpx.Client(
            # WAHA drives a browser or a socket: a send can take a few seconds to come back.
            timeout=httpx.Timeout(30.0, connect=5.0, pool=10.0),
        )
        self._lock = threading.Lock()
        # When each sender's session was last seen WORKING (only good news is kept: a session
        # working again must not be refused for a few seconds more on an old answer).
        self._working_at: dict[str, float] = {}

    def client(self, sender: WahaSender) -> WahaClient:
        return WahaClient(self.http, sender, self.allowed_base_urls)

    def warm(self, sender: WahaSender) -> SenderUnavailable | None:
        """Is the session WORKING? Asked before any message is claimed, so none spends an attempt."""
        now = self.clock.now()
        with self._lock:
            if now - self._working_at.get(sender.name, float("-inf")) < SESSION_CHECK_SECONDS:
                return None
        try:
            status = str(self.client(sender).session().get("status"))
        except WahaUnreachable:
            return None  # the send itself finds out, and retries
        except WahaError as error:
            return unavailable(sender, error)
        if status != WORKING:
            return session_not_working(sender, status)
        with self._lock:
            self._working_at[sender.name] = now
        return None

    def send(self, sender: WahaSender, message: Message, progress: Progress) -> SendResult:
        client = self.client(sender)
        chat = chat_id(message.to)
        human = sender.human_like
        try:
            if human.send_seen:
                progress(Phase.READING, {})
                self._step(client, "/api/sendSeen", {"chatId": chat, "session": sender.session})
            think = self.rng.uniform(human.think_seconds.min, human.think_seconds.max)
            progress(Phase.WAITING_HUMAN, {"seconds": round(think, 1)})
            self.clock.sleep(think)
            if human.typing:
                typing = typing_seconds(sender, message)
                progress(Phase.TYPING, {"seconds": round(typing, 1)})
                chat_body = {"chatId": chat, "session": sender.session}
                self._step(client, "/api/startTyping", chat_body)
                self.clock.sleep(typing)
                self._step(client, "/api/stopTyping", chat_body)
        except WahaUnreachable as error:
            return NotSent(f"WAHA unreachable: {error}")
        except WahaError as error:
            return unavailable(sender, error) or _rejected(error)
        endpoint, body = request_body(sender, message)
        progress(Phase.SENDING, {"step": endpoint})
        return self._send(client, sender, endpoint, body)

    def _step(self, client: WahaClient, path: str, body: dict[str, Any]) -> None:
        """A step only for show: WAHA's refusal of it (an engine without typing) is no reason to
        hold the message back; a dead session, a bad key or WAHA failing are (they raise)."""
        try:
            client.call("POST", path, body)
        except WahaError as error:
            if error.status in (401, 403) or error.status >= 500 or _session_status(error):
                raise
            logger.warning("WAHA refused a step", extra={"path": path, "status": error.status})

    def _send(
        self, client: WahaClient, sender: WahaSender, endpoint: str, body: dict[str, Any]
    ) -> SendResult:
        url = sender.base_url.rstrip("/") + "/api/" + endpoint
        try:
            response = self.http.post(url, json=body, headers={"X-Api-Key": client.api_key()})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            return NotSent(type(error).__name__)
        except httpx.TransportError as error:
            # The request was written: WhatsApp may have the message even without an answer.
            return OutcomeUnknown(type(error).__name__)
        if response.is_success:
            key = message_key(_body(response))
            if key is None:
                return OutcomeUnknown("unreadable success response from WAHA")
            return Accepted(key, "accepted")
        refused = WahaError(response.status_code, _body(response))
        return unavailable(sender, refused) or _rejected(refused)

    def mark_read(self, sender: WahaSender, wamid: str, chat: str) -> bool:
        body = {"chatId": chat, "messageIds": [wamid], "session": sender.session}
        try:
            self.client(sender).call("POST", "/api/sendSeen", body)
        except (WahaUnreachable, WahaError):
            return False
        return True


def unavailable(sender: WahaSender, error: WahaError) -> SenderUnavailable | None:
    """WAHA's errors that mean the sender, not the message, cannot go on."""
    if isinstance(error, WahaNotAllowed):
        return SenderUnavailable(
            UNAUTHORIZED_PAUSE,
            f"its base_url {error.base_url} is not in the stack's WahaAllowedBaseUrls: PUT the "
            "sender with an allowed one, then resume it",
        )
    if error.status in (401, 403):
        return SenderUnavailable(
            UNAUTHORIZED_PAUSE,
            f"WAHA refused the API key (HTTP {error.status}): fix the secret "
            f"'{sender.api_key_secret}', then resume the sender",
        )
    if error.status == 404 and "session" in json.dumps(error.body).lower():
        return session_not_working(sender, "missing (never created)")
    status = _session_status(error)
    if status is not None and status != WORKING:
        return session_not_working(sender, status)
    return None


def _session_status(error: WahaError) -> str | None:
    """WAHA refuses a call to a session that is not WORKING with 422 and the session's status."""
    if error.status == 422 and isinstance(error.body, dict):
        status = error.body.get("status")
        return str(status) if isinstance(status, str) else None
    return None


def _rejected(error: WahaError) -> Rejected:
    body = error.body
    text = body if isinstance(body, str) else None
    if isinstance(body, dict):
        found = body.get("message") or body.get("error")
        text = found if isinstance(found, str) else json.dumps(body)[:300]
    return Rejected(
        code=None,
        title=f"WAHA HTTP {error.status}",
        message=(text or "error without a body")[:500],
        http_status=error.status,
    )


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
