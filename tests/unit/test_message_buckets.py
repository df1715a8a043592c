"""The bucketed list indexes (issue 14, point 6): the bucket of an id, the keys, the cursor, and
the merge of the buckets newest first, against an in-memory stand-in for the indexes."""

import base64
import json
import random
import threading
from collections import Counter
from typing import Any

import pytest

from postino import aws
from postino.errors import PostinoError
from postino.ids import new_message_id
from postino.messages.model import Message, Status
from postino.store import message_pages as pages
from postino.store import messages as store
from postino.store.codec import from_item, to_item
from postino.store.message_pages import BUCKETS
from postino.store.messages import MessageStore, bucket, list_keys

NOW = 1_800_000_000.0
ID = "0190f1a2b3c4d5e6f708192a3b4c5d6e"


def test_the_bucket_is_a_stable_hash_of_the_id() -> None:
    # crc32, not hash(): the same bucket in every process, so an update finds the key it wrote.
    assert bucket(ID) == 0
    assert bucket("ffffffffffff00000000000000000000") == bucket("ffffffffffff00000000000000000000")
    ids = [new_message_id(NOW + i / 1000) for i in range(16_000)]
    counts = Counter(bucket(i) for i in ids)
    assert set(counts) == set(range(BUCKETS))
    # 1,000 expected a bucket; even spread is what keeps each partition near 1/16 of the writes.
    assert all(850 < n < 1150 for n in counts.values()), counts


def test_the_list_keys_carry_the_value_and_the_bucket() -> None:
    b = bucket(ID)
    assert list_keys(ID) == {"list_pk": f"message#{b}"}


def cursor_of(plain: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def test_a_cursor_round_trips() -> None:
    cursor = pages.encode_cursor(ID, {1, 4})
    assert pages.decode_cursor(cursor, BUCKETS) == (ID, {1, 4})
    assert pages.decode_cursor(pages.encode_cursor(ID, set()), 1) == (ID, set())


@pytest.mark.parametrize(
    ("cursor", "buckets"),
    [
        ("garbage!", BUCKETS),
        ("", BUCKETS),
        (base64.urlsafe_b64encode(b"\xff\xfe").decode(), BUCKETS),
        (cursor_of([ID, []]), BUCKETS),  # the wrong shape
        (cursor_of({"before": ID}), BUCKETS),
        (cursor_of({"before": ID, "done": [], "more": 1}), BUCKETS),
        (cursor_of({"id": {"S": ID}}), BUCKETS),  # a cursor of the single-index days
        (cursor_of({"before": ID.upper(), "done": []}), BUCKETS),  # not a created_key
        (cursor_of({"before": ID[:-1], "done": []}), BUCKETS),
        (cursor_of({"before": 7, "done": []}), BUCKETS),  # wrong types
        (cursor_of({"before": ID, "done": "3"}), BUCKETS),
        (cursor_of({"before": ID, "done": ["3"]}), BUCKETS),
        (cursor_of({"before": ID, "done": [True]}), BUCKETS),
        (cursor_of({"before": ID, "done": [1.0]}), BUCKETS),
        (cursor_of({"before": ID, "done": [-1]}), BUCKETS),
        (cursor_of({"before": ID, "done": [BUCKETS]}), BUCKETS),  # a bucket it has not
        (cursor_of({"before": ID, "done": [3, 3]}), BUCKETS),
        (cursor_of({"before": ID, "done": list(range(BUCKETS))}), BUCKETS),  # never given out
        (cursor_of({"before": ID, "done": [5]}), 1),  # a bucketed listing's, on by_reference
        (cursor_of({"before": ID, "done": [[[[[]]]]]}), BUCKETS),
        (base64.urlsafe_b64encode(b"[" * 1500).decode(), BUCKETS),
    ],
)
def test_a_malformed_or_tampered_cursor_is_a_400(cursor: str, buckets: int) -> None:
    with pytest.raises(PostinoError) as refused:
        pages.decode_cursor(cursor, buckets)
    assert (refused.value.code, refused.value.status) == ("invalid_cursor", 400)


# ---- the merge, against an in-memory stand-in for the table and its indexes -------------------


def message(message_id: str, sender: str, status: Status, reference: str | None) -> Message:
    return Message.model_validate(
        {
            "id": message_id,
            "sender": sender,
            "to": "393331234567",
            "type": "text",
            "content": {"body": "hi"},
            "status": status,
            "reference": reference,
            "created_at": NOW,
            "updated_at": NOW,
            "valid_until": NOW + 36_000,
            "validity_seconds": 36_000,
        }
    )


class Indexes:
    """Query and BatchGetItem over KEYS_ONLY indexes, as DynamoDB answers them: newest first,
    LastEvaluatedKey when Limit is reached, and at most `cap` items a page (a page cut short,
    as the 1 MB limit would)."""

    def __init__(self, cap: int = 1000) -> None:
        self.cap = cap
        self.rows: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, Message] = {}
        self.queries: list[str] = []
        self._lock = threading.Lock()

    def add(self, m: Message) -> None:
        self.messages[m.id] = m
        self.rows[m.id] = {
            **list_keys(m.id),
            "reference": m.reference,
            "created_key": m.id,
            "id": m.id,
        }

    def query(self, **q: Any) -> dict[str, Any]:
        key, values = q["ExpressionAttributeNames"]["#k"], from_item(q["ExpressionAttributeValues"])
        assert q["ScanIndexForward"] is False
        with self._lock:
            self.queries.append(values[":v"])
        rows = sorted(
            (
                r
                for r in self.rows.values()
                if r[key] == values[":v"]
                and (":b" not in values or r["created_key"] < values[":b"])
            ),
            key=lambda r: r["created_key"],
            reverse=True,
        )
        if "ExclusiveStartKey" in q:
            start = from_item(q["ExclusiveStartKey"])["created_key"]
            rows = [r for r in rows if r["created_key"] < start]
        page = rows[: min(q["Limit"], self.cap)]
        response: dict[str, Any] = {
            "Items": [
                to_item({key: r[key], "created_key": r["created_key"], "id": r["id"]}) for r in page
            ]
        }
        if page and (len(page) == q["Limit"] or len(page) < len(rows)):
            last = page[-1]
            response["LastEvaluatedKey"] = to_item(
                {key: last[key], "created_key": last["created_key"], "id": last["id"]}
            )
        return response

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        ((table, request),) = RequestItems.items()
        ids = [from_item(k)["id"] for k in request["Keys"]]
        items = [to_item(store._stored(self.messages[i])) for i in ids]
        return {"Responses": {table: items}}


@pytest.fixture
def indexes(monkeypatch: pytest.MonkeyPatch) -> Indexes:
    fake = Indexes()
    monkeypatch.setattr(aws, "dynamodb", lambda: fake)
    return fake


def fill(indexes: Indexes, count: int, seed: int = 7) -> list[Message]:
    """`count` messages over time, a third of them in one bucket (so pages end mid-bucket)."""
    rng = random.Random(seed)
    made: list[Message] = []
    at = NOW
    while len(made) < count:
        at += rng.uniform(0.001, 2)
        message_id = new_message_id(at)
        if len(made) % 3 == 0 and bucket(message_id) != 5:
            continue
        m = message(
            message_id,
            rng.choice(["default", "crm", "bookings"]),
            rng.choice([Status.QUEUED, Status.SENDING, Status.SENT]),
            rng.choice([None, "booking-1"]),
        )
        indexes.add(m)
        made.append(m)
    return made


def every_page(
    messages: MessageStore, limit: int, **filters: Any
) -> tuple[list[str], list[list[str]]]:
    query = {"status": None, "sender": None, "reference": None} | filters
    cursor: str | None = None
    pages: list[list[str]] = []
    while True:
        found, cursor = messages.page(limit=limit, cursor=cursor, **query)
        pages.append([m.id for m in found])
        if cursor is None:
            return [i for page in pages for i in page], pages
        assert len(pages) < 1000, "the cursor does not move"


@pytest.mark.parametrize("cap", [1000, 2, 1])
@pytest.mark.parametrize("limit", [1, 5, 7, 100])
@pytest.mark.parametrize(
    "filters",
    [{}, {"status": Status.SENDING}, {"sender": "crm"}, {"reference": "booking-1"}],
    ids=["all", "status", "sender", "reference"],
)
def test_paging_returns_each_message_once_newest_first(
    indexes: Indexes, cap: int, limit: int, filters: dict[str, Any]
) -> None:
    indexes.cap = cap
    made = fill(indexes, 61)
    messages = MessageStore("MessagesTable", 90)
    listed, pages = every_page(messages, limit, **filters)
    expected = sorted(
        (m.id for m in made if all(getattr(m, k) == v for k, v in filters.items())), reverse=True
    )
    assert listed == expected
    assert all(len(page) == limit for page in pages[:-1])


def test_a_page_is_one_query_a_bucket_and_skips_the_exhausted(indexes: Indexes) -> None:
    fill(indexes, 40)
    messages = MessageStore("MessagesTable", 90)
    first, cursor = messages.page(status=None, sender=None, reference=None, limit=5, cursor=None)
    assert len(first) == 5 and cursor is not None
    assert sorted(indexes.queries) == sorted(f"message#{b}" for b in range(BUCKETS))
    indexes.queries.clear()
    before, done = pages.decode_cursor(cursor, BUCKETS)
    assert before == first[-1].id
    messages.page(status=None, sender=None, reference=None, limit=5, cursor=cursor)
    assert sorted(indexes.queries) == sorted(
        f"message#{b}" for b in range(BUCKETS) if b not in done
    )


def test_a_message_created_after_the_first_page_is_not_on_the_next(indexes: Indexes) -> None:
    made = fill(indexes, 30)
    messages = MessageStore("MessagesTable", 90)
    first, cursor = messages.page(status=None, sender=None, reference=None, limit=5, cursor=None)
    # A bucket none of the first page came from gets a newer message: the rest stays older.
    used = {bucket(m.id) for m in first}
    at = max(m.created_at for m in made) + 3600
    newer = new_message_id(at)
    while bucket(newer) in used:
        at += 1
        newer = new_message_id(at)
    indexes.add(message(newer, "default", Status.QUEUED, None))
    rest, _ = messages.page(status=None, sender=None, reference=None, limit=100, cursor=cursor)
    assert newer not in [m.id for m in rest]
    assert [m.id for m in first + rest] == sorted((m.id for m in made), reverse=True)


def test_a_status_change_writes_no_index_key(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: dict[str, Any] = {}

    class Client:
        def update_item(self, **request: Any) -> dict[str, Any]:
            sent.update(request)
            stored = store._stored(message(ID, "crm", Status.SENDING, None))
            return {"Attributes": to_item(stored)}

    monkeypatch.setattr(aws, "dynamodb", Client)
    MessageStore("MessagesTable", 90).update(
        ID, statuses=(Status.QUEUED,), now=NOW, changes={"status": Status.SENDING}
    )
    names = set(sent["ExpressionAttributeNames"].values())
    assert "status" in names
    assert not names & {"status_key", "sender_key", "list_pk", "recipient_key", "campaign_key"}


def test_a_rare_status_is_found_page_after_page_within_the_read_budget(indexes: Indexes) -> None:
    # GIVEN one failed message older than 1,050 sent ones (no status index: a status is a filter)
    oldest = new_message_id(NOW)
    indexes.add(message(oldest, "default", Status.FAILED, None))
    sent = [new_message_id(NOW + n) for n in range(1, 1051)]
    for message_id in sent:
        indexes.add(message(message_id, "default", Status.SENT, None))
    messages = MessageStore("MessagesTable", 90)
    # WHEN the failed messages are listed
    first, cursor = messages.page(status=Status.FAILED, sender=None, reference=None, limit=50,
                                  cursor=None)  # fmt: skip
    # THEN the first page stops at its budget, empty, with a cursor that goes on from there
    assert first == [] and cursor is not None
    before, _ = pages.decode_cursor(cursor, BUCKETS)
    assert before == sent[-store.FILTERED_READ_BUDGET]  # the last of the 1,000 newest looked at
    rest, end = messages.page(status=Status.FAILED, sender=None, reference=None, limit=50,
                              cursor=cursor)  # fmt: skip
    assert [m.id for m in rest] == [oldest] and end is None
