"""Reading a bucketed list index of the messages table (postino/store/messages.py, page): each
bucket a partition read newest first, and the cursor that says where a page ended."""

import base64
import binascii
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from postino import aws
from postino.errors import PostinoError
from postino.ids import is_message_id
from postino.store.codec import from_item, serialise

# Buckets of each list index. At 1,000 msg/s a status partition took ~1,776 writes/s (a move is a
# delete there and a put in the next): 16 brings that to ~111/s, and 20 senders x 80 msg/s
# (~2,935/s on "sending") to ~183/s, under ~300 a partition with room for uneven buckets.
BUCKETS = 16


@cache
def query_pool() -> ThreadPoolExecutor:
    """Threads for a listing's bucket queries, kept across warm invocations."""
    return ThreadPoolExecutor(max_workers=BUCKETS, thread_name_prefix="list")


@dataclass
class Bucket:
    """One partition of a list index, read newest first below `before` and taken in order."""

    number: int
    base: dict[str, Any]
    partition: str
    before: str | None
    ids: list[str] = field(default_factory=list)
    taken: int = 0
    next_key: dict[str, Any] | None = None
    fetched: bool = False

    def fetch(self) -> None:
        condition, values = "#k = :v", {":v": serialise(self.partition)}
        if self.before is not None:
            condition += " AND created_key < :b"
            values[":b"] = serialise(self.before)
        query = self.base | {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if self.next_key is not None:
            query["ExclusiveStartKey"] = self.next_key
        response = aws.dynamodb().query(**query)
        self.ids += [str(from_item(item)["created_key"]) for item in response.get("Items", [])]
        self.next_key = response.get("LastEvaluatedKey")
        self.fetched = True

    def head(self) -> str | None:
        """The bucket's newest id not yet taken; reads on (rarely) past a short page."""
        while self.taken == len(self.ids) and (not self.fetched or self.next_key is not None):
            self.fetch()
        return self.ids[self.taken] if self.taken < len(self.ids) else None

    def take(self) -> str:
        self.taken += 1
        return self.ids[self.taken - 1]

    def exhausted(self) -> bool:
        return self.fetched and self.taken == len(self.ids) and self.next_key is None


def encode_cursor(before: str, done: set[int]) -> str:
    plain = {"before": before, "done": sorted(done)}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, buckets: int) -> tuple[str, set[int]]:
    """The last id a page returned and the exhausted buckets; invalid_cursor (400) when the
    cursor is not one `encode_cursor` gives for an index of `buckets` buckets."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(plain, dict) or set(plain) != {"before", "done"}:
            raise ValueError
        before, done = plain["before"], plain["done"]
        if not isinstance(before, str) or not is_message_id(before):
            raise ValueError
        if not isinstance(done, list) or not all(type(b) is int for b in done):
            raise ValueError
        if (
            len(set(done)) != len(done)
            or len(done) >= buckets
            or not set(done) <= set(range(buckets))
        ):
            raise ValueError
    except (ValueError, binascii.Error, RecursionError) as error:
        raise PostinoError(
            "invalid_cursor", "The cursor is not one this API gave out; start without it.", 400
        ) from error
    return before, set(done)
