"""WAHA's sessions: each one's status and phone, started, stopped, restarted and logged out as
WAHA's routes ask, paired by a scan of its QR code; every change of status is a `session.status`
webhook, and every webhook names its session."""

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from local.waha_peer.config import WahaConfig
from local.waha_peer.replies import http_error, new_qr, no_session, not_expected, qr_png
from local.waha_peer.webhooks import Webhooks

# How long a started session stays STARTING before it shows a QR code (or works, if paired).
BOOT_SECONDS = 0.2


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


class Sessions:
    """The sessions by name, as WAHA's SessionManager keeps them."""

    def __init__(self, config: WahaConfig, webhooks: Webhooks) -> None:
        self.config = config
        self.webhooks = webhooks
        self.by_name: dict[str, Session] = {}
        # A status change and its session.status webhook go out together, so webhooks leave in
        # the order of the changes: a boot's SCAN_QR_CODE (a timer's thread) before the WORKING
        # of a scan that saw it. Without it a test's scan could overtake the boot's webhook.
        self._changes = threading.RLock()

    def add(
        self,
        name: str,
        status: str = "WORKING",
        phone: str = "15550001000",
        push_name: str = "Postino",
    ) -> None:
        self.by_name[name] = Session(name, status, phone, push_name, paired=status == "WORKING")

    def status(self, name: str) -> str:
        return self.by_name[name].status

    def set_status(self, name: str, status: str) -> None:
        with self._changes:
            session = self.by_name[name]
            session.status = status
            session.history.append({"status": status, "timestamp": int(time.time() * 1000)})
            if status == "WORKING":
                session.paired = True
            if self.config.webhook_url:
                payload = {"name": name, "status": status, "statuses": session.history[-5:]}
                self.deliver("session.status", name, payload)

    def scan(self, name: str) -> None:
        """The phone scans the QR code: the session works."""
        with self._changes:
            if self.by_name[name].status != "SCAN_QR_CODE":
                raise ValueError(f"session {name} is {self.by_name[name].status}, not SCAN_QR_CODE")
            self.set_status(name, "WORKING")

    def deliver(
        self, event: str, session: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """One webhook about a session, with the session's own account (`me`) while it works."""
        me = self.by_name[session].me if session in self.by_name else None
        return self.webhooks.deliver(event, session, me, payload)

    # ---- WAHA's session routes ---------------------------------------------------------------

    def info(self, session: Session) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": session.name,
            "status": session.status,
            "me": session.me,
            "presence": None,
            "timestamps": {"activity": int(time.time() * 1000)},
            "config": {},
        }
        return info

    def start(self, session: Session) -> None:
        """STARTING now; BOOT_SECONDS later a QR code to scan, or WORKING if still paired."""
        session.boots += 1
        boot = session.boots
        self.set_status(session.name, "STARTING")

        def booted() -> None:
            # A later start, stop or test's own status change wins over this boot.
            with self._changes:
                if session.boots == boot and session.status == "STARTING":
                    self.set_status(session.name, "WORKING" if session.paired else "SCAN_QR_CODE")

        timer = threading.Timer(BOOT_SECONDS, booted)
        timer.daemon = True
        timer.start()

    def act(self, session: Session, action: str) -> tuple[int, Any]:
        if action == "start":
            if session.status not in ("STOPPED", "FAILED"):
                # WAHA refuses to start what runs (SessionManager.start).
                return 422, http_error(422, f"Session '{session.name}' is already started.")
            self.start(session)
        elif action == "stop":
            session.boots += 1
            self.set_status(session.name, "STOPPED")
        elif action == "restart":
            session.qr = new_qr()
            self.start(session)
        elif action == "logout":
            session.paired = False
            session.boots += 1
            session.qr = new_qr()
            self.set_status(session.name, "SCAN_QR_CODE")
        else:
            return 404, http_error(404, f"Cannot POST /api/sessions/{session.name}/{action}")
        return 201, {"name": session.name, "status": session.status, "config": {}}

    def qr(
        self, name: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, Any]:
        session = self.by_name.get(name)
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
