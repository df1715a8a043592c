"""The body of POST /v1/messages, checked against Meta's limits before anything is queued."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from postino.messages.request import SendMessageRequest

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def request(**fields: Any) -> SendMessageRequest:
    body = {"to": "+39 333 123 4567", "type": "text", "text": {"body": "Ciao"}} | fields
    return SendMessageRequest.model_validate(body)


def problems(**fields: Any) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        request(**fields)
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in raised.value.errors()]


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "text", "text": {"body": "Ciao 👋 — à bientôt, 再见"}},
        {
            "type": "template",
            "text": None,
            "template": {"name": "hello_world", "language": {"code": "en_US"}},
        },
        {
            "type": "template",
            "text": None,
            "template": {
                "name": "booking_confirmation",
                "language": {"code": "it"},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "Giulia"}]},
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "0",
                        "parameters": [{"type": "payload", "payload": "YES"}],
                    },
                ],
            },
        },
        {
            "type": "image",
            "text": None,
            "image": {"link": "https://example.com/boat.jpg", "caption": "Your boat"},
        },
        {
            "type": "document",
            "text": None,
            "document": {"id": "1037543291543636", "filename": "ticket.pdf"},
        },
        {"type": "audio", "text": None, "audio": {"id": "1037543291543636"}},
        {"type": "sticker", "text": None, "sticker": {"link": "https://example.com/s.webp"}},
        {
            "type": "location",
            "text": None,
            "location": {"latitude": 45.4333, "longitude": 12.3384, "name": "Molo"},
        },
        {"type": "reaction", "text": None, "reaction": {"message_id": "wamid.HBgL", "emoji": "👍"}},
        {
            "type": "interactive",
            "text": None,
            "interactive": {
                "type": "button",
                "body": {"text": "Confirm the booking?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]},
            },
        },
    ],
)
def test_every_message_type_in_metas_shape_is_accepted(fields: dict[str, Any]) -> None:
    assert request(**fields).content is not None


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"to": "12"}, "to", "phone number"),
        ({"to": 393331234567}, "to", "string"),
        ({"text": {"body": "x" * 4097}}, "text.body", "4096"),
        ({"text": {"body": ""}}, "text.body", "at least 1"),
        ({"text": {"body": "hi", "previewurl": True}}, "text.previewurl", "Extra"),
        ({"text": None}, "", "needs the object 'text'"),
        ({"image": {"link": "https://example.com/a.jpg"}}, "", "cannot also carry image"),
        (
            {"type": "image", "text": None, "image": {"url": "https://example.com/a.jpg"}},
            "image.url",
            "Extra",
        ),
        (
            {"type": "image", "text": None, "image": {"link": "http://example.com/a.jpg"}},
            "image",
            "https",
        ),
        (
            {"type": "audio", "text": None, "audio": {"id": "1", "caption": "no"}},
            "",
            "no 'caption'",
        ),
        (
            {"type": "template", "text": None, "template": {"name": "hello_world"}},
            "template.language",
            "Field required",
        ),
        ({"type": "video", "text": None, "video": {}}, "video", "exactly one"),
        ({"type": "fax"}, "type", "Input should be"),
        (
            {"type": "location", "text": None, "location": {"latitude": 91, "longitude": 0}},
            "location.latitude",
            "less than",
        ),
        ({"reference": "r" * 129}, "reference", "128"),
        ({"metadata": {"note": "x" * 2100}}, "metadata", "2048 bytes"),
        ({"send_at": "2026-12-01T10:00:00"}, "send_at", "timezone"),
        ({"validity_seconds": 10}, "validity_seconds", "greater than"),
        ({"sender": "Bad Name!"}, "sender", "pattern"),
        ({"surprise": 1}, "surprise", "Extra"),
    ],
)
def test_what_meta_would_refuse_is_refused_naming_the_field(
    fields: dict[str, Any], field: str, words: str
) -> None:
    found = problems(**fields)
    assert any(p.startswith(field) and words in p for p in found), found


def test_send_at_in_the_past_means_now_and_too_far_ahead_is_refused() -> None:
    assert (
        request(send_at=(NOW - timedelta(hours=1)).isoformat()).send_at_epoch(NOW.timestamp())
        is None
    )
    later = request(send_at=(NOW + timedelta(days=2)).isoformat())
    assert later.send_at_epoch(NOW.timestamp()) == (NOW + timedelta(days=2)).timestamp()
    with pytest.raises(ValueError, match="35 days"):
        request(send_at=(NOW + timedelta(days=36)).isoformat()).send_at_epoch(NOW.timestamp())
