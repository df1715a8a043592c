"""A local WAHA: answers like WAHA 2026.7.1 and checks every request against its published
OpenAPI description. Tests use it as the far end of the WAHA provider; `make run` as the WAHA
sandbox, with phones to pair (`POST /_sandbox/waha/{session}/scan` plays the phone scanning
the QR code) and HMAC-signed webhooks to the stack: `message.ack` after each send (recipients
ending in 0000 get ack -1), `session.status` on every change, `message` for a guest writing.
"""

import base64
import json
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx

from local.graph_api_peer import ReceivedRequest, misbehave
from local.http_server import LocalHttpServer
from local.waha_contract import WahaContract
from postino.observability import mask_phone
from postino.webhooks import waha_signature

Engine = Literal["WEBJS", "NOWEB", "GOWS"]
ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
SEND_PATHS = ("/api/sendText", "/api/sendImage", "/api/sendFile")
CHAT_PATHS = (*SEND_PATHS, "/api/sendSeen", "/api/startTyping", "/api/stopTyping")
FAILING_SUFFIX = "0000"
# How long a started session stays STARTING before it shows a QR code (or works, if paired).
BOOT_SECONDS = 0.2
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


@dataclass
class WahaFault:
    """What to do to the next matching requests instead of answering them."""

    status: int | None = 500
    kind: Literal["error", "timeout", "reset"] = "error"
    times: int | None = 1
    # Only requests whose path ends with this (e.g. "/api/sendText"); None: every WAHA route.
    path: str | None = None
    hold_seconds: float = 5.0


@dataclass
class Session:
    name: str
    status: str
    phone: str
    push_name: str
    paired: bool
    qr: str = field(default_factory=lambda: new_qr())
    # Counts starts, stops and logouts, so a boot timer left from an earlier one stands down.
    boots: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def me(self) -> dict[str, Any] | None:
        if self.status != "WORKING":
            return None
        return {"id": f"{self.phone}@c.us", "pushName": self.push_name}


def http_error(http_status: int, message: str | list[str]) -> dict[str, Any]:
    """NestJS's body for an HttpException raised with a message, as WAHA answers most refusals."""
    return {"statusCode": http_status, "message": message, "error": HTTPStatus(http_status).phrase}


# `new UnauthorizedException()` without a message, as WAHA's API-key middleware answers.
UNAUTHORIZED = {"message": "Unauthorized", "statusCode": 401}


def crash(message: str) -> dict[str, Any]:
    """WAHA's body for an unexpected error inside an engine (HTTP 500)."""
    return {
        "statusCode": 500,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "exception": {"message": message, "name": "Error"},
    }


def not_expected(session: str, status: str, expected: list[str]) -> dict[str, Any]:
    """WAHA's 422 when a session is not in a status the call needs (its SessionManager
    waits up to 5 s for it first; the fake answers at once)."""
    return {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": session,
        "status": status,
        "expected": expected,
    }


def no_session(name: str) -> dict[str, Any]:
    return http_error(
        404,
        f"We didn't find a session with name '{name}'.\n"
        f"Please start it first by using POST /api/sessions/{name}/start request",
    )


def qr_png(value: str, size: int = 33) -> bytes:
    """A valid PNG of a pixel grid drawn from the QR text: not scannable, but an image."""
    seed = zlib.crc32(value.encode())
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type: none
        for x in range(size):
            finder = min(x, y) < 7 or (x >= size - 7 and y < 7) or (y >= size - 7 and x < 7)
            bit = (seed >> ((x * 7 + y * 13) % 31)) & 1 if not finder else (x + y) % 2
            row.append(0 if bit else 255)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def event_id() -> str:
    """WAHA's envelope id: evt_ and a lower-case ULID (time, then randomness)."""
    now = int(time.time() * 1000)
    stamp = "".join(_CROCKFORD[(now >> (5 * i)) & 31] for i in reversed(range(10)))
    return "evt_" + stamp + "".join(secrets.choice(_CROCKFORD) for _ in range(16))


def new_qr() -> str:
    """A QR value shaped like WhatsApp Web's: fresh on every start, restart and logout."""
    return "2@" + secrets.token_urlsafe(48)


def message_key() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


class WahaPeer:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        engine: Engine = "WEBJS",
        webhook_url: str | None = None,
        hmac_key: str | None = None,
        contract: WahaContract | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ack_delays: tuple[tuple[int, float], ...] = ((1, 0.2), (2, 0.5), (3, 1.0)),
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.api_key = api_key
        self.engine: Engine = engine
        self.webhook_url = webhook_url
        self.hmac_key = hmac_key or ""
        self.contract = contract or WahaContract.load()
        self.ack_delays = ack_delays
        self.on_event = on_event or (lambda line: None)
        self.sessions: dict[str, Session] = {}
        self._requests: list[ReceivedRequest] = []
        self._faults: list[WahaFault] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=10.0)
        self._server = LocalHttpServer((host, port), _handler_for(self))

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "WahaPeer":
        # A short poll: stop() returns within it (the default half second adds up in tests).
        serve = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        serve.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "WahaPeer":
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- what tests look at and program --------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def add_fault(self, fault: WahaFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def add_session(
        self,
        name: str,
        status: str = "WORKING",
        phone: str = "15550001000",
        push_name: str = "Postino",
    ) -> None:
        self.sessions[name] = Session(name, status, phone, push_name, paired=status == "WORKING")

    def session_status(self, name: str) -> str:
        return self.sessions[name].status

    def set_session_status(self, name: str, status: str) -> None:
        session = self.sessions[name]
        session.status = status
        session.history.append({"status": status, "timestamp": int(time.time() * 1000)})
        if status == "WORKING":
            session.paired = True
        if self.webhook_url:
            payload = {"name": name, "status": status, "statuses": session.history[-5:]}
            self.deliver("session.status", name, payload)

    def scan(self, name: str) -> None:
        """The phone scans the QR code: the session works."""
        if self.sessions[name].status != "SCAN_QR_CODE":
            raise ValueError(f"session {name} is {self.sessions[name].status}, not SCAN_QR_CODE")
        self.set_session_status(name, "WORKING")

    def inbound(
        self,
        session: str,
        phone: str,
        text: str,
        *,
        group_id: str | None = None,
        lid: bool = False,
        push_name: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """A guest writes to the session's phone: a `message` webhook."""
        me = self.sessions[session]
        author = f"{secrets.randbelow(10**15):015d}@lid" if lid else f"{phone}@c.us"
        chat = group_id or author
        key: dict[str, Any] = {"remoteJid": chat, "fromMe": False, "id": message_key()}
        if lid:
            key["participantAlt" if group_id else "remoteJidAlt"] = f"{phone}@s.whatsapp.net"
        payload = {
            "id": f"false_{chat}_{key['id']}",
            "timestamp": int(time.time()),
            "from": chat,
            "fromMe": False,
            "source": "app",
            "to": f"{me.phone}@c.us",
            "participant": author if group_id else None,
            "body": text,
            "hasMedia": False,
            "mediaUrl": None,
            "ack": 1,
            "ackName": "SERVER",
            "_data": {"key": key, "notifyName": push_name or "Guest"},
        }
        return self.deliver("message", session, payload)

    def deliver(
        self, event: str, session: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Sign and POST one event in WAHA's envelope; (HTTP status, or 0 if unreachable, envelope)."""
        me = self.sessions[session].me if session in self.sessions else None
        envelope: dict[str, Any] = {
            "id": event_id(),
            "timestamp": int(time.time() * 1000),
            "session": session,
            "metadata": {},
            "engine": self.engine,
            "event": event,
            "payload": payload,
            "environment": {
                "version": "2026.7.1",
                "engine": self.engine,
                "tier": "CORE",
                "browser": "/usr/bin/chromium" if self.engine == "WEBJS" else None,
                "platform": "linux/x64",
                "worker": {"id": None},
            },
        }
        if me is not None:
            envelope["me"] = me
        # The fake speaks the spec too: an event it cannot vouch for is a bug of the fake.
        problems = self.contract.check_webhook(event, envelope)
        if problems:
            raise AssertionError(f"the WAHA fake built an invalid {event}: {problems}")
        raw = json.dumps(envelope, separators=(",", ":")).encode()
        if not self.webhook_url:
            return 0, envelope
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Hmac": self.sign(raw),
            "X-Webhook-Hmac-Algorithm": "sha512",
            "X-Webhook-Request-Id": envelope["id"],
            "X-Webhook-Timestamp": str(envelope["timestamp"]),
        }
        try:
            status = self._http.post(self.webhook_url, content=raw, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        self.on_event(f"waha      {event:<14} {session}{_about(event, payload)} → {status}")
        return status, envelope

    def sign(self, raw: bytes) -> str:
        return waha_signature.sign(raw, self.hmac_key)

    # ---- inside the server -----------------------------------------------------------------

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, list[str], WahaFault | None]:
        """Decide the answer to one request: status, body (JSON, or bytes for a PNG), problems."""
        route = urlsplit(path).path
        if route.startswith("/_sandbox/waha/"):
            status, body = self._sandbox(method, route, raw)
            return status, body, [], None
        if method == "GET" and route == "/health":
            # WAHA's spec puts /health behind the key; the sandbox keeps it open as a probe.
            return 200, {"status": "ok", "info": {}, "error": {}, "details": {}}, [], None
        keyed = self.contract.needs_key(method, route) and self.api_key is not None
        if keyed and headers.get("x-api-key") != self.api_key:
            return 401, UNAUTHORIZED, [], None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return 400, http_error(400, ["body: not JSON"]), ["body: not JSON"], None
        problems = self.contract.check_request(method, path, headers, body)
        if problems:
            # NestJS's validation pipe lists its complaints in `message`.
            return 400, http_error(400, problems), problems, None
        fault = self._take_fault(route)
        if fault is not None:
            return (*_faulted(fault), [], fault)
        if method == "GET" and route == "/ping":
            return 200, {"message": "pong"}, [], None
        status, answer = self._route(method, route, parse_qs(urlsplit(path).query), headers, body)
        return status, answer, [], None

    def _route(
        self,
        method: str,
        route: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        parts = route.strip("/").split("/")
        if method == "POST" and route == "/api/sessions":
            name = str(body.get("name") or "default")
            if name not in self.sessions:
                self.add_session(name, status="STOPPED")
            if body.get("start", True):
                self._start(self.sessions[name])
            return 201, {"name": name, "status": self.sessions[name].status}
        if route.startswith("/api/sessions/") and len(parts) >= 3:
            session = self.sessions.get(parts[2])
            if session is None:
                return 404, no_session(parts[2])
            if method == "GET" and len(parts) == 3:
                return 200, self._info(session)
            if method == "POST" and len(parts) == 4:
                return self._session_action(session, parts[3])
        if method == "GET" and len(parts) == 4 and parts[2:] == ["auth", "qr"]:
            return self._qr(parts[1], query, headers)
        if method == "POST" and route in CHAT_PATHS:
            return self._chat(route, body)
        return 404, http_error(404, f"Cannot {method} {route}")

    def _info(self, session: Session) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": session.name,
            "status": session.status,
            "me": session.me,
            "presence": None,
            "timestamps": {"activity": int(time.time() * 1000)},
            "config": {},
        }
        return info

    def _start(self, session: Session) -> None:
        """STARTING now; BOOT_SECONDS later a QR code to scan, or WORKING if still paired."""
        session.boots += 1
        boot = session.boots
        self.set_session_status(session.name, "STARTING")

        def booted() -> None:
            # A later start, stop or test's own status change wins over this boot.
            if session.boots == boot and session.status == "STARTING":
                self.set_session_status(
                    session.name, "WORKING" if session.paired else "SCAN_QR_CODE"
                )

        timer = threading.Timer(BOOT_SECONDS, booted)
        timer.daemon = True
        timer.start()

    def _session_action(self, session: Session, action: str) -> tuple[int, Any]:
        if action == "start":
            if session.status not in ("STOPPED", "FAILED"):
                # WAHA refuses to start what runs (SessionManager.start).
                return 422, http_error(422, f"Session '{session.name}' is already started.")
            self._start(session)
        elif action == "stop":
            session.boots += 1
            self.set_session_status(session.name, "STOPPED")
        elif action == "restart":
            session.qr = new_qr()
            self._start(session)
        elif action == "logout":
            session.paired = False
            session.boots += 1
            session.qr = new_qr()
            self.set_session_status(session.name, "SCAN_QR_CODE")
        else:
            return 404, http_error(404, f"Cannot POST /api/sessions/{session.name}/{action}")
        return 201, {"name": session.name, "status": session.status, "config": {}}

    def _qr(
        self, name: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, Any]:
        session = self.sessions.get(name)
        if session is None:
            return 404, no_session(name)
        if session.status != "SCAN_QR_CODE":
            return 422, not_expected(name, session.status, ["SCAN_QR_CODE"])
        if query.get("format", ["image"])[0] == "raw":
            return 200, {"value": session.qr}
        png = qr_png(session.qr)
        if "application/json" in headers.get("accept", ""):
            return 200, {"mimetype": "image/png", "data": base64.b64encode(png).decode()}
        return 200, png

    def _chat(self, route: str, body: dict[str, Any]) -> tuple[int, Any]:
        name = str(body["session"])
        session = self.sessions.get(name)
        if session is None:
            return 404, no_session(name)
        if session.status != "WORKING":
            return 422, not_expected(name, session.status, ["WORKING"])
        chat = str(body["chatId"])
        user, _, server = chat.partition("@")
        if server not in ("c.us", "g.us") or not user.replace("-", "").isdigit():
            return 400, http_error(
                400, [f"chatId: {chat!r} is neither <digits>@c.us nor <id>@g.us"]
            )
        if route not in SEND_PATHS:
            return 201, {}
        key = message_key()
        if self.webhook_url:
            threading.Thread(target=self._acks, args=(session, chat, key), daemon=True).start()
        return 201, self._sent(session, chat, key, body)

    def _sent(self, session: Session, chat: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to a send, in the engine's shape (each names the message differently)."""
        now = int(time.time())
        serialised = f"true_{chat}_{key}"
        if self.engine == "NOWEB":
            jid = chat.replace("@c.us", "@s.whatsapp.net")
            return {
                "key": {"remoteJid": jid, "fromMe": True, "id": key},
                "message": _noweb_message(body),
                "messageTimestamp": now,
                "status": "PENDING",
            }
        if self.engine == "GOWS":
            return {"id": serialised, "timestamp": now, "from": f"{session.phone}@c.us", "to": chat}
        return {
            "id": {"fromMe": True, "remote": chat, "id": key, "_serialized": serialised},
            "timestamp": now,
            "from": f"{session.phone}@c.us",
            "to": chat,
            "fromMe": True,
            "body": body.get("text") or body.get("caption") or "",
            "ack": 0,
        }

    def _acks(self, session: Session, chat: str, key: str) -> None:
        """Each ack at its time after the send (ack_delays are offsets from the send)."""
        failing = chat.split("@")[0].endswith(FAILING_SUFFIX)
        plan = ((-1, self.ack_delays[0][1]),) if failing else self.ack_delays
        sent_at = time.monotonic()
        for ack, delay in plan:
            time.sleep(max(0.0, sent_at + delay - time.monotonic()))
            payload: dict[str, Any] = {
                "id": f"true_{chat}_{key}",
                "from": f"{session.phone}@c.us",
                "to": chat,
                "participant": None,
                "fromMe": True,
                "ack": ack,
                "ackName": ACK_NAMES[ack],
                "_data": {},
            }
            self.deliver("message.ack", session.name, payload)

    def _take_fault(self, route: str) -> WahaFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is not None and not route.endswith(fault.path):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # ---- the sandbox's own routes (no key, not WAHA's API) ----------------------------------

    def _sandbox(self, method: str, route: str, raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, http_error(400, "The body is not JSON.")
        parts = route.strip("/").split("/")
        if method == "POST" and len(parts) == 4 and parts[3] == "scan":
            if parts[2] not in self.sessions:
                return 404, no_session(parts[2])
            try:
                self.scan(parts[2])
            except ValueError as refused:
                return 409, http_error(409, str(refused))
            return 200, {"session": parts[2], "status": "WORKING"}
        if method == "POST" and route == "/_sandbox/waha/inbound":
            session, phone, text = body.get("session"), str(body.get("from", "")), body.get("text")
            if session not in self.sessions or not phone.lstrip("+").isdigit() or not text:
                return 400, http_error(
                    400, 'Give {"session": "...", "from": "<digits>", "text": "..."}'
                )
            status, envelope = self.inbound(
                session,
                phone.lstrip("+"),
                str(text),
                group_id=body.get("group"),
                lid=bool(body.get("lid")),
                push_name=body.get("name"),
            )
            return 200, {"id": envelope["payload"]["id"], "webhook_status": status}
        if method == "POST" and route == "/_sandbox/waha/faults":
            try:
                self.add_fault(WahaFault(**body))
            except TypeError as wrong:
                return 400, http_error(400, str(wrong))
            return 200, {"ok": True}
        if method == "GET" and route == "/_sandbox/waha/requests":
            return 200, {"requests": [_shown(r) for r in self.requests]}
        return 404, http_error(404, f"No sandbox route {method} {route}")


def _noweb_message(body: dict[str, Any]) -> dict[str, Any]:
    """The Baileys message NOWEB echoes back for a text, an image or a document."""
    if "file" not in body:
        return {"extendedTextMessage": {"text": body.get("text", "")}}
    media = {"url": body["file"]["url"], "mimetype": body["file"]["mimetype"]}
    if body.get("caption"):
        media["caption"] = body["caption"]
    if str(body["file"]["mimetype"]).startswith("image/"):
        return {"imageMessage": media}
    return {"documentMessage": media | {"fileName": body["file"].get("filename", "file")}}


def _faulted(fault: WahaFault) -> tuple[int, Any]:
    """The answer to a faulted request: an error body (HTML where a proxy would answer), or
    nothing at all for a timeout or a reset."""
    if fault.kind != "error":
        return 0, None
    status = fault.status or 500
    if status in (502, 503):
        return status, f"<html><body><h1>{status} {HTTPStatus(status).phrase}</h1></body></html>"
    if status == 500:
        return status, crash("Injected by the WAHA fake")
    return status, http_error(status, "Injected by the WAHA fake")


def _about(event: str, payload: dict[str, Any]) -> str:
    """A masked description of an event for the stack's output: never a body, never a number."""
    if event == "session.status":
        return f" {payload['status']}"
    peer = str(payload.get("to") if event == "message.ack" else payload.get("from"))
    digits = peer.split("@")[0]
    shown = f"+{mask_phone(digits)}" if peer.endswith("@c.us") else peer.split("@")[-1]
    return (
        f" {ACK_NAMES.get(payload.get('ack', 0), '')} {shown}"
        if event == "message.ack"
        else (f" from {shown}")
    )


def _shown(request: ReceivedRequest) -> dict[str, Any]:
    shown = asdict(request)
    shown.pop("headers")
    shown["at"] = shown.pop("received_at")
    if isinstance(shown["response"], bytes):
        shown["response"] = f"<{len(shown['response'])} bytes of PNG>"
    return shown


def _handler_for(peer: WahaPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            received_at = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, response, problems, fault = peer.answer(self.command, self.path, headers, raw)
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if not self.path.startswith("/_sandbox/"):
                peer._record(
                    ReceivedRequest(
                        received_at=received_at,
                        method=self.command,
                        path=self.path,
                        headers=headers,
                        body=body,
                        status=status,
                        response=response,
                        problems=problems,
                    )
                )
            if fault is not None and misbehave(self, fault.kind, fault.hold_seconds):
                return
            if isinstance(response, bytes):
                data, kind = response, "image/png"
            elif isinstance(response, str):
                data, kind = response.encode(), "text/html"
            else:
                data, kind = json.dumps(response).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `peer.requests` instead."""

    return Handler
