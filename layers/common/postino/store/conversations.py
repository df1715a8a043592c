"""Conversations in the inbox table: one item per (sender, contact), and each inbound message
indexed under its conversation.

Both go on the table's by_list index (`list_pk`, `created_key`):
- a conversation under "conversations#<sender>", sorted by its newest message stored here
  (inbound, or typed on a WAHA phone; "<ms>#<sender>#<contact>": unique, so a cursor is one
  key). A send through the API does not move it: sends stay free of conversation writes, and
  the list shows the newest of them as `last_message` when it is newer;
- an inbound message under "inbound#<sender>#<contact>", sorted "<ms>#<wamid>".
"""

import base64
import binascii
import json
from typing import Any

from botocore.exceptions import ClientError

from postino import aws
from postino.errors import PostinoError
from postino.store.codec import from_item, is_condition_failure, serialise
from postino.store.own_writes import write_once


def conversation_key(sender: str, contact: str) -> str:
    return f"conversation#{sender}#{contact}"


def conversations_partition(sender: str) -> str:
    return f"conversations#{sender}"


def inbound_partition(sender: str, contact: str) -> str:
    return f"inbound#{sender}#{contact}"


def time_key(at: float, *parts: str) -> str:
    return "#".join([f"{int(at * 1000):013d}", *parts])


def key_time(key: str) -> float:
    """The time a time_key starts with."""
    return int(key.split("#", 1)[0]) / 1000


class ConversationStore:
    def __init__(self, table: str) -> None:
        self.table = table

    def touch(
        self,
        sender: str,
        contact: str,
        *,
        at: float,
        last_message: dict[str, Any],
        name: str | None,
        new: bool,
    ) -> None:
        """A message stored in the conversation (inbound, or typed on a WAHA phone): the
        newest moves the conversation up and is its last message; an inbound one also sets
        `last_inbound_at` (the service window).

        `new`: an inbound message stored for the first time, so it counts as unread. At most
        once: a crash between storing the message and this write leaves it uncounted (the
        retry finds it stored), which a reader's next visit corrects.
        """
        inbound = last_message.get("direction", "in") == "in"
        names = {
            "#sender": "sender",
            "#contact": "contact",
            "#list": "list_pk",
            "#unread": "unread",
        }
        values: dict[str, Any] = {
            ":sender": serialise(sender),
            ":contact": serialise(contact),
            ":list": serialise(conversations_partition(sender)),
            ":new": serialise(1 if new else 0),
        }
        sets = ["#sender = :sender", "#contact = :contact", "#list = :list"]
        if name:
            sets.append("#name = :name")
            names["#name"] = "name"
            values[":name"] = serialise(name)
        newest = ["#last = :last", "#activity = :at", "#created = :created"]
        newest_names = {"#last": "last_message", "#activity": "last_activity_at"}
        newest_names |= {"#created": "created_key"}
        newest_values = {
            ":last": serialise(last_message),
            ":at": serialise(at),
            ":created": serialise(time_key(at, sender, contact)),
        }
        if inbound:
            newest.append("#inbound = :at")
            newest_names["#inbound"] = "last_inbound_at"
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": serialise(conversation_key(sender, contact))},
        }
        # Each write at most once: a retry that found its own ADD applied would count twice.
        try:
            write_once(
                aws.dynamodb().update_item,
                request
                | {
                    "UpdateExpression": f"SET {', '.join(sets + newest)} ADD #unread :new",
                    "ConditionExpression": "attribute_not_exists(#activity) OR #activity <= :at",
                    "ExpressionAttributeNames": names | newest_names,
                    "ExpressionAttributeValues": values | newest_values,
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            # An older message arriving after a newer one: counted, but it moves nothing.
            write_once(
                aws.dynamodb().update_item,
                request
                | {
                    "UpdateExpression": f"SET {', '.join(sets)} ADD #unread :new",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                },
            )

    def get(self, sender: str, contact: str) -> dict[str, Any] | None:
        response = aws.dynamodb().get_item(
            TableName=self.table,
            Key={"pk": serialise(conversation_key(sender, contact))},
            ConsistentRead=True,
        )
        return from_item(response["Item"]) if "Item" in response else None

    def mark_read(self, sender: str, contact: str, now: float) -> dict[str, Any] | None:
        """unread → 0; the conversation as it is now, or None when there is none."""
        try:
            response = aws.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": serialise(conversation_key(sender, contact))},
                UpdateExpression="SET #unread = :zero, #read = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#unread": "unread", "#read": "read_at"},
                ExpressionAttributeValues={":zero": serialise(0), ":now": serialise(now)},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        return from_item(response["Attributes"])

    def newest(
        self, partitions: list[str], limit: int, before: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Items of these by_list partitions, newest first, below `before`: merged, `limit` of
        them, and whether any partition may hold more."""
        items: list[dict[str, Any]] = []
        more = False
        for partition in partitions:
            condition, values = "list_pk = :p", {":p": serialise(partition)}
            if before is not None:
                condition += " AND created_key < :b"
                values[":b"] = serialise(before)
            response = aws.dynamodb().query(
                TableName=self.table,
                IndexName="by_list",
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                Limit=limit,
            )
            found = [from_item(item) for item in response.get("Items", [])]
            more = more or "LastEvaluatedKey" in response
            items += found
        items.sort(key=lambda item: str(item["created_key"]), reverse=True)
        return items[:limit], more or len(items) > limit


def encode_cursor(kind: str, before: str) -> str:
    plain = {"kind": kind, "before": before}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def decode_cursor(kind: str, cursor: str | None) -> str | None:
    """The key a page of `kind` ended at; invalid_cursor (400) for any other cursor."""
    if cursor is None:
        return None
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if (
            not isinstance(plain, dict)
            or plain.get("kind") != kind
            or set(plain)
            != {
                "kind",
                "before",
            }
        ):
            raise ValueError
        before = plain["before"]
        if not isinstance(before, str) or not before[:13].isdigit():
            raise ValueError
    except (ValueError, binascii.Error, RecursionError) as error:
        raise PostinoError(
            "invalid_cursor", "The cursor is not one this list gave out; start without it.", 400
        ) from error
    return before


def recipient_ids(table: str, recipient: str, *, before: str | None, limit: int) -> list[str]:
    """Ids of the messages table's messages to `recipient`, newest first, created before the
    id `before` (ids start with their creation's milliseconds)."""
    condition, values = "recipient_key = :r", {":r": serialise(recipient)}
    if before is not None:
        condition += " AND created_key < :b"
        values[":b"] = serialise(before)
    response = aws.dynamodb().query(
        TableName=table,
        IndexName="by_recipient",
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        ScanIndexForward=False,
        Limit=limit,
    )
    return [str(from_item(item)["created_key"]) for item in response.get("Items", [])]
