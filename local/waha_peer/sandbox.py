"""The sandbox's own routes (no key, not WAHA's API): a phone scanning a session's QR code, a
guest writing in, faults to inject, and the requests the fake received."""

import json
from dataclasses import asdict
from typing import Any

from local.peer_http import ReceivedRequest
from local.waha_peer.chats import Chats
from local.waha_peer.faults import Faults, WahaFault
from local.waha_peer.handler import ReceivedRequests
from local.waha_peer.replies import http_error, no_session
from local.waha_peer.sessions import Sessions


class Sandbox:
    def __init__(
        self, sessions: Sessions, chats: Chats, faults: Faults, received: ReceivedRequests
    ) -> None:
        self.sessions = sessions
        self.chats = chats
        self.faults = faults
        self.received = received

    def answer(self, method: str, route: str, raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, http_error(400, "The body is not JSON.")
        parts = route.strip("/").split("/")
        if method == "POST" and len(parts) == 4 and parts[3] == "scan":
            if parts[2] not in self.sessions.by_name:
                return 404, no_session(parts[2])
            try:
                self.sessions.scan(parts[2])
            except ValueError as refused:
                return 409, http_error(409, str(refused))
            return 200, {"session": parts[2], "status": "WORKING"}
        if method == "POST" and route == "/_sandbox/waha/inbound":
            session, phone, text = body.get("session"), str(body.get("from", "")), body.get("text")
            if session not in self.sessions.by_name or not phone.lstrip("+").isdigit() or not text:
                return 400, http_error(
                    400, 'Give {"session": "...", "from": "<digits>", "text": "..."}'
                )
            status, envelope = self.chats.inbound(
                session,
                phone.lstrip("+"),
                str(text),
                group_id=body.get("group"),
                lid=bool(body.get("lid")),
                push_name=body.get("name"),
                reply_to=body.get("reply_to"),  # the key of the message the guest quotes
            )
            return 200, {"id": envelope["payload"]["id"], "webhook_status": status}
        if method == "POST" and route == "/_sandbox/waha/faults":
            try:
                self.faults.add(WahaFault(**body))
            except TypeError as wrong:
                return 400, http_error(400, str(wrong))
            return 200, {"ok": True}
        if method == "GET" and route == "/_sandbox/waha/requests":
            return 200, {"requests": [_shown(r) for r in self.received.all()]}
        return 404, http_error(404, f"No sandbox route {method} {route}")


def _shown(request: ReceivedRequest) -> dict[str, Any]:
    shown = asdict(request)
    shown.pop("headers")
    shown["at"] = shown.pop("received_at")
    if isinstance(shown["response"], bytes):
        shown["response"] = f"<{len(shown['response'])} bytes of PNG>"
    return shown
