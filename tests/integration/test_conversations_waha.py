"""A WAHA conversation through the real handlers: a quoted reply threaded on our invitation, a
group's messages in one conversation, and a message typed on the phone itself."""

from collections.abc import Callable
from typing import Any

import pytest

from local.waha_peer import WahaPeer
from tests.support.events import HttpResult
from tests.support.waha import GUEST, envelope, inbound, waha_sender

Api = Callable[..., HttpResult]
Webhook = Callable[..., HttpResult]
Process = Callable[[], list[str]]
Drain = Callable[..., dict[str, Any]]
GROUP = "120363012345678901@g.us"


@pytest.fixture
def groom(api: Api, waha_peer: WahaPeer) -> WahaPeer:
    waha_peer.add_session("groom", status="WORKING")
    quiet = {"send_seen": False, "typing": False, "think_seconds": {"min": 0, "max": 0}}
    assert api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom", human_like=quiet)).status == 200  # fmt: skip
    return waha_peer


def deliver(waha_webhook: Webhook, process: Process, event: str, payload: dict[str, Any]) -> None:
    assert waha_webhook(envelope(event, payload)).status == 200
    assert process() == []


def items(api: Api, contact: str) -> list[dict[str, Any]]:
    page = api("GET", f"/v1/conversations/groom/{contact}/messages")
    assert page.status == 200, page.body
    return list(page.body["items"])


def test_a_quoted_reply_is_threaded_on_our_invitation(
    api: Api, drain: Drain, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    # GIVEN an invitation sent from the groom's phone
    body = {"to": GUEST, "sender": "groom", "type": "text", "text": {"body": "Ci sarai?"}}
    ours = api("POST", "/v1/messages", body).body["id"]
    drain()
    key = api("GET", f"/v1/messages/{ours}").body["provider_message_id"]
    # WHEN the guest answers quoting it (WAHA names the quoted message in replyTo)
    answer = inbound("Certo!", replyTo={"id": key, "hasMedia": False})
    deliver(waha_webhook, process, "message", answer)
    # THEN the answer names our invitation, which knows its reply
    (reply,) = [m for m in items(api, GUEST) if m["direction"] == "in"]
    assert reply["replied_to"] == ours
    assert api("GET", f"/v1/messages/{ours}").body["reply"]["preview"] == "Certo!"
    (conversation,) = api("GET", "/v1/conversations", query={"sender": "groom"}).body["items"]
    # a WAHA sender has no 24-hour window
    assert conversation["unread"] == 1 and conversation["window_open_until"] is None


def test_a_groups_messages_make_one_conversation_with_the_group(
    api: Api, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    for n, (author, text) in enumerate((("393331110001", "Ci sono"), ("393331110002", "Anche io"))):
        message = inbound(
            text, sender=GROUP, participant=f"{author}@c.us", timestamp=1795600000 + n
        )
        deliver(waha_webhook, process, "message", message)
    assert [m["content"]["text"] for m in items(api, GROUP)] == ["Anche io", "Ci sono"]
    (conversation,) = api("GET", "/v1/conversations", query={"sender": "groom"}).body["items"]
    assert conversation["contact"] == GROUP and conversation["unread"] == 2
    assert conversation["name"] is None  # a group is not named after whoever wrote last


def test_a_message_typed_on_the_phone_lands_in_its_conversation_and_ours_never_twice(
    api: Api, drain: Drain, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    # GIVEN an invitation sent through the API, which message.any echoes (source "api")
    body = {"to": GUEST, "sender": "groom", "type": "text", "text": {"body": "Ci sarai?"}}
    ours = api("POST", "/v1/messages", body).body["id"]
    drain()
    key = api("GET", f"/v1/messages/{ours}").body["provider_message_id"]
    echo = {
        "id": f"true_{GUEST}@c.us_{key}",
        "timestamp": 1795600000,
        "from": "393470000001@c.us",
        "fromMe": True,
        "source": "api",
        "to": f"{GUEST}@c.us",
        "body": "Ci sarai?",
        "hasMedia": False,
    }
    deliver(waha_webhook, process, "message.any", echo)
    # WHEN the groom types a line on the phone itself
    typed = echo | {"id": f"true_{GUEST}@c.us_3EB0TYPED", "source": "app", "body": "Ti aspetto"}
    deliver(waha_webhook, process, "message.any", typed)
    # THEN the conversation holds our send once and the typed line as the phone's
    found = items(api, GUEST)
    assert [(m["direction"], m["origin"]) for m in found].count(("out", "api")) == 1
    (phone,) = [m for m in found if m["origin"] == "phone"]
    assert phone["direction"] == "out" and phone["content"]["text"] == "Ti aspetto"
    assert [r.path for r in groom.requests if r.method == "POST"].count("/api/sendText") == 1
    (conversation,) = api("GET", "/v1/conversations", query={"sender": "groom"}).body["items"]
    assert conversation["unread"] == 0 and conversation["last_inbound_at"] is None


def test_a_reaction_to_our_invitation_is_kept_on_it_and_can_be_taken_back(
    api: Api, drain: Drain, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    body = {"to": GUEST, "sender": "groom", "type": "text", "text": {"body": "Ci sarai?"}}
    ours = api("POST", "/v1/messages", body).body["id"]
    drain()
    key = api("GET", f"/v1/messages/{ours}").body["provider_message_id"]
    for n, emoji in enumerate(("❤️", "")):
        reaction = inbound("", timestamp=1795600000 + n) | {
            "reaction": {"text": emoji, "messageId": f"true_{GUEST}@c.us_{key}"}
        }
        deliver(waha_webhook, process, "message.reaction", reaction)
        shown = api("GET", f"/v1/messages/{ours}").body["reactions"]
        assert shown == ({GUEST: "❤️"} if emoji else {}), shown
