"""GET /v1/messages over the bucketed list indexes (issue 14, point 6), against moto built from
template.yaml: every message exactly once, newest first, page after page."""

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from postino.ids import new_message_id
from postino.messages.model import Message, Status
from postino.services import Services
from postino.store.message_pages import BUCKETS
from postino.store.messages import bucket
from tests.support.events import HttpResult

Api = Callable[..., HttpResult]
SENDERS = ("default", "crm", "bookings")
CROWDED = 3  # the bucket a third of the messages are made to fall in: pages end inside it


def create(services: Services, count: int) -> list[Message]:
    """`count` queued messages a second apart, over three senders, every third in one bucket."""
    made: list[Message] = []
    at = services.clock.now() - 3 * 86_400
    while len(made) < count:
        at += 1
        message_id = new_message_id(at)
        if len(made) % 3 == 0 and bucket(message_id) != CROWDED:
            continue
        message = Message.model_validate(
            {
                "id": message_id,
                "sender": SENDERS[len(made) % len(SENDERS)],
                "to": "393331234567",
                "type": "text",
                "content": {"body": f"message {len(made)}"},
                "status": Status.QUEUED,
                "reference": "booking-7" if len(made) % 4 == 0 else None,
                "created_at": at,
                "updated_at": at,
                "valid_until": at + 10 * 86_400,
                "validity_seconds": 10 * 86_400,
            }
        )
        services.messages.create(message)
        made.append(message)
    return made


def move(services: Services, message: Message, *statuses: Status) -> Message:
    """Through MessageStore.update, as the drain moves it: each step rewrites status_key."""
    for status in statuses:
        message = services.messages.update(
            message.id,
            statuses=(message.status,),
            now=message.created_at,
            changes={"status": status},
        )
    return message


@pytest.fixture
def stored(services: Services) -> list[Message]:
    made = create(services, 37)
    for i, message in enumerate(made):
        if i % 5 == 1:
            made[i] = move(services, message, Status.SENDING)
        elif i % 5 == 2:
            made[i] = move(services, message, Status.SENDING, Status.SENT)
    assert sum(bucket(m.id) == CROWDED for m in made) >= 13
    return made


def every_page(api: Api, limit: int, **filters: str) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(limit), **filters} | ({"cursor": cursor} if cursor else {})
        result = api("GET", "/v1/messages", query=query)
        assert result.status == 200, result.body
        pages.append([m["id"] for m in result.body["items"]])
        cursor = result.body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) <= 40, "the cursor does not move"


def newest_first(messages: list[Message]) -> list[str]:
    return [m.id for m in sorted(messages, key=lambda m: m.created_at, reverse=True)]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "sending"},
        {"status": "queued"},
        {"sender": "crm"},
        {"sender": "default", "status": "sent"},
        {"reference": "booking-7"},
    ],
    ids=["all", "sending", "queued", "crm", "default-sent", "reference"],
)
def test_paging_lists_every_message_once_newest_first(
    api: Api, stored: list[Message], filters: dict[str, str]
) -> None:
    pages = every_page(api, 5, **filters)
    listed = [i for page in pages for i in page]
    expected = newest_first(
        [m for m in stored if all(str(getattr(m, k)) == v for k, v in filters.items())]
    )
    assert expected, "the filter selects something"
    assert listed == expected
    # No filter on the page but the index's own: full pages until the last.
    if len(filters) <= 1:
        assert all(len(page) == 5 for page in pages[:-1])


def test_a_moved_message_is_listed_under_its_new_status_only(
    api: Api, services: Services, stored: list[Message]
) -> None:
    queued = next(m for m in stored if m.status == Status.QUEUED)
    move(services, queued, Status.SENDING, Status.SENT)
    by_status = {
        status: [i for page in every_page(api, 100, status=status) for i in page]
        for status in ("queued", "sending", "sent")
    }
    assert queued.id not in by_status["queued"] + by_status["sending"]
    assert queued.id in by_status["sent"]


def test_the_first_page_is_one_query_a_bucket(
    api: Api, stored: list[Message], monkeypatch: pytest.MonkeyPatch
) -> None:
    queries: list[str] = []
    serve = BotocoreStubber.process_request

    def counting(self: BotocoreStubber, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        if (target.decode() if isinstance(target, bytes) else target).endswith(".Query"):
            queries.append(json.loads(request.body)["IndexName"])
        return serve(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", counting)
    first = api("GET", "/v1/messages", query={"limit": "5"}).body
    assert [m["id"] for m in first["items"]] == newest_first(stored)[:5]
    assert queries == ["by_created"] * BUCKETS


def cursor_of(plain: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        cursor_of({"before": "0" * 32, "done": [BUCKETS]}),
        cursor_of({"before": "0" * 32, "done": ["1"]}),
        cursor_of({"before": "0" * 32}),
        cursor_of({"id": "0" * 32, "created_key": "0" * 32, "list_pk": "message"}),
    ],
    ids=["not-base64-json", "a-bucket-it-has-not", "a-bucket-not-a-number", "no-done", "old-shape"],
)
def test_a_tampered_cursor_is_refused(api: Api, cursor: str) -> None:
    result = api("GET", "/v1/messages", query={"cursor": cursor})
    assert result.status == 400
    assert result.body["error"]["code"] == "invalid_cursor"
