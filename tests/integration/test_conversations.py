"""Conversations through the real handlers: a Meta reply threaded on what we sent, read back in
both directions, marked read with Meta's receipt; the lists' bad input."""

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from local.graph_api_peer import GraphApiPeer
from tests.support.events import HttpResult
from tests.support.webhooks import inbound, status, statuses, text_message

Api = Callable[..., HttpResult]
Webhook = Callable[..., HttpResult]
Process = Callable[[], list[str]]
Drain = Callable[..., dict[str, Any]]
GUEST = "393331234567"


def sent_message(api: Api, drain: Drain, **fields: Any) -> dict[str, Any]:
    body = {"to": f"+{GUEST}", "type": "text", "text": {"body": "Ci sarai il 12 giugno?"}}
    message_id = api("POST", "/v1/messages", body | fields).body["id"]
    drain()
    sent: dict[str, Any] = api("GET", f"/v1/messages/{message_id}").body
    assert sent["status"] == "sent", sent
    return sent


def reply_to(wamid: str, reply_id: str, body: str, *, at: int = 1795600000) -> dict[str, Any]:
    return text_message(reply_id, body, at=at) | {"context": {"from": "15550783881", "id": wamid}}


def test_a_reply_is_threaded_on_what_we_sent_and_the_conversation_reads_both_ways(
    api: Api, drain: Drain, webhook: Webhook, process: Process, peer: GraphApiPeer
) -> None:
    # GIVEN an invitation sent, and the guest's answer quoting it, delivered twice
    ours = sent_message(api, drain)
    later = int(time.time()) + 1  # after ours, in Meta's whole seconds
    answer = inbound(
        reply_to(ours["provider_message_id"], "wamid.answer1", "Sì, ci sarò! 💍", at=later)
    )
    for _ in range(2):
        assert webhook(answer).status == 200
        assert process() == []
    # THEN our message knows its reply, once
    message = api("GET", f"/v1/messages/{ours['id']}").body
    assert message["reply"]["id"] == "wamid.answer1" and message["replied_at"]
    assert message["reply"]["preview"] == "Sì, ci sarò! 💍"
    assert [e["phase"] for e in message["events"]].count("replied") == 1
    # AND the conversation lists it, unread once, with its service window
    (conversation,) = api("GET", "/v1/conversations", query={"sender": "default"}).body["items"]
    assert conversation["contact"] == GUEST and conversation["name"] == "Giulia"
    assert conversation["unread"] == 1 and conversation["window_open_until"]
    assert conversation["last_message"]["direction"] == "in"
    assert conversation["last_message"]["preview"] == "Sì, ci sarò! 💍"
    # AND its messages come newest first, both directions, the reply naming ours
    page = api("GET", f"/v1/conversations/default/{GUEST}/messages").body
    assert [(m["direction"], m["id"]) for m in page["items"]] == [
        ("in", "wamid.answer1"),
        ("out", ours["id"]),
    ]
    inbound_item = next(m for m in page["items"] if m["direction"] == "in")
    assert inbound_item["replied_to"] == ours["id"] and inbound_item["origin"] == "contact"
    outbound_item = next(m for m in page["items"] if m["direction"] == "out")
    assert outbound_item["status"] == "sent" and outbound_item["origin"] == "api"
    # WHEN someone reads it
    read = api("POST", f"/v1/conversations/default/{GUEST}/read")
    # THEN unread is 0 and Meta got its read receipt for the guest's message
    assert read.status == 200 and read.body["unread"] == 0, read.body
    assert peer.read_receipts() == ["wamid.answer1"]
    # AND a newer message of ours shows as the conversation's last, with its text
    time.sleep(max(later - time.time(), 0) + 0.01)  # ours must be newer than the reply
    api("POST", "/v1/messages", {"to": GUEST, "type": "text", "text": {"body": "A presto!"}})
    (conversation,) = api("GET", "/v1/conversations").body["items"]
    assert conversation["last_message"]["direction"] == "out"
    assert conversation["last_message"]["preview"] == "A presto!"


def test_a_reaction_is_kept_on_our_message(
    api: Api, drain: Drain, webhook: Webhook, process: Process
) -> None:
    ours = sent_message(api, drain)
    reaction = {
        "from": GUEST,
        "id": "wamid.reaction1",
        "timestamp": "1795600100",
        "type": "reaction",
        "reaction": {"message_id": ours["provider_message_id"], "emoji": "❤️"},
    }
    assert webhook(inbound(reaction)).status == 200
    assert process() == []
    message = api("GET", f"/v1/messages/{ours['id']}").body
    assert message["reactions"] == {GUEST: "❤️"}
    assert "reacted" in [e["phase"] for e in message["events"]]


def test_the_message_list_filters_by_recipient(api: Api, drain: Drain) -> None:
    ours = sent_message(api, drain)
    api("POST", "/v1/messages", {"to": "+393339990000", "type": "text", "text": {"body": "x"}})
    listed = api("GET", "/v1/messages", query={"to": f"+39 333 {GUEST[5:8]} {GUEST[8:]}"}).body
    assert [m["id"] for m in listed["items"]] == [ours["id"]]
    assert api("GET", "/v1/messages", query={"to": "not a number"}).status == 422


def test_unknown_senders_contacts_and_foreign_cursors_are_refused(
    api: Api, webhook: Webhook, process: Process
) -> None:
    assert webhook(inbound(text_message("wamid.hello", "Ciao"))).status == 200
    assert process() == []
    unknown_sender = api("GET", "/v1/conversations", query={"sender": "nobody"})
    assert unknown_sender.status == 404 and "nobody" in unknown_sender.body["error"]["message"]
    unknown_contact = api("GET", "/v1/conversations/default/393339990000/messages")
    assert unknown_contact.status == 404
    assert api("POST", "/v1/conversations/default/393339990000/read").status == 404
    messages_cursor = api("GET", "/v1/messages", query={"limit": "1"}).body.get("next_cursor")
    foreign = messages_cursor or "eyJiZWZvcmUiOiJ4In0="
    assert api("GET", "/v1/conversations", query={"cursor": foreign}).status == 400
    assert api("GET", "/v1/campaigns/never-sent").status == 404


def test_a_campaigns_report_is_exact_while_statuses_and_answers_arrive_out_of_order(
    api: Api, drain: Drain, webhook: Webhook, process: Process
) -> None:
    # GIVEN 50 invitations of one campaign, sent, each to its own guest
    guests = [f"39333100{n:04d}" for n in range(50)]
    ids = [
        api(
            "POST",
            "/v1/messages",
            {"to": guest, "type": "text", "text": {"body": "Ci sarai?"}, "campaign": "wedding"},
        ).body["id"]
        for guest in guests
    ]
    api("POST", "/v1/messages", {"to": "393339990000", "type": "text", "text": {"body": "other"}})
    drain()
    wamids = [api("GET", f"/v1/messages/{i}").body["provider_message_id"] for i in ids]
    # AND for each a fate: read, delivered, or failed (every fifth), and an answer from some
    rng = random.Random(7)
    updates, answers, expected = [], [], Counter[str]()
    buttons: Counter[str] = Counter()
    for n, (guest, wamid, our_id) in enumerate(zip(guests, wamids, ids, strict=True)):
        at = 1795600000 + n
        if n % 5 == 0:
            error = {"code": 131026, "title": "Message undeliverable", "message": "x"}
            updates.append(status(wamid, "failed", at + 1, recipient=guest, errors=[error]))
            expected["failed"] += 1
            continue
        fate = "read" if n % 2 else "delivered"
        updates += [status(wamid, name, at + i, recipient=guest, callback=our_id)
                    for i, name in enumerate(("sent", "delivered", "read")[: 2 + (fate == "read")])]  # fmt: skip
        expected[fate] += 1
        if n % 3:
            button = ("yes", "Ci sarò") if n % 3 == 1 else ("no", "Non posso")
            buttons[button[0]] += 1
            answers.append(button_reply(guest, wamid, f"wamid.button{n}", button, at + 5))
    # WHEN they arrive shuffled (a read before its delivered, an answer before its read)
    deliveries = [statuses(u) for u in updates] + [inbound(a, wa_id=a["from"]) for a in answers]
    rng.shuffle(deliveries)
    for body in deliveries:
        assert webhook(body).status == 200
    assert process() == []
    # THEN the report counts each message once, as it is now
    report = api("GET", "/v1/campaigns/wedding").body
    assert report["total"] == 50
    statuses_now = {k: v for k, v in report["statuses"].items() if v}
    assert statuses_now == dict(expected), report
    assert report["failed_by_code"] == {"131026": expected["failed"]}
    assert report["replied"] == len(answers)
    assert {b["id"]: b["count"] for b in report["buttons"]} == dict(buttons)
    assert {b["id"]: b["title"] for b in report["buttons"]} == {"yes": "Ci sarò", "no": "Non posso"}


def button_reply(
    guest: str, wamid: str, reply_id: str, button: tuple[str, str], at: int
) -> dict[str, Any]:
    return {
        "from": guest,
        "id": reply_id,
        "timestamp": str(at),
        "type": "interactive",
        "context": {"from": "15550783881", "id": wamid},
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": button[0], "title": button[1]},
        },
    }
