"""Files a guest sent: WAHA keeps each on its own disk and names it in the message webhook's
`media.url`, under its API (`/api/files/…`, behind the key like the rest of /api)."""

import secrets
import threading
import time
from typing import Any

from local.waha_peer.replies import http_error, message_key
from local.waha_peer.sessions import Sessions

FILES_PATH = "/api/files/"


class Files:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self._files: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def answer(self, route: str) -> tuple[int, Any]:
        with self._lock:
            found = self._files.get(route)
        if found is None:
            return 404, http_error(404, f"No file at {route}")
        return 200, found[0]

    def inbound(
        self, base_url: str, session: str, phone: str, data: bytes, mimetype: str, caption: str = ""
    ) -> tuple[int, dict[str, Any]]:
        """A guest sends a file to the session's phone: a `message` webhook naming its URL."""
        me = self.sessions.by_name[session]
        chat = f"{phone}@c.us"
        key = message_key()
        message_id = f"false_{chat}_{key}"
        route = f"{FILES_PATH}{session}/{message_id}.{secrets.token_hex(4)}"
        with self._lock:
            self._files[route] = (data, mimetype)
        payload = {
            "id": message_id,
            "timestamp": int(time.time()),
            "from": chat,
            "fromMe": False,
            "source": "app",
            "to": f"{me.phone}@c.us",
            "participant": None,
            "body": caption,
            "hasMedia": True,
            "mediaUrl": base_url + route,
            "media": {"url": base_url + route, "mimetype": mimetype},
            "ack": 1,
            "ackName": "SERVER",
            "_data": {
                "key": {"remoteJid": chat, "fromMe": False, "id": key},
                "notifyName": "Guest",
            },
        }
        return self.sessions.deliver("message", session, payload)
