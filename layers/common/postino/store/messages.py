"""The messages table: one item per message, its timeline inside it.

Keeping the timeline in the item makes every state change and its event one conditional
UpdateItem (atomic, one write), and reading a message with its timeline one GetItem.
Indexes are KEYS_ONLY, so updates that do not touch a key cost no index write.

The list index (by_created) is bucketed: its partition key carries a bucket derived from the
message id, so that no index partition takes every write; a listing reads the buckets and merges
them newest first. There is no index on the status (it changes four times in a message's life,
and each change cost that index a delete and a put) nor on the sender (a write a message for a
filter the dashboard uses now and then): both are filters over the newest messages.
"""

import json
import zlib
from contextvars import copy_context
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack

from botocore.exceptions import ClientError
from pydantic import BaseModel

from postino import aws
from postino.clock import iso
from postino.messages.model import Event, Message, Status
from postino.store.codec import (
    UpdateBuilder,
    failed_condition_item,
    from_item,
    is_condition_failure,
    serialise,
    to_item,
)
from postino.store.message_pages import (
    BUCKETS,
    Bucket,
    decode_cursor,
    encode_cursor,
    query_pool,
)
from postino.store.own_writes import write_once

LIST_PARTITION = "message"
# A filtered listing looks at no more messages than this a page (see MessageStore.page).
FILTERED_READ_BUDGET = 1000
# Partition of the due index for scheduled messages and waits that end at a known time.
DUE_PARTITION = "due"


def parked_partition(sender: str) -> str:
    """Partition of the due index for messages held until their sender is resumed."""
    return f"paused#{sender}"


def bucket(message_id: str) -> int:
    """The message's bucket in the list indexes: stable across processes (crc32, not hash())."""
    return zlib.crc32(message_id.encode()) % BUCKETS


def in_bucket(value: str, number: int) -> str:
    """A list index's partition key: the plain value and a bucket."""
    return f"{value}#{number}"


def list_keys(message_id: str) -> dict[str, str]:
    """The list index's partition key: `list_pk` (by_created), in the id's bucket."""
    return {"list_pk": in_bucket(LIST_PARTITION, bucket(message_id))}


class StaleState(Exception):
    """A conditional write found the message in another state; `current` is how it is now."""

    def __init__(self, current: Message | None) -> None:
        super().__init__("message not in the expected state")
        self.current = current


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# What the user wrote, kept as JSON text: DynamoDB refuses some of what JSON allows (numbers
# past ±1e125 or with more than 38 digits, empty map keys, nulls in maps), and these are opaque.
OPAQUE = ("content", "metadata")


# Flags kept only when set: the model reads them back as False.
FLAGS = ("at_least_once", "forced")


def stored_event(event: Event) -> dict[str, Any]:
    """An event as the item keeps it: its time in epoch milliseconds, no empty detail or key id.
    DynamoDB bills every write of a message by the whole item's size, a unit a started KB, and
    the timeline is most of it (an ISO time is 24 bytes, the number 8)."""
    kept: dict[str, Any] = event.model_dump(mode="json", exclude_defaults=True)
    kept["at"] = round(datetime.fromisoformat(event.at).timestamp() * 1000)
    return kept


def _stored(message: Message) -> dict[str, Any]:
    item: dict[str, Any] = _plain(message)
    # A string set, written only by add_response (ADD): as an empty list it would refuse ADD.
    item.pop("response_ids", None)
    for name in OPAQUE:
        if name in item:
            item[name] = json.dumps(item[name], ensure_ascii=False, separators=(",", ":"))
    for name in FLAGS:
        if item.get(name) is False:
            del item[name]
    item["events"] = [stored_event(e) for e in message.events]
    return item


def _message(values: dict[str, Any]) -> Message:
    """A stored message; items written before OPAQUE held those as maps, and their events'
    times as ISO text, which still read."""
    for name in OPAQUE:
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    for kept in values.get("events") or []:
        if not isinstance(kept.get("at"), str):
            kept["at"] = iso(int(kept["at"]) / 1000)
    return Message.model_validate(values)


class Change(TypedDict, total=False):
    """What a conditional update sets and what else it requires (see MessageStore.update)."""

    changes: dict[str, Any] | None
    events: list[Event] | None
    equals: dict[str, Any] | None
    not_after_validity: float | None


class MessageStore:
    def __init__(self, table: str, retention_days: int) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86_400

    def create(self, message: Message, *, due_partition: str | None = None) -> None:
        item = _stored(message)
        item |= list_keys(message.id)
        item["recipient_key"] = message.to
        if message.campaign is not None:
            item["campaign_key"] = in_bucket(message.campaign, bucket(message.id))
        item |= {
            # The list indexes' sort key; always the id, which a cursor relies on.
            "created_key": message.id,
            "expires_at": int(message.created_at + self.retention_seconds),
        }
        if due_partition is not None and message.send_at is not None:
            item |= {"due_pk": due_partition, "due_at": int(message.send_at)}
        write_once(
            aws.dynamodb().put_item,
            {
                "TableName": self.table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(id)",
            },
        )

    def get(self, message_id: str) -> Message | None:
        response = aws.dynamodb().get_item(
            TableName=self.table, Key={"id": serialise(message_id)}, ConsistentRead=True
        )
        item = response.get("Item")
        return _message(from_item(item)) if item else None

    def update(
        self, message_id: str, *, statuses: tuple[Status, ...], now: float, **change: Unpack[Change]
    ) -> Message:
        """Change a message only if it is in one of `statuses` (and `equals` holds), and read
        it back as it is now.

        `not_after_validity`: also require that the message is still valid at that time.
        Raises StaleState with the message as it is when the condition fails.
        """
        item = self._update(message_id, statuses, now, change, returning="ALL_NEW")
        return _message(item)

    def update_without_reading(
        self, message_id: str, *, statuses: tuple[Status, ...], now: float, **change: Unpack[Change]
    ) -> None:
        """As update, for a caller with no use for the new item: DynamoDB does not send it
        and nothing parses it (the drain's record of a send, its hottest write)."""
        self._update(message_id, statuses, now, change, returning="NONE")

    def _update(
        self,
        message_id: str,
        statuses: tuple[Status, ...],
        now: float,
        change: Change,
        *,
        returning: Literal["ALL_NEW", "NONE"],
    ) -> dict[str, Any]:
        changes = change.get("changes") or {}
        update = UpdateBuilder()
        for attribute, value in changes.items():
            update.set(attribute, _plain(value))
        update.set("updated_at", now)
        update.add("revision", 1)
        if events := change.get("events"):
            update.append("events", [stored_event(e) for e in events])
        conditions = [
            "attribute_exists(id)",
            update.condition_in("status", [str(s) for s in statuses]),
        ]
        equals = change.get("equals") or {}
        conditions += [update.condition_equals(k, v) for k, v in equals.items()]
        if (not_after_validity := change.get("not_after_validity")) is not None:
            conditions.append(f"valid_until >= {update.value(not_after_validity)}")
        try:
            item = write_once(
                aws.dynamodb().update_item,
                {
                    "TableName": self.table,
                    "Key": {"id": serialise(message_id)},
                    "UpdateExpression": update.expression(),
                    "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeNames": update.names,
                    "ExpressionAttributeValues": update.values,
                    "ReturnValues": returning,
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                old = failed_condition_item(error)
                raise StaleState(_message(old) if old else None) from error
            raise
        return item

    def page(
        self,
        *,
        status: Status | None,
        sender: str | None,
        reference: str | None,
        limit: int,
        cursor: str | None,
        to: str | None = None,
    ) -> tuple[list[Message], str | None]:
        """Newest first, through the most selective index; other filters apply to the page.

        A bucketed index is read as BUCKETS queries (each Limit=limit, newest first, in a small
        thread pool: latency of one query, not sixteen) merged by created_key: the first `limit`
        of the merge are the newest `limit` of the index. The cursor holds the created_key of
        the last message returned and the buckets known to be exhausted. That one key is each
        bucket's place: the merge took newest first, so what any bucket has left is older than
        it, and the next page asks every open bucket for `created_key < key` (a message created
        meanwhile is newer, so it cannot turn up out of order on a later page).
        """
        if reference is not None:
            index, key, partitions = "by_reference", "reference", [reference]
        elif to is not None:
            index, key, partitions = "by_recipient", "recipient_key", [to]
        else:
            # No status or sender index: a status changes four times in a message's life, and
            # an index on it paid a delete and a put each time; one on the sender cost a write a
            # message for a filter the dashboard uses now and then. Each is a filter over the
            # newest messages (within FILTERED_READ_BUDGET a page).
            index, key, partitions = "by_created", "list_pk", _bucketed(LIST_PARTITION)
        before, done = decode_cursor(cursor, len(partitions)) if cursor else (None, set())
        base: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "ExpressionAttributeNames": {"#k": key},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        buckets = [Bucket(i, base, partition, before) for i, partition in enumerate(partitions)]
        open_ = [b for b in buckets if b.number not in done]
        if len(open_) > 1:
            pool = query_pool()
            for future in [pool.submit(copy_context().run, b.fetch) for b in open_]:
                future.result()

        def wanted(m: Message) -> bool:
            return (
                (status is None or m.status == status)
                and (sender is None or m.sender == sender)
                and (reference is None or m.reference == reference)
                and (to is None or m.to == to)
            )

        # A filter the index does not carry reads on, a round at a time, until the page is full
        # or it has looked at FILTERED_READ_BUDGET messages; each round takes only what the page
        # still lacks, so the cursor (the last id looked at) never skips a match.
        messages: list[Message] = []
        last: str | None = None
        examined = 0
        while len(messages) < limit and examined < max(limit, FILTERED_READ_BUDGET):
            ids: list[str] = []
            while len(ids) < limit - len(messages):
                heads = [b for b in open_ if b.head() is not None]
                if not heads:
                    break
                ids.append(max(heads, key=lambda b: b.head() or "").take())
            if not ids:
                break
            examined += len(ids)
            last = ids[-1]
            messages += [m for m in self.get_many(ids) if wanted(m)]
        done |= {b.number for b in open_ if b.exhausted()}
        more = last is not None and len(done) < len(partitions)
        return messages, (encode_cursor(last, done) if more and last else None)

    def due(self, partition: str, until: float | None, limit: int = 100) -> list[str]:
        """Ids in a due partition whose time has come by `until` (None: all of them)."""
        condition, values = "due_pk = :p", {":p": serialise(partition)}
        if until is not None:
            condition += " AND due_at <= :t"
            values[":t"] = serialise(int(until))
        response = aws.dynamodb().query(
            TableName=self.table,
            IndexName="by_due",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            Limit=limit,
        )
        return [from_item(item)["id"] for item in response.get("Items", [])]

    def find_by_wamid(self, wamid: str) -> str | None:
        """Our id of the message Meta knows as `wamid` (the index is eventually consistent)."""
        response = aws.dynamodb().query(
            TableName=self.table,
            IndexName="by_provider_message_id",
            KeyConditionExpression="provider_message_id = :w",
            ExpressionAttributeValues={":w": serialise(wamid)},
            Limit=1,
        )
        items = response.get("Items", [])
        return str(from_item(items[0])["id"]) if items else None

    def get_many(self, ids: list[str]) -> list[Message]:
        """The messages of these ids that exist, in that order (consistent reads)."""
        if not ids:
            return []
        found: dict[str, Message] = {}
        keys: list[dict[str, Any]] = [{"id": serialise(i)} for i in ids]
        while keys:
            response = aws.dynamodb().batch_get_item(
                RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
            )
            for item in response.get("Responses", {}).get(self.table, []):
                message = _message(from_item(item))
                found[message.id] = message
            unprocessed: Any = response.get("UnprocessedKeys", {})
            keys = unprocessed.get(self.table, {}).get("Keys", [])
        return [found[i] for i in ids if i in found]


def _bucketed(value: str) -> list[str]:
    return [in_bucket(value, b) for b in range(BUCKETS)]
