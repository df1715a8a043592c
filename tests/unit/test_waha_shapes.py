"""WAHA's shapes: recipients as chat ids, one message id from every engine, acks and authors."""

from typing import Any

import pytest

from postino.providers.waha import chat_id, message_key
from postino.providers.waha_terms import key_of
from postino.webhooks.waha_events import WahaEvent, ack_update, author, is_from_a_person, phone_of

KEY = "3EB0C767D26A1D6B8A7F"


def test_phone_numbers_become_chat_ids_and_groups_stay() -> None:
    assert chat_id("393331234567") == "393331234567@c.us"
    assert chat_id("120363025246125486@g.us") == "120363025246125486@g.us"


@pytest.mark.parametrize(
    "answer",
    [
        {"key": {"remoteJid": "393331234567@s.whatsapp.net", "fromMe": True, "id": KEY}},
        {"id": f"true_393331234567@c.us_{KEY}"},
        {"id": {"fromMe": True, "id": KEY, "_serialized": f"true_393331234567@c.us_{KEY}"}},
        {"id": f"true_120363025246125486@g.us_{KEY}_393470000001@c.us"},
    ],
    ids=["NOWEB", "GOWS", "WEBJS", "group"],
)
def test_every_engines_answer_gives_the_same_message_key(answer: dict[str, Any]) -> None:
    assert message_key(answer) == KEY


@pytest.mark.parametrize("answer", [{}, {"id": ""}, [], "ok", {"key": {}}])
def test_an_answer_without_an_id_gives_none(answer: Any) -> None:
    assert message_key(answer) is None


def test_a_bare_key_is_its_own_key() -> None:
    assert key_of(KEY) == KEY


@pytest.mark.parametrize(
    ("ack", "status"),
    [(-1, "failed"), (0, None), (1, "sent"), (2, "delivered"), (3, "read"), (4, "played")],
)
def test_acks_become_metas_status_names(ack: int, status: str | None) -> None:
    event = WahaEvent(
        id="evt_1",
        event="message.ack",
        session="groom",
        timestamp=1_767_225_600_000,
        payload={"id": f"true_393331234567@c.us_{KEY}", "ack": ack, "to": "393331234567@c.us"},
    )
    update = ack_update(event, 0)
    assert (update.status if update else None) == status
    if update is not None:
        assert update.id == KEY and update.timestamp == "1767225600.000"
        assert update.recipient_id == "393331234567"
        assert bool(update.errors) == (ack == -1)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"from": "393331234567@c.us"}, ("393331234567", None)),
        (
            {"from": "120363025246125486@g.us", "participant": "393337654321@c.us"},
            ("393337654321", "120363025246125486@g.us"),
        ),
        (
            {"from": "111@lid", "_data": {"key": {"remoteJidAlt": "393339999999@s.whatsapp.net"}}},
            ("393339999999", None),
        ),
        (
            {"from": "111@lid", "_data": {"Info": {"SenderAlt": "393339999999:12@s.whatsapp.net"}}},
            ("393339999999", None),
        ),
        (
            {
                "from": "120363025246125486@g.us",
                "participant": "222@lid",
                "_data": {"key": {"participantAlt": "393338888888@s.whatsapp.net"}},
            },
            ("393338888888", "120363025246125486@g.us"),
        ),
        ({"from": "111@lid"}, ("111@lid", None)),
    ],
    ids=["contact", "group", "lid-noweb", "lid-gows", "group-lid", "lid-unresolved"],
)
def test_the_author_is_a_phone_number_when_waha_tells_one(
    payload: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    assert author(payload) == expected


def test_only_phone_jids_are_phone_numbers() -> None:
    assert phone_of("393331234567@c.us") == "393331234567"
    assert phone_of("111@lid") is None
    assert phone_of("120363025246125486@g.us") is None
    assert phone_of(None) is None


def test_only_people_writing_are_inbound_messages() -> None:
    assert is_from_a_person({"from": "393331234567@c.us", "fromMe": False})
    assert is_from_a_person({"from": "120363025246125486@g.us", "fromMe": False})
    assert not is_from_a_person({"from": "393331234567@c.us", "fromMe": True})
    assert not is_from_a_person({"from": "status@broadcast", "fromMe": False})
    assert not is_from_a_person({"from": "120363111111111111@newsletter"})
