"""WAHA's webhooks through the real route and processor: HMAC, dedup, acks, inbound, sessions."""

import json
import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from local.waha_peer import WahaPeer
from postino import aws
from postino.services import Services
from postino.store.inbox import inbound_key
from postino.webhooks.waha_signature import sign
from tests.conftest import sqs_depth
from tests.support.events import HttpResult
from tests.support.stack_secrets import UNSET, assert_named_as_missing, unset_secret
from tests.support.waha import GUEST, WAHA_HMAC_KEY, ack, envelope, inbound, waha_sender

Api = Callable[..., HttpResult]
Webhook = Callable[..., HttpResult]
Process = Callable[[], list[str]]
Drain = Callable[..., dict[str, Any]]


def ingest_depth(services: Services) -> int:
    return sqs_depth(services.settings.ingest_queue_url, "", "NotVisible")


@pytest.fixture
def groom(api: Api, waha_peer: WahaPeer) -> WahaPeer:
    waha_peer.add_session("groom", status="WORKING")
    quiet = {"send_seen": False, "typing": False, "think_seconds": {"min": 0, "max": 0}}
    sender = waha_sender(waha_peer.base_url, "groom", human_like=quiet)
    assert api("PUT", "/v1/senders/groom", sender).status == 200
    return waha_peer


def sent_key(api: Api, drain: Drain) -> tuple[str, str]:
    """Send one invitation from the groom: our id and WAHA's message key."""
    body = {"to": GUEST, "sender": "groom", "type": "text", "text": {"body": "Ciao!"}}
    message_id = api("POST", "/v1/messages", body).body["id"]
    drain()
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "sent"
    return message_id, message["provider_message_id"]


def test_wahas_documented_hmac_example() -> None:
    body = b'{"event":"message","session":"default","engine":"WEBJS"}'
    assert sign(body, "my-secret-key").startswith("208f8a55")


@pytest.mark.parametrize(
    "signature",
    ["", "0" * 128, sign(b"another body", "waha-test-hmac-key"), "not hex at all"],
)
def test_an_unsigned_or_badly_signed_event_is_refused_and_nothing_is_queued(
    services: Services, waha_webhook: Webhook, signature: str
) -> None:
    result = waha_webhook(envelope("message", inbound("RES-AB12CD")), signature=signature)
    assert result.status == 401 and result.body["error"]["code"] == "invalid_signature"
    assert ingest_depth(services) == 0


def test_a_key_other_than_ours_is_refused(services: Services, waha_webhook: Webhook) -> None:
    result = waha_webhook(envelope("message", inbound("hi")), key="someone-elses-key")
    assert result.status == 401 and ingest_depth(services) == 0


@pytest.mark.parametrize("how", UNSET)
def test_without_the_hmac_key_every_signature_is_a_401_and_nothing_is_queued(
    services: Services, waha_webhook: Webhook, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    # GIVEN WAHA's HMAC key is not set up in Secrets Manager
    name = os.environ["WAHA_HMAC_KEY_NAME"]
    unset_secret(name, how)
    # WHEN an event comes signed with the empty key, as anyone can sign, or with the key that
    # was meant to be there
    for key in ("", WAHA_HMAC_KEY):
        result = waha_webhook(envelope("message", inbound("RES-AB12CD")), key=key)
        # THEN it is a 401 in the one error shape
        assert result.status == 401, key
        assert result.headers["Content-Type"] == "application/json"
        assert result.body == {
            "error": {
                "code": "invalid_signature",
                "message": "The X-Webhook-Hmac header is missing or does not match the body.",
                "details": [],
            }
        }
    # AND nothing is queued, and the log names the secret to create
    assert ingest_depth(services) == 0
    assert_named_as_missing(name, caplog.records)


def test_a_base64_body_signed_over_its_bytes_is_accepted(
    services: Services, waha_webhook: Webhook
) -> None:
    # GIVEN an event WAHA signed over its bytes, sent under a type the function URL
    # base64-encodes
    raw = json.dumps(envelope("message", inbound("Ciao!")), separators=(",", ":")).encode()
    # WHEN it reaches the route THEN the signature holds over the decoded bytes
    assert waha_webhook(raw, base64_encoded=True).status == 200
    (queued,) = aws.sqs().receive_message(QueueUrl=services.settings.ingest_queue_url)["Messages"]
    assert queued["Body"] == raw.decode()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "unsupported_object"),
        (b'{"event": "message", "session": "groom"}', "invalid_field"),
        (b'{"id": 7, "event": "message", "session": "groom"}', "invalid_field"),
    ],
)
def test_a_signed_but_malformed_event_is_a_400_that_names_it(
    services: Services, waha_webhook: Webhook, body: bytes, code: str
) -> None:
    result = waha_webhook(body)
    assert result.status == 400 and result.body["error"]["code"] == code
    assert ingest_depth(services) == 0


def test_an_event_delivered_twice_is_processed_once(
    services: Services, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    event = envelope("message", inbound("Ciao, ci saremo! RES-AB12CD"))
    assert waha_webhook(event).status == 200
    assert waha_webhook(event).status == 200
    assert process() == []
    stored = services.inbox.get(inbound_key(event["payload"]["id"]))
    assert stored is not None and stored["from"] == GUEST and stored["sender"] == "groom"
    assert stored["profile_name"] == "Giulia"


@pytest.mark.parametrize(
    ("acks", "status"),
    [
        ([1], "sent"),
        ([1, 2], "delivered"),
        ([1, 2, 3], "read"),
        ([1, 2, 4], "read"),  # played (a voice note) counts as read
        ([-1], "failed"),
        ([0], "sent"),  # pending is no news
    ],
)
def test_acks_map_to_statuses(
    api: Api,
    drain: Drain,
    groom: WahaPeer,
    waha_webhook: Webhook,
    process: Process,
    acks: list[int],
    status: str,
) -> None:
    message_id, key = sent_key(api, drain)
    for number in acks:
        assert waha_webhook(envelope("message.ack", ack(key, number))).status == 200
    assert process() == []
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == status
    if status == "failed":
        assert "ack -1" in message["error"]["message"]


def test_acks_in_any_order_end_in_the_same_state(
    api: Api, drain: Drain, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    message_id, key = sent_key(api, drain)
    events = [envelope("message.ack", ack(key, n), at_ms=1_767_225_600_000 + n) for n in (1, 2, 3)]
    random.Random(7).shuffle(events)
    for event in events + events[:1]:  # and one repeated
        waha_webhook(event)
    assert process() == []
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "read"
    # WAHA's ack 1 (sent) repeats our record of the send, and is not written
    assert [e["phase"] for e in message["events"]][-3:] == [
        "provider_accepted",
        "delivered",
        "read",
    ]


def test_an_ack_for_a_message_we_never_sent_is_kept_as_an_orphan(
    services: Services, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    # An ack of a message typed on the phone itself, old enough not to be waited for
    old = envelope("message.ack", ack("3EB0FFFFFFFFFFFFFFFF", 2), at_ms=1_000_000_000_000)
    waha_webhook(old)
    assert process() == []
    assert services.inbox.get("orphan#3EB0FFFFFFFFFFFFFFFF#delivered") is not None


def test_a_message_with_a_code_becomes_a_reservation_request(
    api: Api, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    api("PUT", "/v1/reservation-codes/RES-AB12CD", {"experience_id": "wedding"})
    waha_webhook(envelope("message", inbound("Ci saremo in due, RES-AB12CD")))
    assert process() == []
    (request,) = api("GET", "/v1/reservations").body["items"]
    assert request["code"] == "RES-AB12CD" and request["from"] == GUEST


def test_a_group_message_is_its_participants_and_a_lid_becomes_a_phone(
    services: Services, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    group = inbound(
        "Auguri!",
        sender="120363025246125486@g.us",
        participant="393337654321@c.us",
    )
    lid = inbound(
        "Ci sono",
        sender="123456789012345@lid",
        _data={"key": {"remoteJidAlt": "393339999999@s.whatsapp.net"}, "notifyName": "Zia"},
    )
    unknown_lid = inbound("?", sender="987654321098765@lid")
    for payload in (group, lid, unknown_lid):
        waha_webhook(envelope("message", payload))
    assert process() == []
    from_group = services.inbox.get(inbound_key(group["id"]))
    assert from_group is not None and from_group["from"] == "393337654321"
    assert from_group["context"] == {"group": "120363025246125486@g.us"}
    from_lid = services.inbox.get(inbound_key(lid["id"]))
    assert from_lid is not None and from_lid["from"] == "393339999999"
    unresolved = services.inbox.get(inbound_key(unknown_lid["id"]))
    assert unresolved is not None and unresolved["from"] == "987654321098765@lid"


def test_session_status_pauses_and_resumes_the_sender_and_old_news_changes_nothing(
    api: Api, drain: Drain, groom: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    def status(name: str, at_ms: float) -> dict[str, Any]:
        payload = {"name": "groom", "status": name, "statuses": []}
        return envelope("session.status", payload, at_ms=at_ms)

    # WHEN the phone is unlinked: the sender pauses, and a message waits without an attempt
    waha_webhook(status("SCAN_QR_CODE", 2_000_000_000_000))
    assert process() == []
    sender = api("GET", "/v1/senders/groom").body
    assert sender["paused"] and "SCAN_QR_CODE" in sender["paused_reason"]
    assert sender["session_status"] == "SCAN_QR_CODE"
    body = {"to": GUEST, "sender": "groom", "type": "text", "text": {"body": "Ciao!"}}
    message_id = api("POST", "/v1/messages", body).body["id"]
    drain()
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "queued"
    # AND an older status arriving late changes nothing
    waha_webhook(status("WORKING", 1_000_000_000_000))
    assert process() == []
    assert api("GET", "/v1/senders/groom").body["paused"]
    # WHEN the QR code is scanned: WORKING resumes the sender and its message goes
    waha_webhook(status("WORKING", 2_000_000_000_001))
    assert process() == []
    assert not api("GET", "/v1/senders/groom").body["paused"]
    drain()
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "sent"


def test_an_event_for_an_unknown_session_is_counted_not_failed(
    services: Services, waha_webhook: Webhook, process: Process
) -> None:
    waha_webhook(envelope("message", inbound("hello"), session="nobody"))
    assert process() == []
    assert (
        aws.sqs().get_queue_attributes(
            QueueUrl=services.settings.ingest_queue_url, AttributeNames=["All"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )


def test_a_sender_made_just_before_its_sessions_first_event_hears_it(
    api: Api, waha_peer: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    # GIVEN a processor that has just read the senders (for another session's event)
    waha_webhook(envelope("message", inbound("hello"), session="nobody"))
    assert process() == []
    # WHEN a new phone's sender is made, and its session's first event comes a moment later
    waha_peer.add_session("studio", status="SCAN_QR_CODE")
    assert api("PUT", "/v1/senders/studio", waha_sender(waha_peer.base_url, "studio")).status == 200
    payload = {"name": "studio", "status": "SCAN_QR_CODE", "statuses": []}
    waha_webhook(envelope("session.status", payload, session="studio"))
    assert process() == []
    # THEN the event is the new sender's: its session waits for a QR code, and it is paused
    sender = api("GET", "/v1/senders/studio").body
    assert sender["session_status"] == "SCAN_QR_CODE" and sender["paused"], sender


def test_a_sender_the_drain_paused_for_its_session_sends_as_soon_as_it_works(
    api: Api, drain: Drain, waha_peer: WahaPeer, waha_webhook: Webhook, process: Process
) -> None:
    # GIVEN a message the drain held back because the phone was not paired yet
    waha_peer.add_session("groom", status="SCAN_QR_CODE")
    api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom"))
    body = {"to": GUEST, "sender": "groom", "type": "text", "text": {"body": "Ciao!"}}
    message_id = api("POST", "/v1/messages", body).body["id"]
    drain()
    assert api("GET", "/v1/senders/groom").body["paused"]
    # WHEN the phone is paired and WAHA says so, THEN the very next drain sends it (the drain's
    # earlier "not working" answer is not reused)
    waha_peer.set_session_status("groom", "WORKING")
    payload = {"name": "groom", "status": "WORKING", "statuses": []}
    waha_webhook(envelope("session.status", payload))
    assert process() == []
    drain()
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "sent"


def test_a_phone_paired_while_the_drain_asks_is_not_paused_on_the_old_answer(
    api: Api,
    services: Services,
    drain: Drain,
    waha_peer: WahaPeer,
    waha_webhook: Webhook,
    process: Process,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a phone being paired just as the drain asks WAHA about its session
    waha_peer.add_session("groom", status="SCAN_QR_CODE")
    api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom"))
    body = {"to": GUEST, "sender": "groom", "type": "text", "text": {"body": "Ciao!"}}
    message_id = api("POST", "/v1/messages", body).body["id"]
    ask = services.provider.waha.warm

    def asked_then_paired(sender: Any) -> Any:
        answer = ask(sender)  # SCAN_QR_CODE
        waha_peer.set_session_status("groom", "WORKING")
        payload = {"name": "groom", "status": "WORKING", "statuses": []}
        waha_webhook(envelope("session.status", payload))
        assert process() == []  # WORKING lands before the drain acts on its answer
        return answer

    monkeypatch.setattr(services.provider.waha, "warm", asked_then_paired)
    drain()
    monkeypatch.undo()
    # THEN the sender is not paused on the old answer, and its message goes
    assert not api("GET", "/v1/senders/groom").body["paused"]
    drain()
    assert api("GET", f"/v1/messages/{message_id}").body["status"] == "sent"
