"""What one AWS request is billed, and how long a handler would wait for it on AWS.

Each request is read as moto serves it: its body, moto's answer, and for DynamoDB the items it
touches, looked up in moto before and after (`Items`). The units are what each service bills:
DynamoDB's request units (bench/dynamodb_units.py), SQS's requests per started 64 KB of
payload, EventBridge's events per started 64 KB of each entry, a Secrets Manager call.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.dynamodb_units import (
    Item,
    Table,
    index_entry,
    item_size,
    read_units_of,
    write_cost,
)

CHUNK_BYTES = 64 * 1024  # SQS and EventBridge bill each started 64 KB of a payload
EVENT_TIME_BYTES = 14  # an entry's Time counts 14 bytes, whether given or not

# The round trip a handler waits for on AWS, in ms: typical in-region figures, not measured here
# (moto answers in-process). An empty long poll waits its WaitTimeSeconds instead.
LATENCY_MS = {
    "dynamodb:GetItem": 3.0,
    "dynamodb": 6.0,
    "sqs:ReceiveMessage": 15.0,
    "sqs": 10.0,
    "secretsmanager": 20.0,
    "events": 20.0,
    "lambda": 15.0,
}
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


@dataclass(frozen=True)
class Charge:
    price: str  # a key of bench/prices.json
    units: float
    what: str  # the row of the table it adds to


@dataclass
class RequestCost:
    latency_ms: float
    charges: list[Charge] = field(default_factory=list)
    failed_condition: bool = False


class Items(Protocol):
    """DynamoDB's items as the backend holds them (moto's, in the bench)."""

    def table(self, name: str) -> Table | None: ...

    def get(self, table: str, key: Item) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Target:
    table: str
    key: Item  # an item or a key: whatever holds the table's key attributes
    requested: Item | None = None  # a put's item
    check_only: bool = False  # a transaction's ConditionCheck: units, no change


def latency_ms(name: str, body: dict[str, Any], answer: dict[str, Any]) -> float:
    service = name.split(":")[0]
    if name == "sqs:ReceiveMessage" and not answer.get("Messages"):
        return max(LATENCY_MS[name], 1000.0 * float(body.get("WaitTimeSeconds") or 0))
    return LATENCY_MS.get(name, LATENCY_MS.get(service, 10.0))


def write_targets(action: str, body: dict[str, Any]) -> list[Target]:
    """The items a DynamoDB write request writes (or checks)."""
    if action == "PutItem":
        return [Target(body["TableName"], body["Item"], body["Item"])]
    if action in ("UpdateItem", "DeleteItem"):
        return [Target(body["TableName"], body["Key"])]
    if action == "BatchWriteItem":
        return [
            Target(table, r["PutRequest"]["Item"], r["PutRequest"]["Item"])
            if "PutRequest" in r
            else Target(table, r["DeleteRequest"]["Key"])
            for table, requests in body["RequestItems"].items()
            for r in requests
        ]
    if action == "TransactWriteItems":
        targets = []
        for entry in body["TransactItems"]:
            ((kind, spec),) = entry.items()
            item = spec.get("Item")
            key = item or spec["Key"]
            targets.append(Target(spec["TableName"], key, item, kind == "ConditionCheck"))
        return targets
    return []


def dynamodb_write(
    action: str,
    targets: list[Target],
    before: list[dict[str, Any] | None],
    after: list[dict[str, Any] | None],
    items: Items,
) -> list[Charge]:
    """Each written item's units on its table, and each index entry it changed."""
    charges = []
    transactional = action == "TransactWriteItems"
    for target, old, new in zip(targets, before, after, strict=True):
        table = items.table(target.table)
        if table is None:
            continue
        if target.check_only:
            units = 2 * max(1, math.ceil(item_size(old) / 1024))
            charges.append(Charge("dynamodb_write_request_units", units, f"dynamodb:{action}"))
            continue
        cost = write_cost(table, old, new, target.requested, transactional=transactional)
        charges.append(Charge("dynamodb_write_request_units", cost.table_units,
                              f"dynamodb:{action}"))  # fmt: skip
        charges += [
            Charge(
                "dynamodb_write_request_units", w.units, f"index {table.name}.{w.index} ({action})"
            )
            for w in cost.indexes
        ]
    return charges


def dynamodb_read(action: str, body: dict[str, Any], answer: dict[str, Any], items: Items) -> float:
    """Read units: each item's size for a GetItem, the whole response's for a Query or Scan."""
    if action == "GetItem":
        found = items.get(body["TableName"], body["Key"])
        return read_units_of(item_size(found), consistent=bool(body.get("ConsistentRead")))
    if action in ("BatchGetItem", "TransactGetItems"):
        gets = (
            [(t, key, bool(spec.get("ConsistentRead"))) for t, spec in body["RequestItems"].items()
             for key in spec["Keys"]]
            if action == "BatchGetItem"
            else [(g["Get"]["TableName"], g["Get"]["Key"], True) for g in body["TransactItems"]]
        )  # fmt: skip
        return sum(
            read_units_of(item_size(items.get(t, key)), consistent=consistent,
                          transactional=action == "TransactGetItems")
            for t, key, consistent in gets
        )  # fmt: skip
    table = items.table(body["TableName"])
    size = sum(_read_size(table, body.get("IndexName"), found, items, body["TableName"])
               for found in answer.get("Items", ()))  # fmt: skip
    return read_units_of(size, consistent=bool(body.get("ConsistentRead")))


def _read_size(
    table: Table | None, index: str | None, returned: Item, items: Items, name: str
) -> int:
    """A Query's or Scan's item as read: the whole item, or its index entry (a projection
    asked for does not change what is read)."""
    if table is None or any(key not in returned for key in table.keys):
        return item_size(returned)
    whole = items.get(name, returned) or dict(returned)
    if index is None:
        return item_size(whole)
    return item_size(index_entry(table, table.index(index), whole))


def sqs_chunks(action: str, body: dict[str, Any], answer: dict[str, Any]) -> int:
    """SQS bills a request per started 64 KB of the messages it carries (at least one)."""

    def size(message: dict[str, Any]) -> int:
        attributes = message.get("MessageAttributes") or {}
        return len(str(message.get("MessageBody", message.get("Body", ""))).encode()) + sum(
            len(name.encode()) + len(json.dumps(value).encode())
            for name, value in attributes.items()
        )

    if action == "SendMessage":
        payload = size(body)
    elif action == "SendMessageBatch":
        payload = sum(size(entry) for entry in body.get("Entries", ()))
    elif action == "ReceiveMessage":
        payload = sum(size(message) for message in answer.get("Messages", ()))
    else:
        payload = 0
    return max(1, math.ceil(payload / CHUNK_BYTES))


def event_chunks(body: dict[str, Any]) -> int:
    """EventBridge bills each entry of a PutEvents, per started 64 KB of the entry."""

    def size(entry: dict[str, Any]) -> int:
        parts = [entry.get("Source", ""), entry.get("DetailType", ""), entry.get("Detail", "")]
        parts += entry.get("Resources", [])
        return EVENT_TIME_BYTES + sum(len(str(p).encode()) for p in parts)

    return sum(max(1, math.ceil(size(e) / CHUNK_BYTES)) for e in body.get("Entries", ()))


def request_cost(
    name: str,
    body: dict[str, Any],
    answer: dict[str, Any],
    items: Items,
    written: Callable[[], list[Charge]] | None = None,
) -> RequestCost:
    """The bill of one served request. `written`: a DynamoDB write's charges (before/after)."""
    service, _, action = name.partition(":")
    cost = RequestCost(latency_ms(name, body, answer))
    if service == "dynamodb":
        if action in DYNAMODB_WRITES and written is not None:
            cost.charges = written()
        else:
            units = dynamodb_read(action, body, answer, items)
            cost.charges = [Charge("dynamodb_read_request_units", units, name)]
        cost.failed_condition = "ConditionalCheckFailed" in str(answer.get("__type", ""))
    elif service == "sqs":
        cost.charges = [Charge("sqs_requests", sqs_chunks(action, body, answer), name)]
    elif service == "events" and action == "PutEvents":
        cost.charges = [Charge("eventbridge_events", event_chunks(body), name)]
    elif service == "secretsmanager":
        cost.charges = [Charge("secrets_manager_api_calls", 1, name)]
    elif service == "lambda":
        cost.charges = [Charge("lambda_requests", 1, name)]
    return cost
