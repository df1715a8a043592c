"""The wedding of the seeds on `make run`'s stack: two phones paired through the WAHA sandbox."""

import httpx

from tests.e2e.conftest import Stack, until

HUMAN_PHASES = ["reading", "waiting_human", "typing", "sending", "provider_accepted"]
TEXT = "Marco e Sara si sposano il 12 giugno: ci sarai? 💍"


def status(stack: Stack, path: str) -> str:
    found: str = stack.call("GET", path).json()["status"]
    return found


def pair(stack: Stack, sender: str) -> None:
    answer = stack.call("GET", f"/v1/senders/{sender}/session")
    assert answer.status_code == 200, answer.text
    session = answer.json()
    if session["status"] == "WORKING":
        return
    assert session["status"] == "SCAN_QR_CODE"
    qr = stack.call("GET", f"/v1/senders/{sender}/session/qr", headers={"Accept": "image/png"})
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    assert httpx.post(f"{stack.waha}/_sandbox/waha/{sender}/scan").status_code == 200
    assert until(
        lambda: stack.call("GET", f"/v1/senders/{sender}/session").json()["status"] == "WORKING"
    )


def test_both_phones_pair_and_invite_with_human_phases(stack: Stack) -> None:
    ids = {}
    for sender, guest in (("groom", "+393331119999"), ("bride", "+393334449999")):
        pair(stack, sender)
        body = {"to": guest, "sender": sender, "type": "text", "text": {"body": TEXT}}
        answer = stack.call("POST", "/v1/messages", body)
        assert answer.status_code == 202, answer.text
        ids[sender] = answer.json()["id"]
    for message_id in ids.values():
        path = f"/v1/messages/{message_id}"
        # (a 30 to 60 s gap follows each phone's previous send: the demo may have sent one)
        assert until(lambda: status(stack, path) == "read", seconds=150)  # noqa: B023
        phases = [e["phase"] for e in stack.call("GET", path).json()["events"]]
        start = phases.index("reading")
        assert phases[start : start + 5] == HUMAN_PHASES
        # WAHA's ack 1 (sent) repeats provider_accepted and is not written
        assert phases[-3:] == ["provider_accepted", "delivered", "read"]
    # AND WAHA saw only requests its published description allows
    log = httpx.get(f"{stack.waha}/_sandbox/waha/requests").json()["requests"]
    assert log and all(r["problems"] == [] for r in log)
    # AND, in WAHA's own log, a person's pace: read, think 2 to 4 s, type for as long as the
    # text takes at 12 characters a second, then send (a second of slack for each request)
    chat = "393331119999@c.us"
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
    pair(stack, "bride")
    assert stack.call("POST", "/v1/senders/bride/session/logout").status_code == 200
    body = {"to": "+393336667777", "sender": "bride", "type": "text", "text": {"body": "Ciao!"}}
    message_id = stack.call("POST", "/v1/messages", body).json()["id"]
    path = f"/v1/messages/{message_id}"
    assert until(lambda: stack.call("GET", "/v1/senders/bride").json()["paused"])
    assert stack.call("GET", path).json()["status"] == "queued"
    # WHEN the phone scans the new QR code, THEN the sender resumes and the message goes (after
    # the 30 to 60 s gap that follows the bride's previous send, if she sent one just before)
    pair(stack, "bride")
    assert until(lambda: stack.call("GET", path).json()["status"] == "read", seconds=150)


def test_a_guest_writing_a_code_to_a_phone_becomes_a_reservation(stack: Stack) -> None:
    pair(stack, "groom")
    stack.call("PUT", "/v1/reservation-codes/RES-WED001", {"experience_id": "wedding"})
    guest = {"session": "groom", "from": "393338889999", "text": "Ci sarò! RES-WED001"}
    assert httpx.post(f"{stack.waha}/_sandbox/waha/inbound", json=guest).status_code == 200

    def request() -> object:
        items = stack.call("GET", "/v1/reservations").json()["items"]
        return next((r for r in items if r["code"] == "RES-WED001"), None)

    found = until(request)
    assert found and found["from"] == "393338889999"
