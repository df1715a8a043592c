"""`postino session`, `pair` and `inbox` against an API faked with httpx's MockTransport: what
each asks the API, in what order, and what it prints."""

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from local.waha_peer.replies import qr_png
from postino_cli import sessions
from postino_cli.client import REFUSED
from postino_cli.conversations import window_left
from tests.support.cli_api import FakeApi, run_against_fake

SESSION = "/v1/senders/bride/session"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def state(status: str, me: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"sender": "bride", "session": "bride", "status": status, "me": me}


def qr_answer(text: str) -> dict[str, str]:
    return {"mimetype": "image/png", "data": base64.b64encode(qr_png(text)).decode()}


SARA = {"id": "393470000002@c.us", "push_name": "Sara"}


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(sessions, "PAIR_POLL_SECONDS", 0.0)
    return run_against_fake(monkeypatch)


def test_pair_starts_a_stopped_session_and_draws_each_new_code_until_working(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stopped session, whose QR code WAHA replaces once before the phone scans it
    api = FakeApi(
        {
            ("GET", SESSION): [
                (200, state("STOPPED")),
                (200, state("SCAN_QR_CODE")),
                (200, state("SCAN_QR_CODE")),
                (200, state("SCAN_QR_CODE")),
                (200, state("WORKING", SARA)),
            ],
            ("POST", f"{SESSION}/start"): [(200, state("STARTING"))],
            ("GET", f"{SESSION}/qr"): [
                (200, qr_answer("2@first")),
                (200, qr_answer("2@first")),
                (200, qr_answer("2@second")),
            ],
        }
    )
    # WHEN the user pairs it
    assert run(api, "pair", "bride") == 0
    out = capsys.readouterr().out
    # THEN it was started once, and each code was drawn once, the same code not again
    assert api.asked.count(f"POST {SESSION}/start") == 1
    assert out.count(sessions.SCAN_HINT) == 2
    codes = out.split(sessions.SCAN_HINT)[:2]
    assert codes[0].strip() != codes[1].strip() and "█" in codes[0]
    # AND it ends with the paired account
    assert out.splitlines()[-1] == "paired: bride  session bride  WORKING  393470000002@c.us Sara"


def test_pair_creates_a_session_waha_has_never_seen(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a new phone: WAHA has no session by the sender's name (the API's 404 says so)
    unknown = {"error": {"code": "session_not_found", "message": "WAHA has no session 'bride'."}}
    api = FakeApi(
        {
            ("GET", SESSION): [(404, unknown), (200, state("WORKING", SARA))],
            ("POST", f"{SESSION}/start"): [(200, state("STARTING"))],
        }
    )
    # WHEN the user pairs it, THEN it is started (created), and pairing goes on to WORKING
    assert run(api, "pair", "bride") == 0
    assert api.asked == [f"GET {SESSION}", f"POST {SESSION}/start", f"GET {SESSION}"]


def test_pair_on_a_paired_session_starts_nothing(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi({("GET", SESSION): [(200, state("WORKING", SARA))]})
    assert run(api, "pair", "bride") == 0
    assert api.asked == [f"GET {SESSION}"]
    assert capsys.readouterr().out.startswith("paired: ")


def test_a_code_gone_between_two_reads_is_not_an_error(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the phone scans between the status read and the QR read (WAHA's 409 in our words)
    not_ready = {"error": {"code": "session_not_ready", "message": "The session is WORKING."}}
    api = FakeApi(
        {
            ("GET", SESSION): [(200, state("SCAN_QR_CODE")), (200, state("WORKING", SARA))],
            ("GET", f"{SESSION}/qr"): [(409, not_ready)],
        }
    )
    # THEN pairing goes on to the next status read, and ends paired
    assert run(api, "pair", "bride") == 0
    assert sessions.SCAN_HINT not in capsys.readouterr().out


def test_pair_gives_up_on_a_session_that_cannot_pair_or_is_never_scanned(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = FakeApi(
        {
            ("GET", SESSION): [(200, state("STOPPED")), (200, state("FAILED"))],
            ("POST", f"{SESSION}/start"): [(200, state("STARTING"))],
        }
    )
    assert run(failing, "pair", "bride") == REFUSED
    assert "The session is FAILED" in capsys.readouterr().err
    never = FakeApi(
        {
            ("GET", SESSION): [(200, state("SCAN_QR_CODE"))],
            ("GET", f"{SESSION}/qr"): [(200, qr_answer("2@x"))],
        }
    )
    assert run(never, "pair", "bride", "--timeout", "0") == REFUSED
    assert "Not paired within 0 s" in capsys.readouterr().err


def test_session_shows_the_paired_accounts_name(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The API names it push_name; the line once read WAHA's pushName and showed no name.
    api = FakeApi({("GET", SESSION): [(200, state("WORKING", SARA))]})
    assert run(api, "session", "bride") == 0
    assert capsys.readouterr().out.strip().endswith("393470000002@c.us Sara")


def test_session_start_is_an_action(run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({("POST", f"{SESSION}/start"): [(200, state("STARTING"))]})
    assert run(api, "session", "bride", "start") == 0
    assert capsys.readouterr().out.split()[-1] == "STARTING"


# --- inbox -------------------------------------------------------------------------------------


def conversation(contact: str, unread: int, window: str | None) -> dict[str, Any]:
    return {
        "sender": "default",
        "contact": contact,
        "name": None,
        "last_message": None,
        "last_inbound_at": None,
        "window_open_until": window,
        "unread": unread,
    }


def test_the_inbox_lists_unread_conversations_with_their_window(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    unread = conversation("393331110001", 2, "2099-01-01T00:00:00.000Z")
    read = conversation("393331110002", 0, None)
    page = {"items": [unread, read], "next_cursor": None}
    api = FakeApi({("GET", "/v1/conversations"): [(200, page)]})
    assert run(api, "inbox") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["sender", "contact", "name", "unread", "window"]
    assert len(lines) == 2 and "393331110001" in lines[1] and lines[1].split()[2] == "2"
    assert run(api, "inbox", "--all", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 2
    all_read = FakeApi({("GET", "/v1/conversations"): [(200, {"items": [read]})]})
    assert run(all_read, "inbox") == 0
    assert capsys.readouterr().out.strip() == "no unread conversation among the 1 newest"


@pytest.mark.parametrize(
    ("open_until", "shown"),
    [
        ("2026-11-26T11:47:30.000Z", "23h 47m"),
        ("2026-11-25T12:04:59.000Z", "4m"),
        ("2026-11-25T12:00:00.000Z", "closed"),
        ("2026-11-24T12:00:00.000Z", "closed"),
        (None, ""),
    ],
)
def test_the_window_left_is_hours_and_minutes_or_closed(open_until: str | None, shown: str) -> None:
    assert window_left(open_until, NOW) == shown
