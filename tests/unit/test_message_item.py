"""The message item as DynamoDB keeps it: small, because every write is billed by its size."""

from typing import Any

from postino.messages.model import Message, Phase, Status, event
from postino.store import messages as store

NOW = 1_790_000_000.123


def message(**extra: Any) -> Message:
    return Message.model_validate(
        {
            "id": "01a235d778722ae3d132ed0a3e911f13",
            "sender": "default",
            "to": "393331234567",
            "type": "text",
            "content": {"body": "Ciao"},
            "status": Status.QUEUED,
            "created_at": NOW,
            "updated_at": NOW,
            "valid_until": NOW + 86_400,
            "validity_seconds": 86_400,
            "events": [event(Phase.QUEUED, NOW), event(Phase.SENDING, NOW + 1, attempt=1)],
        }
        | extra
    )


def test_events_are_kept_with_numeric_times_and_no_empty_fields_and_read_back_the_same() -> None:
    original = message()
    item = store._stored(original)
    assert item["events"] == [
        {"at": round(NOW * 1000), "phase": "queued"},
        {"at": round((NOW + 1) * 1000), "phase": "sending", "detail": {"attempt": 1}},
    ]
    assert store._message(item) == original


def test_an_item_written_with_iso_times_still_reads() -> None:
    original = message()
    item = store._stored(original)
    item["events"] = [e.model_dump(mode="json") for e in original.events]
    assert store._message(item).events == original.events


def test_flags_are_kept_only_when_set() -> None:
    assert "forced" not in store._stored(message())
    assert "at_least_once" not in store._stored(message())
    assert store._stored(message(forced=True))["forced"] is True
    assert store._message(store._stored(message())).forced is False
