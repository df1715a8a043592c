"""DynamoDB's tables in simulated time: messages, the rate window (and the drain leases in it),
senders.

The stores subclass the real ones and replace only their requests, so what sits above them runs
as deployed: the drain's conditional writes on the real Message model, and the rate window's
planner and conflict handling (each drainer has a RateWindowStore of its own over one shared
table, as each Lambda process has).
"""

import threading
from dataclasses import dataclass
from typing import Any, Unpack

from botocore.exceptions import ClientError

from bench.virtual_aws.clock import READ, WRITE, ClockLock, VirtualAws
from postino.drain.rate_window import prune
from postino.messages.model import Event, Message, Status
from postino.senders.model import Limit, Sender
from postino.settings import Settings
from postino.store.codec import to_item
from postino.store.lease import DrainLease, lease_key
from postino.store.messages import (
    Change,
    MessageStore,
    StaleState,
    list_keys,
)
from postino.store.rate_window import RateWindowStore
from postino.store.senders import SenderStore


def condition_failed(operation: str, item: dict[str, Any] | None) -> ClientError:
    """DynamoDB's answer to a failed condition, with the item as ReturnValuesOnConditionCheckFailure
    gives it (the form store/codec.py reads)."""
    response: Any = {
        "Error": {"Code": "ConditionalCheckFailedException", "Message": "condition failed"}
    }
    if item is not None:
        response["Item"] = to_item(item)
    return ClientError(response, operation)


@dataclass
class _Row:
    message: Message
    # What the table holds beside the model: list_pk, created_key,
    # due_pk, due_at, expires_at.
    attributes: dict[str, Any]


# The messages table's indexes, by their partition key (created_key, their sort key, never changes).
_INDEXES = {
    "by_reference": "reference",
    "by_created": "list_pk",
    "by_provider_message_id": "provider_message_id",
    "by_due": "due_pk",
    "by_recipient": "recipient_key",
    "by_campaign": "campaign_key",
}


def _value(row: _Row, name: str) -> Any:
    return getattr(row.message, name) if name in Message.model_fields else row.attributes.get(name)


class VirtualMessages(MessageStore):
    """The messages table. Rows are replaced on each write, never changed in place."""

    def __init__(self, aws: VirtualAws, retention_days: int = 90) -> None:
        super().__init__("MessagesTable", retention_days)
        self.aws = aws
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()

    def create(self, message: Message, *, due_partition: str | None = None) -> None:
        attributes: dict[str, Any] = {
            **list_keys(message.id),
            "created_key": message.id,
            "expires_at": int(message.created_at + self.retention_seconds),
        }
        if due_partition is not None and message.send_at is not None:
            attributes |= {"due_pk": due_partition, "due_at": int(message.send_at)}
        with self.aws.request("dynamodb:PutItem", WRITE), self._lock:
            if message.id in self._rows:
                raise condition_failed("PutItem", None)
            self._write(None, _Row(message, attributes))

    def get(self, message_id: str) -> Message | None:
        with self.aws.request("dynamodb:GetItem", READ), self._lock:
            row = self._rows.get(message_id)
        return row.message if row else None

    def update(
        self,
        message_id: str,
        *,
        statuses: tuple[Status, ...],
        now: float,
        changes: dict[str, Any] | None = None,
        events: list[Event] | None = None,
        equals: dict[str, Any] | None = None,
        not_after_validity: float | None = None,
    ) -> Message:
        changes = changes or {}
        with self.aws.request("dynamodb:UpdateItem", WRITE), self._lock:
            row = self._rows.get(message_id)
            if (
                row is None
                or row.message.status not in statuses
                or any(_value(row, k) != v for k, v in (equals or {}).items())
                or (not_after_validity is not None and row.message.valid_until < not_after_validity)
            ):
                self.aws.refuse("dynamodb:UpdateItem MessagesTable")
                raise StaleState(row.message if row else None)
            fields = {k: v for k, v in changes.items() if k in Message.model_fields}
            message = row.message.model_copy(
                update={
                    **fields,
                    "updated_at": now,
                    "events": [*row.message.events, *(events or [])],
                }
            )
            attributes = {**row.attributes, **{k: v for k, v in changes.items() if k not in fields}}
            self._write(row, _Row(message, {k: v for k, v in attributes.items() if v is not None}))
        return message

    def update_without_reading(
        self, message_id: str, *, statuses: tuple[Status, ...], now: float, **change: Unpack[Change]
    ) -> None:
        self.update(message_id, statuses=statuses, now=now, **change)

    def _write(self, old: _Row | None, new: _Row) -> None:
        """Store a row; count its item's write and each index partition it leaves or joins."""
        self._rows[new.message.id] = new
        keys = [f"{self.table} {new.message.id}"]
        for index, name in _INDEXES.items():
            before, after = (_value(old, name) if old else None), _value(new, name)
            if before != after:
                keys += [f"{self.table}.{index} {v}" for v in (before, after) if v is not None]
        self.aws.wrote(*keys)


class RateWindowTable:
    """The rate window table's items, under every drainer's RateWindowStore."""

    def __init__(self, aws: VirtualAws) -> None:
        self.aws = aws
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, version: int, logs: dict[str, list[float]]) -> dict[str, Any] | None:
        """PutItem on `v = version` (on no item at all for 0); the item as it is if that fails."""
        with self.aws.request("dynamodb:PutItem", WRITE), self._lock:
            current = self._items.get(key)
            unchanged = current["v"] == version if current is not None else version == 0
            if unchanged:
                # Milliseconds as integers, as the real store writes them.
                stored = {k: [round(e * 1000) for e in log] for k, log in logs.items()}
                self._items[key] = {"key": key, "v": version + 1, "logs": stored}
                self.aws.wrote(f"RateWindowTable {key}")
                return None
            self.aws.refuse("dynamodb:PutItem RateWindowTable")
            return current

    def get(self, key: str) -> dict[str, Any] | None:
        with self.aws.request("dynamodb:GetItem", READ), self._lock:
            return self._items.get(key)


class VirtualRateWindows(RateWindowStore):
    """The real RateWindowStore (its cache, its planner calls, its conflict handling) on the
    virtual table, with clock-aware key locks: reserve holds one across its write."""

    def __init__(self, table: RateWindowTable) -> None:
        super().__init__("RateWindowTable")
        self.items = table
        self._turns: dict[str, ClockLock] = {}

    def _key_lock(self, key: str) -> ClockLock:  # reserve only enters it
        with self._lock:
            turn = self._turns.get(key)
            if turn is None:
                turn = self._turns[key] = ClockLock(self.items.aws.clock)
            return turn

    def _write(
        self, key: str, version: int, logs: dict[str, list[float]], limits: list[Limit], now: float
    ) -> None:
        current = self.items.put(key, version, logs)
        if current is not None:
            raise condition_failed("PutItem", current)

    def read(self, key: str, limits: list[Limit], now: float) -> dict[str, list[float]]:
        item = self.items.get(key) or {}
        logs = {k: [e / 1000 for e in log] for k, log in item.get("logs", {}).items()}
        return prune(logs, limits, now)


class VirtualLease(DrainLease):
    """The drain leases, items of the rate window table."""

    def __init__(self, aws: VirtualAws) -> None:
        super().__init__("RateWindowTable")
        self.aws = aws
        self._held: dict[str, tuple[str, float]] = {}  # by key: holder, expires_at
        self._lock = threading.Lock()

    def acquire(self, scope: str, holder: str, now: float, seconds: float) -> bool:
        key = lease_key(scope)
        with self.aws.request("dynamodb:PutItem", WRITE), self._lock:
            held = self._held.get(key)
            if held is not None and held[1] >= int(now) and held[0] != holder:
                return False
            self._held[key] = (holder, int(now + seconds) + 1)
            self.aws.wrote(f"{self.table} {key}")
            return True

    def release(self, scope: str, holder: str) -> None:
        key = lease_key(scope)
        with self.aws.request("dynamodb:DeleteItem", WRITE), self._lock:
            held = self._held.get(key)
            if held is not None and held[0] == holder:
                del self._held[key]
                self.aws.wrote(f"{self.table} {key}")

    def is_held(self, scope: str, now: float) -> bool:
        with self.aws.request("dynamodb:GetItem", READ), self._lock:
            held = self._held.get(lease_key(scope))
            return held is not None and held[1] > now


class VirtualSenders(SenderStore):
    """The senders table. A pause is written over whatever is there (no WAHA session race)."""

    def __init__(self, aws: VirtualAws, senders: list[Sender]) -> None:
        super().__init__(Settings())
        self.aws = aws
        self._senders = {s.name: s for s in senders}
        self._lock = threading.Lock()

    def get(self, name: str) -> Sender | None:
        with self.aws.request("dynamodb:GetItem", READ), self._lock:
            return self._senders.get(name)

    def all(self) -> list[Sender]:
        with self.aws.request("dynamodb:Scan", READ), self._lock:
            return sorted(self._senders.values(), key=lambda s: s.name)

    def put(self, sender: Sender) -> None:
        with self.aws.request("dynamodb:PutItem", WRITE), self._lock:
            self._senders[sender.name] = sender
            self.aws.wrote(f"{self.table} {sender.name}")

    def set_pause(
        self,
        name: str,
        *,
        paused: bool,
        reason: str | None,
        until: float | None,
        now: float,
        code: str | None = None,
        unless_working_since: float | None = None,
        updated_by: str | None = None,
    ) -> Sender:
        sender = self.get(name)
        if sender is None:
            raise KeyError(name)
        pause = {"paused": paused, "paused_reason": reason, "paused_code": code}
        updated = sender.model_copy(update={**pause, "paused_until": until, "updated_at": now})
        self.put(updated)
        return updated
