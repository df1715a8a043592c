"""The messages table: one item per message, its timeline inside it.

Keeping the timeline in the item makes every state change and its event one conditional
UpdateItem (atomic, one write), and reading a message with its timeline one GetItem.
Indexes are KEYS_ONLY, so updates that do not touch a key cost no index write.
"""

import base64
import binascii
import json
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from postino import aws
from postino.errors import PostinoError
from postino.messages.model import Event, Message, Status
from postino.store.codec import (
    UpdateBuilder,
    failed_condition_item,
    from_item,
    is_condition_failure,
    serialise,
    to_item,
)

LIST_PARTITION = "message"
# Partition of the due index for scheduled messages and waits that end at a known time.
DUE_PARTITION = "due"


def parked_partition(sender: str) -> str:
    """Partition of the due index for messages held until their sender is resumed."""
    return f"paused#{sender}"


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


def _stored(message: Message) -> dict[str, Any]:
    item: dict[str, Any] = _plain(message)
    for name in OPAQUE:
        if name in item:
            item[name] = json.dumps(item[name], ensure_ascii=False, separators=(",", ":"))
    return item


def _message(values: dict[str, Any]) -> Message:
    """A stored message; items written before OPAQUE held those as maps, which still read."""
    for name in OPAQUE:
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    return Message.model_validate(values)


class MessageStore:
    def __init__(self, table: str, retention_days: int) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86_400

    def create(self, message: Message, *, due_partition: str | None = None) -> None:
        item = _stored(message)
        item |= {
            "list_pk": LIST_PARTITION,
            "created_key": message.id,
            "expires_at": int(message.created_at + self.retention_seconds),
        }
        if due_partition is not None and message.send_at is not None:
            item |= {"due_pk": due_partition, "due_at": int(message.send_at)}
        aws.dynamodb().put_item(
            TableName=self.table,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(id)",
        )

    def get(self, message_id: str) -> Message | None:
        response = aws.dynamodb().get_item(
            TableName=self.table, Key={"id": serialise(message_id)}, ConsistentRead=True
        )
        item = response.get("Item")
        return _message(from_item(item)) if item else None

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
        """Change a message only if it is in one of `statuses` (and `equals` holds).

        `not_after_validity`: also require that the message is still valid at that time.
        Raises StaleState with the message as it is when the condition fails.
        """
        update = UpdateBuilder()
        for attribute, value in (changes or {}).items():
            update.set(attribute, _plain(value))
        update.set("updated_at", now)
        if events:
            update.append("events", _plain(events))
        conditions = [
            "attribute_exists(id)",
            update.condition_in("status", [str(s) for s in statuses]),
        ]
        conditions += [update.condition_equals(k, v) for k, v in (equals or {}).items()]
        if not_after_validity is not None:
            conditions.append(f"valid_until >= {update.value(not_after_validity)}")
        try:
            response = aws.dynamodb().update_item(
                TableName=self.table,
                Key={"id": serialise(message_id)},
                UpdateExpression=update.expression(),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if is_condition_failure(error):
                old = failed_condition_item(error)
                raise StaleState(_message(old) if old else None) from error
            raise
        return _message(from_item(response["Attributes"]))

    def page(
        self,
        *,
        status: Status | None,
        sender: str | None,
        reference: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Message], str | None]:
        """Newest first, through the most selective index; other filters apply to the page."""
        if reference is not None:
            index, key, value = "by_reference", "reference", reference
        elif sender is not None:
            index, key, value = "by_sender", "sender", sender
        elif status is not None:
            index, key, value = "by_status", "status", str(status)
        else:
            index, key, value = "by_created", "list_pk", LIST_PARTITION
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": {":v": serialise(value)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            query["ExclusiveStartKey"] = _decode_cursor(cursor)
        response = aws.dynamodb().query(**query)
        ids = [from_item(item)["id"] for item in response.get("Items", [])]
        messages = [
            m
            for m in self._get_many(ids)
            if (status is None or m.status == status)
            and (sender is None or m.sender == sender)
            and (reference is None or m.reference == reference)
        ]
        last = response.get("LastEvaluatedKey")
        return messages, (_encode_cursor(last) if last else None)

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

    def _get_many(self, ids: list[str]) -> list[Message]:
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


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(from_item(key)).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(plain, dict) or not all(isinstance(v, str) for v in plain.values()):
            raise ValueError
    except (ValueError, binascii.Error) as error:
        raise PostinoError(
            "invalid_cursor", "The cursor is not one this API gave out; start without it.", 400
        ) from error
    return to_item(plain)
