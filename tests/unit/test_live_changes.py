"""What a dashboard page is told of a table change (postino/live/changes.py), and how the events
are framed for API Gateway (postino/live/fanout.py)."""

import json
from typing import Any

from postino.live.changes import page_events
from postino.live.fanout import FRAME_BYTES, frames_of
from postino.settings import Settings
from postino.store.codec import to_item

SETTINGS = Settings()
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-12-03T04:00:00.000"


def record(table: str, name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A record as Lambda hands it over (NEW_IMAGE), the item in DynamoDB's JSON."""
    image = to_item(item)
    return {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1796270400,
            "Keys": {k: v for k, v in image.items() if k in ("id", "pk", "name")},
            **({"NewImage": image} if name != "REMOVE" else {}),
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 26,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": STREAM.format(table=table),
    }


def events_of(*records: dict[str, Any]) -> list[dict[str, Any]]:
    return page_events({"Records": list(records)}, SETTINGS)


MESSAGE = {
    "id": "01a2125c7bb327a2703f939ae2bbabf8",
    "sender": "groom",
    "to": "393331118888",
    "status": "sending",
    "content": '{"body":"Ci sarai?"}',
    "revision": 3,
    "events": [
        {"at": 1796270400000, "phase": "queued"},
        {"at": 1796270400100, "phase": "typing", "detail": {"seconds": 2.5}},
    ],
}


def test_a_message_change_tells_its_status_and_newest_phase() -> None:
    told = events_of(record(SETTINGS.messages_table, "MODIFY", MESSAGE))
    assert told == [
        {
            "type": "message",
            "id": MESSAGE["id"],
            "sender": "groom",
            "status": "sending",
            "phase": "typing",
            "at": "2026-12-03T04:00:00.100Z",
            "detail": {"seconds": 2.5},
            "revision": 3,
        }
    ]


def test_each_phase_is_told_in_the_streams_order() -> None:
    phases = ("reading", "waiting_human", "typing", "sending")
    records = [
        record(
            SETTINGS.messages_table,
            "MODIFY",
            MESSAGE | {"events": [{"at": 1796270400000 + i, "phase": phase}]},
        )
        for i, phase in enumerate(phases)
    ]
    assert [e["phase"] for e in events_of(*records)] == list(phases)


def test_a_conversation_a_reservation_and_a_sender_are_told() -> None:
    conversation = {
        "pk": "conversation#groom#393331118888",
        "sender": "groom",
        "contact": "393331118888",
        "name": "Luca",
        "unread": 2,
        "last_message": {
            "direction": "in",
            "type": "text",
            "preview": "Ci sarò!",
            "at": 1796270400.5,
        },
    }
    reservation = {"pk": "reservation#r1", "id": "r1", "status": "new", "code": "RES-ABC"}
    sender = {
        "name": "groom",
        "paused": True,
        "paused_reason": "logged out",
        "session_status": "STOPPED",
    }
    told = events_of(
        record(SETTINGS.inbox_table, "MODIFY", conversation),
        record(SETTINGS.inbox_table, "INSERT", reservation),
        record(SETTINGS.senders_table, "MODIFY", sender),
    )
    assert told[0] == {
        "type": "conversation",
        "sender": "groom",
        "contact": "393331118888",
        "name": "Luca",
        "unread": 2,
        "last_message": {
            "direction": "in",
            "type": "text",
            "preview": "Ci sarò!",
            "at": "2026-12-03T04:00:00.500Z",
        },
    }
    assert told[1] == {"type": "reservation", "id": "r1", "status": "new"}
    assert told[2] == {
        "type": "sender",
        "name": "groom",
        "paused": True,
        "paused_reason": "logged out",
        "paused_until": None,
        "session_status": "STOPPED",
    }


def test_deletions_other_items_and_other_tables_tell_nothing() -> None:
    assert (
        events_of(
            record(SETTINGS.messages_table, "REMOVE", MESSAGE),
            record(SETTINGS.inbox_table, "INSERT", {"pk": "contact#groom#39333", "name": "L"}),
            record(SETTINGS.inbox_table, "INSERT", {"pk": "inbound#wamid.1", "text": "Ciao"}),
            record("postino-RateWindowTable", "INSERT", {"pk": "window#groom"}),
        )
        == []
    )


def test_events_are_framed_in_order_within_a_billed_frame() -> None:
    events = [{"type": "message", "id": f"{i:032x}", "pad": "x" * 900} for i in range(100)]
    frames = list(frames_of(events))
    assert len(frames) > 1 and all(len(frame) <= FRAME_BYTES for frame in frames)
    told = [event for frame in frames for event in json.loads(frame)["events"]]
    assert told == events
    assert list(frames_of([])) == []
