"""A WAHA sender's chats and groups as WAHA lists them, cached for a few minutes.

The cache is an item of the inbox table, not the process's memory: every Lambda process reads
the same one, so a refresh made through one is what all of them answer with afterwards.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from postino.clock import iso
from postino.model import Model
from postino.providers.waha import WahaClient
from postino.providers.waha_chats import Chat, Group, chats_of, groups_of
from postino.senders.model import WahaSender
from postino.senders.sessions import waha_errors, waha_sender
from postino.services import Services

CACHE_SECONDS = 300
# The latest chats only: a phone can have thousands, and one DynamoDB item holds 400 KB.
CHATS_LIMIT = 200
# Past its use, DynamoDB's TTL removes the item (in its own time, hence the margin).
KEEP_SECONDS = 86_400
LACKS = "chats or groups to list"


def waha_list_key(kind: str, sender: str) -> str:
    return f"waha_{kind}#{sender}"


class ChatList(Model):
    sender: str
    fetched_at: str = Field(description="When WAHA was read (the list is cached 5 minutes)")
    items: list[Chat]


class GroupList(Model):
    sender: str
    fetched_at: str = Field(description="When WAHA was read (the list is cached 5 minutes)")
    items: list[Group]


@dataclass(frozen=True)
class _Listing:
    items: list[dict[str, Any]]
    fetched_at: float
    fresh: bool


_FETCH: dict[str, Callable[[WahaClient], list[Chat] | list[Group]]] = {
    "chats": lambda client: chats_of(client.chats(CHATS_LIMIT)),
    "groups": lambda client: groups_of(client.groups()),
}


def list_chats(services: Services, name: str, *, refresh: bool) -> ChatList:
    sender = waha_sender(services, name, lacks=LACKS)
    listing = _listing(services, sender, "chats", refresh=refresh)
    return ChatList(
        sender=sender.name,
        fetched_at=iso(listing.fetched_at),
        items=[Chat.model_validate(item) for item in listing.items],
    )


def list_groups(services: Services, name: str, *, refresh: bool) -> GroupList:
    sender = waha_sender(services, name, lacks=LACKS)
    listing = _listing(services, sender, "groups", refresh=refresh)
    return GroupList(
        sender=sender.name,
        fetched_at=iso(listing.fetched_at),
        items=[Group.model_validate(item) for item in listing.items],
    )


def in_group(services: Services, sender: WahaSender, group_id: str) -> bool:
    """Is the sender's phone in the group? The cached list first; on a miss WAHA is read once
    more, since the group may be newer than the list."""
    listing = _listing(services, sender, "groups", refresh=False)
    if any(item["id"] == group_id for item in listing.items):
        return True
    if not listing.fresh:
        listing = _listing(services, sender, "groups", refresh=True)
    return any(item["id"] == group_id for item in listing.items)


def _listing(services: Services, sender: WahaSender, kind: str, *, refresh: bool) -> _Listing:
    key = waha_list_key(kind, sender.name)
    # A sender PUT with another WAHA or session makes what was cached someone else's list.
    source = f"{sender.base_url}#{sender.session}"
    now = services.clock.now()
    cached = None if refresh else services.inbox.get(key)
    if (
        cached is not None
        and cached.get("source") == source
        and 0 <= now - float(cached["fetched_at"]) < CACHE_SECONDS
    ):
        return _Listing(list(cached.get("items", [])), float(cached["fetched_at"]), fresh=False)
    with waha_errors(sender):
        found = _FETCH[kind](services.provider.waha.client(sender))
    items = [entry.model_dump(exclude_none=True) for entry in found]
    services.inbox.put(
        key,
        {
            "items": items,
            "fetched_at": now,
            "source": source,
            "expires_at": int(now + KEEP_SECONDS),
        },
    )
    return _Listing(items, now, fresh=True)
