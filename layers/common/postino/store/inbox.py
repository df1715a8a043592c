"""The inbox table: what Meta tells us (contacts, inbound messages, statuses we cannot place),
the reservation requests made from them, and the user's routing (codes, operators, bindings).

One table, one string key `pk` whose prefix says the kind. Reservations are also indexed by
status (`list_pk` = "reservations#<status>", `created_key`) for the API's listing, and the
routing by kind (`list_pk` = "routing#<kind>", `created_key` its id).
"""

from typing import Any

from botocore.exceptions import ClientError

from postino import aws
from postino.store.codec import (
    UpdateBuilder,
    failed_condition_item,
    from_item,
    is_condition_failure,
    serialise,
    to_item,
)
from postino.store.own_writes import write_once


class Conflict(Exception):
    """A conditional write found the item in another state; `current` is that state."""

    def __init__(self, current: dict[str, Any] | None) -> None:
        super().__init__("the item changed")
        self.current = current


def contact_key(sender: str, wa_id: str) -> str:
    return f"contact#{sender}#{wa_id}"


def inbound_key(wamid: str) -> str:
    return f"inbound#{wamid}"


def reservation_key(reservation_id: str) -> str:
    return f"reservation#{reservation_id}"


def reservation_list_key(status: str) -> str:
    return f"reservations#{status}"


def code_key(code: str) -> str:
    return f"code#{code}"


def operator_key(operator_id: str) -> str:
    return f"operator#{operator_id}"


def binding_key(experience_id: str) -> str:
    return f"binding#{experience_id}"


def routing_list_key(kind: str) -> str:
    """Where codes, operators and bindings are listed: kind is code, operator or binding."""
    return f"routing#{kind}"


def templates_key(waba_id: str) -> str:
    return f"templates#{waba_id}"


def orphan_status_key(wamid: str, status: str) -> str:
    return f"orphan#{wamid}#{status}"


class InboxStore:
    def __init__(self, table: str, retention_days: int) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86_400

    # ---- plain items -------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        response = aws.dynamodb().get_item(
            TableName=self.table, Key={"pk": serialise(key)}, ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else None

    def put(self, key: str, values: dict[str, Any]) -> None:
        aws.dynamodb().put_item(TableName=self.table, Item=to_item({"pk": key, **values}))

    def delete(self, key: str) -> dict[str, Any] | None:
        """Remove the item; what it was, or None when there was none."""
        response = aws.dynamodb().delete_item(
            TableName=self.table, Key={"pk": serialise(key)}, ReturnValues="ALL_OLD"
        )
        return from_item(response["Attributes"]) if "Attributes" in response else None

    def put_new(self, key: str, values: dict[str, Any], *, now: float | None = None) -> bool:
        """Write the item only if it does not exist yet: True if this call created it."""
        item = {"pk": key, **values}
        if now is not None:
            item["expires_at"] = int(now + self.retention_seconds)
        try:
            write_once(
                aws.dynamodb().put_item,
                {
                    "TableName": self.table,
                    "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def update(
        self,
        key: str,
        changes: dict[str, Any],
        *,
        equals: dict[str, Any] | None = None,
        must_exist: bool = True,
        newer: tuple[str, float] | None = None,
    ) -> dict[str, Any]:
        """Set `changes` where `equals` holds (and `newer`'s attribute is absent or older).

        Raises Conflict with the item as it is when the condition fails.
        """
        update = UpdateBuilder()
        for attribute, value in changes.items():
            update.set(attribute, value)
        conditions = ["attribute_exists(pk)"] if must_exist else []
        conditions += [update.condition_equals(k, v) for k, v in (equals or {}).items()]
        if newer is not None:
            attribute, value = newer
            update.set(attribute, value)
            name = f"#{attribute}"
            conditions.append(f"(attribute_not_exists({name}) OR {name} < {update.value(value)})")
        condition = {"ConditionExpression": " AND ".join(conditions)} if conditions else {}
        try:
            item = write_once(
                aws.dynamodb().update_item,
                {
                    "TableName": self.table,
                    "Key": {"pk": serialise(key)},
                    "UpdateExpression": update.expression(),
                    "ExpressionAttributeNames": update.names,
                    "ExpressionAttributeValues": update.values,
                    "ReturnValues": "ALL_NEW",
                    **condition,
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise Conflict(failed_condition_item(error)) from error
            raise
        return item

    # ---- contacts ------------------------------------------------------------------------------

    def touch_contact(
        self, sender: str, wa_id: str, *, inbound_at: float, profile: dict[str, Any]
    ) -> dict[str, Any]:
        """Record an inbound message's contact; `last_inbound_at` only ever moves forward.

        One write, or two when an older message arrives after a newer one.
        """
        key = contact_key(sender, wa_id)
        changes = {"sender": sender, "wa_id": wa_id, **profile}
        try:
            return self.update(
                key, changes, must_exist=False, newer=("last_inbound_at", inbound_at)
            )
        except Conflict:
            return self.update(key, changes, must_exist=False)

    # ---- routing: codes, operators, bindings -------------------------------------------------

    def put_listed(self, key: str, kind: str, listed_as: str, values: dict[str, Any]) -> None:
        """The item, listed under its kind in the by_list index, sorted by `listed_as`."""
        self.put(key, {**values, "list_pk": routing_list_key(kind), "created_key": listed_as})

    def listed(self, kind: str) -> list[dict[str, Any]]:
        """Every item of a kind, in order of `listed_as` (a user's routing: tens, not millions)."""
        paginator = aws.dynamodb().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            IndexName="by_list",
            KeyConditionExpression="list_pk = :pk",
            ExpressionAttributeValues={":pk": serialise(routing_list_key(kind))},
        )
        return [from_item(item) for page in pages for item in page.get("Items", [])]

    # ---- reservations ------------------------------------------------------------------------

    def reservations(self, status: str, limit: int) -> list[dict[str, Any]]:
        response = aws.dynamodb().query(
            TableName=self.table,
            IndexName="by_list",
            KeyConditionExpression="list_pk = :pk",
            ExpressionAttributeValues={":pk": serialise(reservation_list_key(status))},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [from_item(item) for item in response.get("Items", [])]
