"""Reservation codes in an inbound message: every text a person put in it, and the codes in them."""

from typing import Any

import pytest

from postino.reservations.detect import compiled, find_codes, texts_of
from postino.settings import Settings
from postino.webhooks.payload import InboundMessage

PATTERN: str = Settings.model_fields["reservation_code_pattern"].default


def inbound(message: dict[str, Any]) -> InboundMessage:
    return InboundMessage.model_validate(
        {"from": "393331234567", "id": "wamid.W", "timestamp": "1795600000"} | message
    )


@pytest.mark.parametrize(
    ("message", "texts"),
    [
        ({"type": "text", "text": {"body": "Ciao RES-AB12CD"}}, ["Ciao RES-AB12CD"]),
        ({"type": "image", "image": {"id": "1", "caption": "the boat"}}, ["the boat"]),
        ({"type": "video", "video": {"id": "1", "caption": "the lake"}}, ["the lake"]),
        ({"type": "document", "document": {"id": "2", "filename": "a.pdf"}}, []),
        (
            {"type": "button", "button": {"text": "Book", "payload": "RES-AB12CD"}},
            ["Book", "RES-AB12CD"],
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "RES-AB12CD", "title": "Yes"},
                },
            },
            ["RES-AB12CD", "Yes"],
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "x", "title": "Tour", "description": "at nine"},
                },
            },
            ["x", "Tour", "at nine"],
        ),
    ],
    ids=["text", "image-caption", "video-caption", "no-caption", "button", "reply", "list"],
)
def test_the_texts_of_a_message_are_what_a_person_wrote_or_pressed(
    message: dict[str, Any], texts: list[str]
) -> None:
    assert texts_of(inbound(message)) == texts


def test_every_part_is_read_in_order_and_empty_or_odd_values_are_skipped() -> None:
    # GIVEN a message carrying every part a text can be in (as no real one does), some empty
    message = inbound(
        {
            "type": "image",
            "text": {"body": "body"},
            "image": {"caption": "caption"},
            "button": {"text": "", "payload": "payload"},
            "interactive": {
                "button_reply": {"id": "reply-id", "title": None, "description": "reply-more"},
                "list_reply": {"id": 7, "title": "list-title", "description": "list-more"},
            },
        }
    )
    # WHEN its texts are read THEN each comes once, in this order, and only strings with text
    assert texts_of(message) == [
        "body",
        "caption",
        "payload",
        "reply-id",
        "reply-more",
        "list-title",
        "list-more",
    ]


def test_a_caption_counts_only_on_the_part_the_message_is() -> None:
    # a stray part of another type is not what the customer sent
    message = inbound({"type": "text", "text": {"body": "hi"}, "image": {"caption": "stray"}})
    assert texts_of(message) == ["hi"]


def test_a_message_without_text_has_none() -> None:
    assert texts_of(inbound({"type": "reaction", "reaction": {"emoji": "👍"}})) == []
    assert texts_of(inbound({"type": "interactive", "interactive": {"button_reply": None}})) == []


def test_codes_are_distinct_upper_cased_and_in_the_order_they_first_appear() -> None:
    texts = ["RES-BBB222 then res-aaa111", "Res-Bbb222 again, and RES-CCC333"]
    assert find_codes(texts, PATTERN) == ["RES-BBB222", "RES-AAA111", "RES-CCC333"]


def test_no_text_no_code() -> None:
    assert find_codes([], PATTERN) == []
    assert find_codes(["RES- nothing", "RESAB12 neither"], PATTERN) == []


def test_a_pattern_is_matched_whatever_the_case_of_the_text() -> None:
    assert compiled(PATTERN).findall("res-ab12cd") == ["res-ab12cd"]
    assert find_codes(["book-x1 and BOOK-Y2"], r"\bbook-[a-z0-9]+\b") == ["BOOK-X1", "BOOK-Y2"]
