"""WAHA's webhooks: each event in WAHA's envelope, checked against WAHA's spec, signed with the
HMAC key and POSTed to the stack, with a masked line about it for the stack's output."""

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from local.waha_contract import WahaContract
from local.waha_peer.config import WahaConfig
from local.waha_peer.replies import event_id
from postino.observability import mask_phone
from postino.webhooks import waha_signature

ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}


class Webhooks:
    def __init__(
        self, config: WahaConfig, contract: WahaContract, on_event: Callable[[str], None]
    ) -> None:
        self.config = config
        self.contract = contract
        self.on_event = on_event
        self._http = httpx.Client(timeout=10.0)

    def deliver(
        self, event: str, session: str, me: dict[str, Any] | None, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Sign and POST one event in WAHA's envelope; (HTTP status, or 0 if unreachable, envelope)."""
        envelope: dict[str, Any] = {
            "id": event_id(),
            "timestamp": int(time.time() * 1000),
            "session": session,
            "metadata": {},
            "engine": self.config.engine,
            "event": event,
            "payload": payload,
            "environment": {
                "version": "2026.7.1",
                "engine": self.config.engine,
                "tier": "CORE",
                "browser": "/usr/bin/chromium" if self.config.engine == "WEBJS" else None,
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
        if not self.config.webhook_url:
            return 0, envelope
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Hmac": self.sign(raw),
            "X-Webhook-Hmac-Algorithm": "sha512",
            "X-Webhook-Request-Id": envelope["id"],
            "X-Webhook-Timestamp": str(envelope["timestamp"]),
        }
        try:
            status = self._http.post(
                self.config.webhook_url, content=raw, headers=headers
            ).status_code
        except httpx.HTTPError:
            status = 0
        self.on_event(f"waha      {event:<14} {session}{_about(event, payload)} → {status}")
        return status, envelope

    def sign(self, raw: bytes) -> str:
        return waha_signature.sign(raw, self.config.hmac_key)


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
