"""The WAHA fake as a whole: its HTTP server, its front door (the sandbox's routes, the API key,
WAHA's spec, an injected fault, then WAHA's route), and what tests look at and program."""

import json
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.http_server import LocalHttpServer
from local.peer_http import ReceivedRequest
from local.waha_contract import WahaContract
from local.waha_peer.chats import CHAT_PATHS, Chats
from local.waha_peer.config import Engine, WahaConfig
from local.waha_peer.directory import Directory
from local.waha_peer.faults import Faults, WahaFault, faulted
from local.waha_peer.files import FILES_PATH, Files
from local.waha_peer.handler import ReceivedRequests, handler_for
from local.waha_peer.replies import UNAUTHORIZED, http_error, no_session
from local.waha_peer.sandbox import Sandbox
from local.waha_peer.sessions import Sessions
from local.waha_peer.webhooks import Webhooks


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
        self.config = WahaConfig(api_key, engine, webhook_url, hmac_key or "")
        self.contract = contract or WahaContract.load()
        webhooks = Webhooks(self.config, self.contract, on_event or (lambda line: None))
        self.sessions = Sessions(self.config, webhooks)
        self.chats = Chats(self.config, self.sessions, ack_delays)
        self.directory = Directory(self.config, self.sessions)
        self.faults = Faults()
        self.files = Files(self.sessions)
        self.received = ReceivedRequests()
        self.sandbox = Sandbox(self.sessions, self.chats, self.faults, self.received)
        self._server = LocalHttpServer((host, port), handler_for(self.answer, self.received))
        # What tests program, each the job of one part.
        self.add_session = self.sessions.add
        self.session_status = self.sessions.status
        self.set_session_status = self.sessions.set_status
        self.scan = self.sessions.scan
        self.deliver = self.sessions.deliver
        self.inbound = self.chats.inbound
        self.typed_on_phone = self.chats.typed_on_phone
        self.add_group = self.directory.add_group
        self.leave_group = self.directory.leave_group
        self.add_fault = self.faults.add

    def inbound_file(
        self, session: str, phone: str, data: bytes, mimetype: str, caption: str = ""
    ) -> tuple[int, dict[str, Any]]:
        """A guest sends a file: kept here, named by URL in the `message` webhook."""
        return self.files.inbound(self.base_url, session, phone, data, mimetype, caption)

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
    def api_key(self) -> str | None:
        return self.config.api_key

    @api_key.setter
    def api_key(self, api_key: str | None) -> None:
        self.config.api_key = api_key

    @property
    def engine(self) -> Engine:
        return self.config.engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self.config.engine = engine

    @property
    def requests(self) -> list[ReceivedRequest]:
        return self.received.all()

    def clear(self) -> None:
        self.received.clear()
        self.faults.clear()

    # ---- inside the server -----------------------------------------------------------------

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, list[str], WahaFault | None]:
        """Decide the answer to one request: status, body (JSON, or bytes for a PNG), problems."""
        route = urlsplit(path).path
        if route.startswith("/_sandbox/waha/"):
            status, body = self.sandbox.answer(method, route, raw)
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
        if method == "GET" and route.startswith(FILES_PATH):
            # Not an operation in WAHA's description: the file server behind its message URLs.
            fault = self.faults.take(route)
            if fault is not None:
                return (*faulted(fault), [], fault)
            if self.api_key is not None and headers.get("x-api-key") != self.api_key:
                return 401, UNAUTHORIZED, [], None
            return (*self.files.answer(route), [], None)
        problems = self.contract.check_request(method, path, headers, body)
        if problems:
            # NestJS's validation pipe lists its complaints in `message`.
            return 400, http_error(400, problems), problems, None
        fault = self.faults.take(route)
        if fault is not None:
            return (*faulted(fault), [], fault)
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
            if name not in self.sessions.by_name:
                self.sessions.add(name, status="STOPPED")
            if body.get("start", True):
                self.sessions.start(self.sessions.by_name[name])
            return 201, {"name": name, "status": self.sessions.by_name[name].status}
        if route.startswith("/api/sessions/") and len(parts) >= 3:
            session = self.sessions.by_name.get(parts[2])
            if session is None:
                return 404, no_session(parts[2])
            if method == "GET" and len(parts) == 3:
                return 200, self.sessions.info(session)
            if method == "POST" and len(parts) == 4:
                return self.sessions.act(session, parts[3])
        if method == "GET" and len(parts) == 4 and parts[2:] == ["auth", "qr"]:
            return self.sessions.qr(parts[1], query, headers)
        if method == "GET" and len(parts) == 3 and parts[2] in ("chats", "groups"):
            return self.directory.answer(parts[1], parts[2], query)
        if method == "POST" and route in CHAT_PATHS:
            return self.chats.post(route, body)
        return 404, http_error(404, f"Cannot {method} {route}")
