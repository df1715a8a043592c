"""The conversations' plain parts: previews, reactions as they are now, what an inbound message
answers, and cursors that belong to one list only."""

import pytest

from postino.conversations.threads import PREVIEW_CHARACTERS, answered_wamid, preview
from postino.errors import PostinoError
from postino.messages.model import current_reactions
from postino.store.conversations import decode_cursor, encode_cursor, key_time, time_key
from postino.webhooks.payload import InboundMessage


def inbound(**fields: object) -> InboundMessage:
    return InboundMessage.model_validate(
        {"id": "wamid.in", "from": "393331234567", "timestamp": "1795600000"} | fields
    )


def test_a_preview_is_the_text_cut_short_or_the_kind() -> None:
    assert preview({"type": "text", "text": "Ci sarò"}) == "Ci sarò"
    long = preview({"type": "text", "text": "x" * 200})
    assert len(long) == PREVIEW_CHARACTERS and long.endswith("…")
    assert preview({"type": "image"}) == "[image]"
    assert preview({"type": "interactive", "reply_title": "Non posso"}) == "Non posso"
    assert preview({"type": "reaction", "emoji": "❤️"}) == "❤️"


def test_a_reaction_taken_back_leaves_none_and_the_latest_wins() -> None:
    reactions = [
        {"from": "a", "emoji": "👍", "at": 1},
        {"from": "b", "emoji": "❤️", "at": 2},
        {"from": "a", "emoji": "😂", "at": 3},
        {"from": "b", "emoji": "", "at": 4},
    ]
    assert current_reactions(reactions) == {"a": "😂"}
    # out of order: the time decides, not the arrival
    assert current_reactions(list(reversed(reactions))) == {"a": "😂"}


def test_what_an_inbound_message_answers() -> None:
    assert answered_wamid(inbound(type="text", context={"id": "wamid.ours"})) == "wamid.ours"
    reaction = inbound(type="reaction", reaction={"message_id": "wamid.ours", "emoji": "👍"})
    assert answered_wamid(reaction) == "wamid.ours"
    assert answered_wamid(inbound(type="text", context={"group": "1@g.us"})) is None
    assert answered_wamid(inbound(type="text")) is None


def test_a_cursor_serves_only_the_list_that_gave_it() -> None:
    key = time_key(1795600000.123, "default", "393331234567")
    assert key_time(key) == 1795600000.123
    assert decode_cursor("conversations", encode_cursor("conversations", key)) == key
    with pytest.raises(PostinoError) as refused:
        decode_cursor("messages", encode_cursor("conversations", key))
    assert refused.value.status == 400
    for bad in ("not base64!", encode_cursor("messages", "no time here")):
        with pytest.raises(PostinoError):
            decode_cursor("messages", bad)
