"""What a session's phone sees: its chats and the groups it is in, answered in the engine's shape
(GET /api/{session}/chats and /groups). Each session starts with a tour operator's groups and a
few guests' chats; tests add groups of their own."""

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from local.waha_peer.config import WahaConfig
from local.waha_peer.replies import no_session, not_expected
from local.waha_peer.sessions import Sessions

# (id, subject, members): the groups every session's phone starts in.
SEEDED_GROUPS = (
    ("120363025246125001@g.us", "Tour Amalfi 12/06", 14),
    ("120363025246125002@g.us", "Capri in barca 15/06", 9),
    ("120363025246125003@g.us", "Guide Napoli", 5),
)
# (phone, push name): guests who wrote to every session's phone.
SEEDED_GUESTS = (("393331112222", "Giulia"), ("393334445555", "Tom"))


@dataclass
class Group:
    id: str
    subject: str
    members: list[str]
    at: int = field(default_factory=lambda: int(time.time()))


@dataclass
class DirectChat:
    id: str
    name: str | None
    at: int = field(default_factory=lambda: int(time.time()))


class Directory:
    def __init__(self, config: WahaConfig, sessions: Sessions) -> None:
        self.config = config
        self.sessions = sessions
        self._groups: dict[str, dict[str, Group]] = {}
        self._chats: dict[str, list[DirectChat]] = {}
        self._numbers = itertools.count(len(SEEDED_GROUPS) + 1)

    def add_group(self, session: str, subject: str, members: int = 3) -> str:
        """The session's phone joins a new group; its id."""
        group_id = f"1203630252461{25000 + next(self._numbers):05d}@g.us"
        self._seeded(session)[group_id] = Group(group_id, subject, _members(group_id, members))
        return group_id

    def leave_group(self, session: str, group_id: str) -> None:
        self._seeded(session).pop(group_id)

    def answer(self, session: str, what: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """GET /api/{session}/chats or /groups; WAHA needs the session WORKING for either."""
        found = self.sessions.by_name.get(session)
        if found is None:
            return 404, no_session(session)
        if found.status != "WORKING":
            return 422, not_expected(session, found.status, ["WORKING"])
        groups = list(self._seeded(session).values())
        if what == "groups":
            return 200, self._groups_answer(groups)
        chats: list[tuple[str, str | None, int]] = [(g.id, g.subject, g.at) for g in groups]
        chats += [(c.id, c.name, c.at) for c in self._chats[session]]
        chats.sort(key=lambda chat: chat[2], reverse=query.get("sortOrder", ["desc"])[0] == "desc")
        limit = int(float(query.get("limit", ["0"])[0])) or len(chats)
        return 200, [self._chat(*chat) for chat in chats[:limit]]

    def _seeded(self, session: str) -> dict[str, Group]:
        if session not in self._groups:
            now = int(time.time())
            self._groups[session] = {
                group_id: Group(group_id, subject, _members(group_id, count), now - 3600 * i)
                for i, (group_id, subject, count) in enumerate(SEEDED_GROUPS)
            }
            self._chats[session] = [
                DirectChat(f"{phone}@c.us", name, now - 600 * (i + 1))
                for i, (phone, name) in enumerate(SEEDED_GUESTS)
            ]
        return self._groups[session]

    def _groups_answer(self, groups: list[Group]) -> Any:
        """NOWEB: Baileys' metadata keyed by id; GOWS: whatsmeow's GroupInfo; WEBJS: its chats."""
        engine = self.config.engine
        if engine == "NOWEB":
            return {
                g.id: {
                    "id": g.id,
                    "subject": g.subject,
                    "creation": g.at,
                    "desc": None,
                    "participants": [
                        {"id": m.replace("@c.us", "@s.whatsapp.net"), "admin": None}
                        for m in g.members
                    ],
                }
                for g in groups
            }
        if engine == "GOWS":
            return [
                {
                    "JID": g.id,
                    "Name": g.subject,
                    "GroupCreated": g.at,
                    "Participants": [
                        {"JID": m.replace("@c.us", "@s.whatsapp.net"), "IsAdmin": False}
                        for m in g.members
                    ],
                }
                for g in groups
            ]
        return [
            self._chat(g.id, g.subject, g.at)
            | {
                "groupMetadata": {
                    "id": _serialised(g.id),
                    "subject": g.subject,
                    "participants": [
                        {"id": _serialised(m), "isAdmin": False, "isSuperAdmin": False}
                        for m in g.members
                    ],
                }
            }
            for g in groups
        ]

    def _chat(self, chat_id: str, name: str | None, at: int) -> dict[str, Any]:
        if self.config.engine == "WEBJS":
            return {
                "id": _serialised(chat_id),
                "name": name,
                "isGroup": chat_id.endswith("@g.us"),
                "timestamp": at,
                "unreadCount": 0,
            }
        return {"id": chat_id, "name": name, "conversationTimestamp": at, "unreadCount": 0}


def _members(group_id: str, count: int) -> list[str]:
    base = int(group_id.split("@")[0][-3:]) * 1000
    return [f"39333{base + i:07d}@c.us" for i in range(count)]


def _serialised(jid: str) -> dict[str, str]:
    user, _, server = jid.partition("@")
    return {"server": server, "user": user, "_serialized": jid}
