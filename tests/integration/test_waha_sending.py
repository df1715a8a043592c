"""Sending through WAHA: the human-like flow, engines' answers, groups, and session states.

The drain runs on a FakeClock, so the flow's waits (think, typing) take no real time; the WAHA
fake checks every request against WAHA's published OpenAPI description.
"""

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from local.waha_peer import WahaFault, WahaPeer
from postino.clock import FakeClock
from postino.drain.drainer import Drainer
from postino.drain.targets import DrainTarget
from postino.services import Services
from tests.support.events import HttpResult
from tests.support.waha import GUEST, waha_sender

Api = Callable[..., HttpResult]
INVITATION = "Ciao Giulia! Marco e Sara si sposano il 12 giugno: ci sarai? 💍"


def invite(to: str = f"+{GUEST}", sender: str = "groom", text: str = INVITATION) -> dict[str, Any]:
    return {"to": to, "sender": sender, "type": "text", "text": {"body": text}}


def at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()


def sent_paths(peer: WahaPeer) -> list[str]:
    return [r.path for r in peer.requests if r.method == "POST"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(make_services: Callable[..., Services], clock: FakeClock) -> Services:
    return make_services(clock)


@pytest.fixture
def groom(api: Api, waha_peer: WahaPeer) -> WahaPeer:
    waha_peer.add_session("groom", status="WORKING")
    assert api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom")).status == 200
    return waha_peer


def drain_once(services: Services, clock: FakeClock, seconds: float = 60) -> dict[str, Any]:
    """Each sender's drainer in turn; their reports summed."""
    total: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for sender in services.senders.all():
        report = Drainer(services, DrainTarget(sender.name)).run(
            clock.now() + seconds, use_lease=False
        )
        total.update({k: v for k, v in report.__dict__.items() if type(v) is int})
        outcomes.update(report.outcomes)
    return {**total, "outcomes": dict(outcomes)}


def test_a_waha_send_reads_thinks_types_and_sends_in_that_order(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer
) -> None:
    # GIVEN an invitation from the groom's phone
    message_id = api("POST", "/v1/messages", invite()).body["id"]
    # WHEN the drain sends it
    assert drain_once(services, clock)["sent"] == 1
    # THEN WAHA saw a person's gestures, each request valid against its spec
    assert sent_paths(groom) == [
        "/api/sendSeen",
        "/api/startTyping",
        "/api/stopTyping",
        "/api/sendText",
    ]
    assert all(r.problems == [] for r in groom.requests)
    send = groom.requests[-1].body
    assert send["chatId"] == f"{GUEST}@c.us" and send["session"] == "groom"
    assert send["text"] == INVITATION
    # AND the timeline shows each phase, with the waits the sender's settings ask for
    message = api("GET", f"/v1/messages/{message_id}").body
    events = message["events"]
    assert [e["phase"] for e in events] == [
        "accepted",
        "queued",
        "sending",
        "reading",
        "waiting_human",
        "typing",
        "sending",
        "provider_accepted",
    ]
    # (the drain's own idle pauses move the fake clock too, by a fraction of a second; and the
    # timeline keeps milliseconds, so a difference of two times may read up to 1 ms short)
    think = at(events[5]) - at(events[4])
    typing = at(events[6]) - at(events[5])
    assert 2.0 - 0.001 <= think <= 4.0 + 0.5  # think_seconds 2 to 4 by default
    expected_typing = min(len(INVITATION) / 12, 8)  # 12 characters a second, at most 8 s
    assert expected_typing - 0.001 <= typing <= expected_typing + 0.5
    assert message["status"] == "sent" and message["attempts"] == 1


def test_a_sender_without_human_gestures_sends_at_once(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer
) -> None:
    quiet = {"send_seen": False, "typing": False, "think_seconds": {"min": 0, "max": 0}}
    api("PUT", "/v1/senders/groom", waha_sender(groom.base_url, "groom", human_like=quiet))
    api("POST", "/v1/messages", invite())
    drain_once(services, clock)
    assert sent_paths(groom) == ["/api/sendText"]


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB", "GOWS"])
def test_each_engines_answer_gives_one_provider_message_id(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer, engine: Any
) -> None:
    groom.engine = engine
    message_id = api("POST", "/v1/messages", invite()).body["id"]
    drain_once(services, clock)
    answer = groom.requests[-1].response
    key = {
        "WEBJS": lambda: answer["id"]["id"],
        "NOWEB": lambda: answer["key"]["id"],
        "GOWS": lambda: answer["id"].rsplit("_", 1)[1],
    }[engine]()
    assert api("GET", f"/v1/messages/{message_id}").body["provider_message_id"] == key


def test_media_goes_by_link_with_its_caption(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer
) -> None:
    photo = {"link": "https://example.com/venue.jpg", "caption": "La villa"}
    api("POST", "/v1/messages", {"to": GUEST, "sender": "groom", "type": "image", "image": photo})
    pdf = {"link": "https://example.com/programme.pdf", "filename": "programme.pdf"}
    api(
        "POST",
        "/v1/messages",
        {"to": GUEST, "sender": "groom", "type": "document", "document": pdf},
    )
    drain_once(services, clock)
    # (two sends of one sender without a gap may reach WAHA in either order)
    (image,) = [r.body for r in groom.requests if r.path == "/api/sendImage"]
    (document,) = [r.body for r in groom.requests if r.path == "/api/sendFile"]
    assert image["file"] == {"mimetype": "image/jpeg", "url": photo["link"]}
    assert image["caption"] == "La villa"
    assert document["file"]["filename"] == "programme.pdf"
    assert all(r.problems == [] for r in groom.requests)


def test_a_group_is_a_recipient_for_waha_only(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer
) -> None:
    group = "120363025246125486@g.us"
    assert api("POST", "/v1/messages", invite(to=group)).status == 202
    drain_once(services, clock)
    assert groom.requests[-1].body["chatId"] == group
    # A Cloud API sender cannot reach a group, and says so
    refused = api("POST", "/v1/messages", invite(to=group, sender="default"))
    assert refused.status == 422 and refused.body["error"]["code"] == "group_needs_waha"
    bad = api("POST", "/v1/messages", invite(to="12@g.us"))
    assert bad.status == 422


def test_what_waha_cannot_send_is_refused_at_the_door(api: Api, groom: WahaPeer) -> None:
    template = {"name": "hello_world", "language": {"code": "en_US"}}
    refused = api(
        "POST",
        "/v1/messages",
        {"to": GUEST, "sender": "groom", "type": "template", "template": template},
    )
    assert refused.status == 422 and refused.body["error"]["code"] == "unsupported_by_provider"
    by_id = api(
        "POST",
        "/v1/messages",
        {"to": GUEST, "sender": "groom", "type": "image", "image": {"id": "123"}},
    )
    assert by_id.status == 422 and "link" in by_id.body["error"]["message"]
    assert groom.requests == []


@pytest.mark.parametrize("status", ["SCAN_QR_CODE", "STARTING", "FAILED", "STOPPED"])
def test_a_session_that_is_not_working_pauses_the_sender_without_spending_attempts(
    api: Api, services: Services, clock: FakeClock, waha_peer: WahaPeer, status: str
) -> None:
    waha_peer.add_session("groom", status=status)
    api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom"))
    message_id = api("POST", "/v1/messages", invite()).body["id"]
    drain_once(services, clock)
    # THEN nothing was sent, the sender waits with the session's status as its reason
    assert sent_paths(waha_peer) == []
    sender = api("GET", "/v1/senders/groom").body
    assert sender["paused"] and status in sender["paused_reason"]
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "queued" and message["attempts"] == 0
    assert message["events"][-1]["phase"] == "sender_paused"


def test_a_refused_api_key_pauses_the_sender_with_a_reason(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer
) -> None:
    groom.api_key = "rotated-key"
    message_id = api("POST", "/v1/messages", invite()).body["id"]
    drain_once(services, clock)
    sender = api("GET", "/v1/senders/groom").body
    assert sender["paused"] and "API key" in sender["paused_reason"]
    assert api("GET", f"/v1/messages/{message_id}").body["attempts"] == 0


def test_waha_failing_or_unreachable_means_a_retry(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer
) -> None:
    groom.add_fault(WahaFault(status=500, path="/api/sendText"))
    failing = api("POST", "/v1/messages", invite()).body["id"]
    drain_once(services, clock)
    assert retried(api("GET", f"/v1/messages/{failing}").body)
    # AND a WAHA nobody answers at: the send is retried, the sender is not paused
    api("PUT", "/v1/senders/bride", waha_sender("http://127.0.0.1:9", "bride"))
    gone = api("POST", "/v1/messages", invite(sender="bride")).body["id"]
    drain_once(services, clock)
    phases = [e["phase"] for e in api("GET", f"/v1/messages/{gone}").body["events"]]
    assert "retry_scheduled" in phases and "provider_accepted" not in phases
    assert not api("GET", "/v1/senders/bride").body["paused"]


def retried(message: dict[str, Any]) -> bool:
    """A retry was scheduled, and the message waits for it, or was sent by it (the retry waits
    2-4 s of real time: on a slow machine the same drain is still there when it comes due)."""
    phases: list[str] = [e["phase"] for e in message["events"]]
    if message["status"] == "queued":
        return phases[-1] == "retry_scheduled"
    resent = message["status"] == "sent"
    return resent and phases.index("retry_scheduled") < phases.index("provider_accepted")


def test_two_senders_cannot_share_a_session(api: Api, groom: WahaPeer) -> None:
    taken = api("PUT", "/v1/senders/bride", waha_sender(groom.base_url, "groom"))
    assert taken.status == 409 and taken.body["error"]["code"] == "session_in_use"


def test_a_random_gap_separates_two_sends_of_a_waha_sender(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer
) -> None:
    api(
        "PUT",
        "/v1/senders/groom",
        waha_sender(groom.base_url, "groom", gap_seconds={"min": 30, "max": 60}),
    )
    first = api("POST", "/v1/messages", invite()).body["id"]
    second = api("POST", "/v1/messages", invite(to="+393337654321")).body["id"]
    drain_once(services, clock, seconds=5)
    statuses = {api("GET", f"/v1/messages/{m}").body["status"] for m in (first, second)}
    # THEN one went, the other waits for a slot at least 30 s after it
    assert statuses == {"sent", "queued"}
    waiting = next(
        api("GET", f"/v1/messages/{m}").body
        for m in (first, second)
        if api("GET", f"/v1/messages/{m}").body["status"] == "queued"
    )
    (limited,) = [e for e in waiting["events"] if e["phase"] == "rate_limited"]
    next_slot = datetime.fromisoformat(limited["detail"]["next_slot_at"].replace("Z", "+00:00"))
    assert 30 <= next_slot.timestamp() - at(limited) <= 61


def test_a_send_that_wakes_late_keeps_its_turn_despite_the_gap(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a phone that keeps 30 to 60 s between two sends, and a machine so loaded that the
    # first send's thread wakes a second late for its slot (its second sleep: after the claim)
    api(
        "PUT",
        "/v1/senders/groom",
        waha_sender(groom.base_url, "groom", gap_seconds={"min": 30, "max": 60}),
    )
    real_sleep = clock.sleep
    sleeps: list[float] = []

    def oversleep(seconds: float) -> None:
        real_sleep(seconds)
        if threading.current_thread().name.startswith("send"):
            sleeps.append(seconds)
            if len(sleeps) == 2:
                real_sleep(1.0)

    monkeypatch.setattr(clock, "sleep", oversleep)
    message_id = api("POST", "/v1/messages", invite()).body["id"]
    # WHEN the drain runs
    report = drain_once(services, clock, seconds=5)
    # THEN the send reserves again at once: the gap its late slot set is given back with it,
    # so it neither waits 30 s behind its own gap nor lets a later message take its turn
    assert report["late_wakeups"] == 1 and report["missed_slot"] == 0, report
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "sent"
    assert "rate_limited" not in [e["phase"] for e in message["events"]]


def test_a_message_held_by_its_recipients_limit_leaves_the_gap_to_the_next(
    api: Api, services: Services, clock: FakeClock, groom: WahaPeer
) -> None:
    # GIVEN a phone that keeps 30 to 60 s between sends and one message an hour to a person,
    # and a guest who had one a minute ago
    settings = {"gap_seconds": {"min": 30, "max": 60}}
    settings["per_contact_limit"] = {"max": 1, "per_seconds": 3600}
    api("PUT", "/v1/senders/groom", waha_sender(groom.base_url, "groom", **settings))
    api("POST", "/v1/messages", invite())
    assert drain_once(services, clock, seconds=5)["sent"] == 1
    clock.advance(61)
    # WHEN a second message to that guest waits for its hour
    again = api("POST", "/v1/messages", invite()).body["id"]
    assert drain_once(services, clock, seconds=5)["sent"] == 0
    # THEN a message to someone else goes at once: the first one's slot was given back
    other = api("POST", "/v1/messages", invite(to="+393337654321")).body["id"]
    assert drain_once(services, clock, seconds=5)["sent"] == 1
    assert api("GET", f"/v1/messages/{other}").body["status"] == "sent"
    assert api("GET", f"/v1/messages/{again}").body["status"] == "queued"
