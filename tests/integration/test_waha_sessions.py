"""A WAHA sender's session on the send API: status, QR code, start, restart, logout, test."""

import base64
from collections.abc import Callable
from typing import Any

import pytest

from local.waha_peer import WahaPeer
from tests.support.events import HttpResult
from tests.support.waha import GUEST, waha_sender

Api = Callable[..., HttpResult]
Drain = Callable[..., dict[str, Any]]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bride(api: Api, waha_peer: WahaPeer) -> WahaPeer:
    waha_peer.add_session("bride", status="SCAN_QR_CODE", phone="393470000002", push_name="Sara")
    assert api("PUT", "/v1/senders/bride", waha_sender(waha_peer.base_url, "bride")).status == 200
    return waha_peer


def test_pairing_a_phone_from_qr_to_working(api: Api, bride: WahaPeer) -> None:
    # GIVEN a session waiting for its QR code
    session = api("GET", "/v1/senders/bride/session").body
    assert session == {"sender": "bride", "session": "bride", "status": "SCAN_QR_CODE", "me": None}
    # WHEN the user asks for the QR code, as an image or as JSON
    png = api("GET", "/v1/senders/bride/session/qr", headers={"Accept": "image/png"})
    assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    assert base64.b64decode(png.body).startswith(PNG_SIGNATURE)
    as_json = api("GET", "/v1/senders/bride/session/qr", headers={"Accept": "application/json"})
    assert as_json.body["mimetype"] == "image/png"
    assert base64.b64decode(as_json.body["data"]).startswith(PNG_SIGNATURE)
    # AND scans it from the phone
    bride.scan("bride")
    # THEN the session works, with the paired account
    session = api("GET", "/v1/senders/bride/session").body
    assert session["status"] == "WORKING"
    assert session["me"]["id"] == "393470000002@c.us" and session["me"]["push_name"] == "Sara"
    assert api("GET", "/v1/senders/bride").body["session_status"] == "WORKING"
    # AND a QR code is no longer there to have: WAHA's refusal in our words
    gone = api("GET", "/v1/senders/bride/session/qr")
    assert gone.status == 409 and gone.body["error"]["code"] == "session_not_ready"


def test_start_restart_and_logout(api: Api, bride: WahaPeer) -> None:
    bride.set_session_status("bride", "STOPPED")
    started = api("POST", "/v1/senders/bride/session/start")
    assert started.status == 200 and started.body["status"] in ("STARTING", "SCAN_QR_CODE")
    bride.set_session_status("bride", "SCAN_QR_CODE")
    first = api("GET", "/v1/senders/bride/session/qr", headers={"Accept": "application/json"})
    assert api("POST", "/v1/senders/bride/session/restart").status == 200
    bride.set_session_status("bride", "SCAN_QR_CODE")
    fresh = api("GET", "/v1/senders/bride/session/qr", headers={"Accept": "application/json"})
    assert fresh.body["data"] != first.body["data"]
    bride.scan("bride")
    logged_out = api("POST", "/v1/senders/bride/session/logout")
    assert logged_out.status == 200 and logged_out.body["me"] is None
    paths = [(r.method, r.path.split("?")[0]) for r in bride.requests]
    assert ("POST", "/api/sessions/bride/start") in paths
    assert ("POST", "/api/sessions/bride/restart") in paths
    assert ("POST", "/api/sessions/bride/logout") in paths
    assert all(r.problems == [] for r in bride.requests)


def test_session_actions_record_the_callers_key_id(api: Api, bride: WahaPeer) -> None:
    bride.set_session_status("bride", "STOPPED")
    # WHEN one system starts the session and another restarts it, then logs it out
    api("POST", "/v1/senders/bride/session/start", api_key_id="crm0key111")
    assert api("GET", "/v1/senders/bride").body["updated_by"] == "crm0key111"
    for action in ("restart", "logout"):
        assert api("POST", f"/v1/senders/bride/session/{action}", api_key_id=action).status == 200
        # THEN the sender names the key of the last action
        assert api("GET", "/v1/senders/bride").body["updated_by"] == action
    # AND a test message's timeline names the key that asked for it
    test = {"to": f"+{GUEST}", "text": "Prova"}
    queued = api("POST", "/v1/senders/bride/session/test", test, api_key_id="tester")
    accepted = api("GET", f"/v1/messages/{queued.body['id']}").body["events"][0]
    assert accepted["phase"] == "accepted" and accepted["api_key_id"] == "tester"


def test_a_test_message_goes_through_the_queue(api: Api, drain: Drain, bride: WahaPeer) -> None:
    bride.scan("bride")
    queued = api("POST", "/v1/senders/bride/session/test", {"to": f"+{GUEST}", "text": "Prova"})
    assert queued.status == 202 and queued.body["reference"] == "session-test"
    drain()
    assert api("GET", f"/v1/messages/{queued.body['id']}").body["status"] == "sent"
    assert bride.requests[-1].body["text"] == "Prova"


def test_wahas_errors_in_words_a_person_understands(api: Api, waha_peer: WahaPeer) -> None:
    # A WAHA nobody answers at: 503, saying so
    api("PUT", "/v1/senders/bride", waha_sender("http://127.0.0.1:9", "bride"))
    down = api("GET", "/v1/senders/bride/session")
    assert down.status == 503 and down.body["error"]["code"] == "waha_unreachable"
    assert "did not answer" in down.body["error"]["message"]
    # A session WAHA does not have: 404 with the way out
    api("PUT", "/v1/senders/bride", waha_sender(waha_peer.base_url, "bride"))
    missing = api("GET", "/v1/senders/bride/session")
    assert missing.status == 404 and "session/start" in missing.body["error"]["message"]
    # A key WAHA refuses
    waha_peer.add_session("bride")
    waha_peer.api_key = "rotated"
    refused = api("GET", "/v1/senders/bride/session")
    assert refused.status == 502 and refused.body["error"]["code"] == "waha_unauthorized"
    # A Cloud API sender has no session
    cloud = api("GET", "/v1/senders/default/session")
    assert cloud.status == 409 and cloud.body["error"]["code"] == "not_a_waha_sender"
    # The session test needs a text
    bad = api("POST", "/v1/senders/bride/session/test", {"to": GUEST})
    assert bad.status == 422


def test_a_waha_sender_is_shown_with_its_settings(api: Api, bride: WahaPeer) -> None:
    sender = api("GET", "/v1/senders/bride").body
    assert sender["provider"] == "waha" and sender["session"] == "bride"
    assert sender["limits"] == [
        {"max": 10, "per_seconds": 3600},
        {"max": 50, "per_seconds": 86400},
    ]
    assert sender["pair_limit"] == {"max": 4, "per_seconds": 3600}
    assert sender["human_like"]["think_seconds"] == {"min": 2.0, "max": 4.0}
    assert sender["phone_number_id"] is None
    too_slow = waha_sender(
        bride.base_url, "bride", human_like={"think_seconds": {"min": 10, "max": 12}}
    )
    refused = api("PUT", "/v1/senders/bride", too_slow)
    assert refused.status == 422 and "15" in refused.body["error"]["message"]
