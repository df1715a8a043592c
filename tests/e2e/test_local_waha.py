"""A wedding on `make run`'s stack: two phones of the test's own, paired through the WAHA sandbox
(the seeded groom and bride stay as a newcomer finds them, for the demo and the dashboard)."""

import uuid

import httpx

from tests.e2e.conftest import Stack, fresh_number, new_phone, scan, session_status, until

HUMAN_PHASES = ["reading", "waiting_human", "typing", "sending", "provider_accepted"]
TEXT = "Marco e Sara si sposano il 12 giugno: ci sarai? 💍"


def status(stack: Stack, path: str) -> str:
    found: str = stack.call("GET", path).json()["status"]
    return found


def phases(stack: Stack, path: str) -> list[str]:
    return [e["phase"] for e in stack.call("GET", path).json()["events"]]


def paired_phone(stack: Stack, role: str) -> str:
    """A phone of its own, paired the way a person does it: the QR code shown, then scanned."""
    sender = new_phone(stack, role)
    qr = stack.call("GET", f"/v1/senders/{sender}/session/qr", headers={"Accept": "image/png"})
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    scan(stack, sender)
    return sender


def test_both_phones_pair_and_invite_with_human_phases(stack: Stack) -> None:
    # GIVEN the couple's two phones, each paired, and a guest for each
    guests = {paired_phone(stack, role): fresh_number() for role in ("groom", "bride")}
    # WHEN each invites its guest
    ids = {}
    for sender, guest in guests.items():
        body = {"to": guest, "sender": sender, "type": "text", "text": {"body": TEXT}}
        answer = stack.call("POST", "/v1/messages", body)
        assert answer.status_code == 202, answer.text
        ids[sender] = answer.json()["id"]
    # THEN each invitation is read, after a person's gestures
    for message_id in ids.values():
        path = f"/v1/messages/{message_id}"
        assert until(lambda: status(stack, path) == "read", seconds=60)  # noqa: B023
        timeline = phases(stack, path)
        start = timeline.index("reading")
        assert timeline[start : start + 5] == HUMAN_PHASES
        # WAHA's ack 1 (sent) repeats provider_accepted and is not written
        assert timeline[-3:] == ["provider_accepted", "delivered", "read"]
    # AND WAHA saw only requests its published description allows
    log = httpx.get(f"{stack.waha}/_sandbox/waha/requests").json()["requests"]
    assert log and all(r["problems"] == [] for r in log)
    # AND, in WAHA's own log, a person's pace: read, think 2 to 4 s, type for as long as the
    # text takes at 12 characters a second, then send (a second of slack for each request)
    chat = f"{next(iter(guests.values())).lstrip('+')}@c.us"
    steps = [(r["path"], r["at"]) for r in log if (r["body"] or {}).get("chatId") == chat]
    assert [path for path, _ in steps] == [
        "/api/sendSeen",
        "/api/startTyping",
        "/api/stopTyping",
        "/api/sendText",
    ]
    seen, typing, typed, sent = (at for _, at in steps)
    assert 2.0 <= typing - seen <= 4.0 + 1
    expected = len(TEXT) / 12
    assert expected <= typed - typing <= expected + 1
    assert 0 <= sent - typed <= 1


def test_a_message_before_pairing_waits_and_goes_once_the_phone_is_paired(stack: Stack) -> None:
    # GIVEN the bride's phone unlinked (logged out): its session waits for a QR code again
    bride = paired_phone(stack, "bride")
    assert stack.call("POST", f"/v1/senders/{bride}/session/logout").status_code == 200
    body = {"to": fresh_number(), "sender": bride, "type": "text", "text": {"body": "Ciao!"}}
    message_id = stack.call("POST", "/v1/messages", body).json()["id"]
    path = f"/v1/messages/{message_id}"
    # (the drain's own pause, on the message's timeline: a pause by the session's webhook alone
    # could come first, and the drain's pause land after the scan below had resumed the sender)
    assert until(lambda: "sender_paused" in phases(stack, path))
    assert stack.call("GET", f"/v1/senders/{bride}").json()["paused"]
    assert stack.call("GET", path).json()["status"] == "queued"
    # WHEN the phone scans the new QR code, THEN the sender resumes and the message goes
    assert session_status(stack, bride) == "SCAN_QR_CODE"
    scan(stack, bride)
    assert until(lambda: stack.call("GET", path).json()["status"] == "read", seconds=60)


def test_a_guest_writing_a_code_to_a_phone_becomes_a_reservation(stack: Stack) -> None:
    # GIVEN the groom's phone, paired, and a code registered for the wedding
    groom = paired_phone(stack, "groom")
    code, guest = f"RES-{uuid.uuid4().hex[:6].upper()}", fresh_number().lstrip("+")
    registered = stack.call("PUT", f"/v1/reservation-codes/{code}", {"experience_id": "wedding"})
    assert registered.status_code == 200, registered.text
    # WHEN a guest writes the code to the groom's phone
    wrote = {"session": groom, "from": guest, "text": f"Ci sarò! {code}"}
    assert httpx.post(f"{stack.waha}/_sandbox/waha/inbound", json=wrote).status_code == 200

    # THEN it becomes a reservation request from the guest
    def request() -> object:
        items = stack.call("GET", "/v1/reservations").json()["items"]
        return next((r for r in items if r["code"] == code), None)

    found = until(request)
    assert found and found["from"] == guest
