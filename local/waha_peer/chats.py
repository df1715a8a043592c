"""WAHA's chatting routes: a send answered in the engine's shape and followed by its acks as
`message.ack` webhooks (recipients ending in 0000 get ack -1); and a guest writing to a session's
phone, as a `message` webhook."""

import secrets
import threading
import time
from typing import Any

from local.waha_peer.config import WahaConfig
from local.waha_peer.replies import http_error, message_key, no_session, not_expected
from local.waha_peer.sessions import Session, Sessions
from local.waha_peer.webhooks import ACK_NAMES

SEND_PATHS = ("/api/sendText", "/api/sendImage", "/api/sendFile")
CHAT_PATHS = (*SEND_PATHS, "/api/sendSeen", "/api/startTyping", "/api/stopTyping")
FAILING_SUFFIX = "0000"


class Chats:
    def __init__(
        self,
        config: WahaConfig,
        sessions: Sessions,
        ack_delays: tuple[tuple[int, float], ...],
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.ack_delays = ack_delays

    def post(self, route: str, body: dict[str, Any]) -> tuple[int, Any]:
        """A POST to one of CHAT_PATHS: a send, or a seen or a typing that only answers."""
        name = str(body["session"])
        session = self.sessions.by_name.get(name)
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
        if self.config.webhook_url:
            threading.Thread(target=self._acks, args=(session, chat, key), daemon=True).start()
        return 201, self._sent(session, chat, key, body)

    def inbound(
        self,
        session: str,
        phone: str,
        text: str,
        *,
        group_id: str | None = None,
        lid: bool = False,
        push_name: str | None = None,
        reply_to: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """A guest writes to the session's phone: a `message` webhook. `reply_to`: the key of
        the message the guest quotes (WAHA's `replyTo`)."""
        me = self.sessions.by_name[session]
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
        if reply_to is not None:
            payload["replyTo"] = {"id": reply_to, "hasMedia": False}
        return self.sessions.deliver("message", session, payload)

    def typed_on_phone(self, session: str, chat: str, text: str) -> tuple[int, dict[str, Any]]:
        """The phone's owner types a message on the phone itself: a `message.any` webhook with
        fromMe and source "app" (a send through the API says "api")."""
        me = self.sessions.by_name[session]
        key = message_key()
        payload = {
            "id": f"true_{chat}_{key}",
            "timestamp": int(time.time()),
            "from": f"{me.phone}@c.us",
            "fromMe": True,
            "source": "app",
            "to": chat,
            "body": text,
            "hasMedia": False,
            "ack": 1,
            "ackName": "SERVER",
            "_data": {"key": {"remoteJid": chat, "fromMe": True, "id": key}},
        }
        return self.sessions.deliver("message.any", session, payload)

    def _sent(self, session: Session, chat: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to a send, in the engine's shape (each names the message differently)."""
        now = int(time.time())
        serialised = f"true_{chat}_{key}"
        if self.config.engine == "NOWEB":
            jid = chat.replace("@c.us", "@s.whatsapp.net")
            return {
                "key": {"remoteJid": jid, "fromMe": True, "id": key},
                "message": _noweb_message(body),
                "messageTimestamp": now,
                "status": "PENDING",
            }
        if self.config.engine == "GOWS":
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
            self.sessions.deliver("message.ack", session.name, payload)


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
