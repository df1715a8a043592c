"""WAHA's published OpenAPI as a checker: our requests pass, near-misses fail, slips corrected."""

from typing import Any

import pytest

from local.waha_contract import WahaContract, spec_path

KEY = {"x-api-key": "k"}
CHAT = "393331234567@c.us"
IMAGE = {"mimetype": "image/jpeg", "url": "https://example.com/a.jpg"}


@pytest.fixture(scope="module")
def contract() -> WahaContract:
    if not spec_path().exists():
        pytest.skip(f"WAHA's spec is not at {spec_path()} (../shared/contracts beside us)")
    return WahaContract.load()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/sendText", {"chatId": CHAT, "text": "Ciao", "linkPreview": False, "session": "s"}),
        ("/api/sendImage", {"chatId": CHAT, "file": IMAGE, "caption": "x", "session": "s"}),
        ("/api/sendFile", {"chatId": CHAT, "file": IMAGE | {"filename": "a.pdf"}, "session": "s"}),
        ("/api/sendSeen", {"chatId": CHAT, "session": "s"}),
        ("/api/sendSeen", {"chatId": CHAT, "messageIds": [f"false_{CHAT}_AB"], "session": "s"}),
        ("/api/startTyping", {"chatId": CHAT, "session": "s"}),
        ("/api/stopTyping", {"chatId": "120363025246125486@g.us", "session": "s"}),
        ("/api/sessions", {"name": "groom", "start": True}),
    ],
)
def test_what_postino_sends_passes(contract: WahaContract, path: str, body: Any) -> None:
    assert contract.check_request("POST", path, KEY, body) == []


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/sendText", {"chatID": CHAT, "text": "Ciao", "session": "s"}, "chatID"),
        ("/api/sendText", {"chatId": CHAT, "text": "Ciao"}, "'session' is a required"),
        ("/api/sendText", {"chatId": CHAT, "text": 42, "session": "s"}, "is not of type 'string'"),
        (
            "/api/sendImage",
            {
                "chatId": CHAT,
                "file": {"mimetype": "image/jpeg", "link": "https://x"},
                "session": "s",
            },
            "file",
        ),
        ("/api/sendSeen", None, "a JSON body is required"),
    ],
)
def test_near_misses_fail(contract: WahaContract, path: str, body: Any, expected: str) -> None:
    problems = contract.check_request("POST", path, KEY, body)
    assert problems and expected in " ".join(problems)


def test_the_key_is_required_where_wahas_spec_says_so(contract: WahaContract) -> None:
    body = {"chatId": CHAT, "text": "Ciao", "session": "s"}
    assert "X-Api-Key" in contract.check_request("POST", "/api/sendText", {}, body)[0]
    assert contract.check_request("GET", "/ping", {}, None) == []
    assert contract.check_request("GET", "/api/sessions/groom", KEY, None) == []
    assert "no such operation" in contract.check_request("POST", "/api/sendTexts", KEY, body)[0]


def envelope(**changes: Any) -> dict[str, Any]:
    return {
        "id": "evt_01jd0000000000000000000000",
        "timestamp": 1767225600000,
        "session": "groom",
        "engine": "NOWEB",
        "event": "session.status",
        "payload": {"name": "groom", "status": "WORKING", "statuses": []},
        "environment": {
            "version": "2026.7.1",
            "engine": "NOWEB",
            "tier": "CORE",
            "browser": None,
            "platform": "linux/x64",
            "worker": {"id": None},
        },
    } | changes


def test_webhook_envelopes_are_checked_with_the_event_slip_corrected(
    contract: WahaContract,
) -> None:
    # The spec types `event` as an object; WAHA sends a string, and so does the fake
    assert contract.check_webhook("session.status", envelope()) == []
    assert contract.check_webhook("session.status", envelope(event="session.state"))
    assert contract.check_webhook("session.status", envelope(sessionName="groom"))
    missing = envelope()
    del missing["environment"]
    assert contract.check_webhook("session.status", missing)
