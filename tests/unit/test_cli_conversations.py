"""`postino report`, `conversations`, `conversation` and `bulk --campaign`, against an API faked
with httpx's MockTransport: what each asks the API, and what it prints."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from postino_cli.client import REFUSED, USAGE
from postino_cli.conversations import chat_line, report_lines
from tests.support.cli_api import FakeApi, run_against_fake

REPORT = {
    "campaign": "wedding",
    "total": 4,
    "statuses": {
        "queued": 0,
        "sent": 0,
        "delivered": 1,
        "read": 2,
        "failed": 1,
        "unknown": 0,
        "cancelled": 0,
        "expired": 0,
    },
    "failed_by_code": {"131026": 1},
    "replied": 2,
    "buttons": [{"id": "yes", "title": "Ci sarò", "count": 2}],
}
LUCA = "393331112222"
INVITATION = {
    "id": "01a2125c7bb327a2703f939ae2bbabf8",
    "direction": "out",
    "type": "text",
    "at": "2026-11-25T10:59:42.870Z",
    "origin": "api",
    "content": {"body": "Ciao Luca! Ci sarai?"},
    "status": "read",
    "error": None,
    "replied_to": None,
    "reply": {"id": "false_x", "preview": "Ci sarò!"},
    "reactions": {LUCA: "❤️"},
    "name": None,
}
ANSWER = {
    "id": "false_393331112222@c.us_3EB0A",
    "direction": "in",
    "type": "text",
    "at": "2026-11-25T11:01:05.000Z",
    "origin": "contact",
    "content": {"text": "Ci sarò!"},
    "status": None,
    "error": None,
    "replied_to": INVITATION["id"],
    "reply": None,
    "reactions": {},
    "name": "Luca",
}
CONVERSATION = {
    "sender": "groom",
    "contact": LUCA,
    "name": "Luca",
    "last_message": {
        "direction": "in",
        "type": "text",
        "preview": "Ci sarò!",
        "at": "2026-11-25T11:01:05.000Z",
    },
    "last_inbound_at": "2026-11-25T11:01:05.000Z",
    "window_open_until": None,
    "unread": 1,
}


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Any:
    return run_against_fake(monkeypatch)


# --- report ------------------------------------------------------------------------------------


def test_the_report_shows_statuses_with_bars_failures_replies_and_buttons(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report_lines(REPORT)[3] == "queued     0"  # a line each, for the demo to indent
    api = FakeApi({("GET", "/v1/campaigns/wedding"): (200, REPORT)})
    assert run(api, "report", "wedding") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "campaign wedding: 4 messages"
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:11]}
    assert list(rows) == ["queued", "sent", "delivered", "read", "failed", "unknown", "cancelled", "expired"]  # fmt: skip
    assert rows["read"] == ["2", "█" * 15] and rows["delivered"] == ["1", "█" * 8]
    assert rows["queued"] == ["0"]
    assert "131026  1" in lines and "replied 2 of 4" in lines
    assert lines[-2:] == ["id   title    count", "yes  Ci sarò  2"]


def test_the_report_as_json_is_the_apis(run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({("GET", "/v1/campaigns/wedding"): (200, REPORT)})
    assert run(api, "report", "wedding", "--json") == 0
    assert json.loads(capsys.readouterr().out) == REPORT


def test_a_campaign_never_sent_is_the_apis_sentence_and_exit_1(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sentence = "No message was sent with campaign 'nozze'."
    api = FakeApi(
        {
            ("GET", "/v1/campaigns/nozze"): (
                404,
                {"error": {"code": "not_found", "message": sentence}},
            )
        }
    )
    assert run(api, "report", "nozze") == REFUSED
    out, err = capsys.readouterr()
    assert out == "" and err == f"{sentence}\n"


# --- bulk --campaign ---------------------------------------------------------------------------


class AcceptingBatches(FakeApi):
    """POST /v1/messages/batch accepts every item."""

    def __init__(self) -> None:
        super().__init__({})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        items = json.loads(request.content)["messages"]
        results = [{"index": n, "id": f"m{n}", "status": "queued"} for n in range(len(items))]
        return httpx.Response(200, json={"results": results})


def test_every_bulk_item_carries_the_campaign(
    run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guests = tmp_path / "guests.csv"
    guests.write_text("phone,name\n+39 333 101 2001,Giulia\n+39 333 101 2002,Marco\n")
    api = AcceptingBatches()
    assert run(api, "bulk", str(guests), "--text", "Ciao {name}", "--campaign", "wedding") == 0
    (batch,) = [json.loads(r.content)["messages"] for r in api.requests]
    assert [item["campaign"] for item in batch] == ["wedding", "wedding"]
    assert "accepted 2, rejected 0" in capsys.readouterr().out


def test_a_campaign_name_over_64_characters_sends_nothing(
    run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guests = tmp_path / "guests.csv"
    guests.write_text("phone,name\n+39 333 101 2001,Giulia\n")
    api = AcceptingBatches()
    long_name = "w" * 65
    assert run(api, "bulk", str(guests), "--text", "Ciao", "--campaign", long_name) == USAGE
    assert api.requests == []
    assert "--campaign is at most 64 characters" in capsys.readouterr().err
    assert run(api, "bulk", str(guests), "--text", "Ciao", "--campaign", "w" * 64, "--dry-run") == 0


# --- conversations -----------------------------------------------------------------------------


def test_conversations_list_contact_name_unread_and_the_last_message(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = CONVERSATION | {"contact": "393334445555", "name": None, "last_message": None}
    page = {"items": [CONVERSATION, quiet], "next_cursor": None}
    api = FakeApi({("GET", "/v1/conversations"): (200, page)})
    assert run(api, "conversations", "--sender", "groom") == 0
    assert api.requests[0].url.params["sender"] == "groom"
    assert capsys.readouterr().out.splitlines() == [
        "sender  contact       name  unread  window  last message  at",
        "groom   393331112222  Luca  1               ← Ci sarò!    2026-11-25 11:01:05",
        "groom   393334445555        1",
    ]


def test_a_conversation_reads_oldest_first_with_arrows_status_and_thread(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = f"/v1/conversations/groom/{LUCA}"
    api = FakeApi({("GET", f"{path}/messages"): (200, {"items": [ANSWER, INVITATION], "next_cursor": None})})  # fmt: skip
    assert run(api, "conversation", "groom", "+39 333 111 2222") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"2026-11-25 10:59:42  → api      Ciao Luca! Ci sarai?  [read, ❤️ from {LUCA}]",
        f"2026-11-25 11:01:05  ← Luca     Ci sarò!  [↩ {INVITATION['id']}]",
    ]
    assert [r.method for r in api.requests] == ["GET"]  # not marked read unless asked


def test_read_marks_the_conversation_read_after_showing_it(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = f"/v1/conversations/groom/{LUCA}"
    api = FakeApi(
        {
            ("GET", f"{path}/messages"): (200, {"items": [ANSWER], "next_cursor": None}),
            ("POST", f"{path}/read"): (200, CONVERSATION | {"unread": 0}),
        }
    )
    assert run(api, "conversation", "groom", LUCA, "--read") == 0
    assert [(r.method, r.url.path) for r in api.requests] == [
        ("GET", f"{path}/messages"),
        ("POST", f"{path}/read"),
    ]
    assert capsys.readouterr().out.splitlines()[-1] == "marked read: 0 unread"


def test_a_template_a_failure_a_caption_a_button_and_the_phones_line_read_as_such() -> None:
    template = INVITATION | {
        "type": "template",
        "content": {"name": "wedding_invitation", "language": {"code": "it"}},
        "status": "failed",
        "error": {"code": 131026, "title": "Message undeliverable"},
        "reactions": {},
    }
    button = ANSWER | {
        "type": "interactive",
        "content": {"reply_id": "yes", "reply_title": "Ci sarò"},
    }
    assert chat_line(template).endswith(
        "→ api      template wedding_invitation  [failed, error 131026]"
    )
    assert chat_line(button).split("  ", 1)[1].startswith("← Luca     [Ci sarò]")
    image = INVITATION | {
        "type": "image",
        "content": {"link": "https://a.it/b.jpg", "caption": "Molo 4"},
    }
    assert "→ api      Molo 4  [read" in chat_line(image)
    typed = ANSWER | {"direction": "out", "origin": "phone", "name": None, "replied_to": None}
    assert chat_line(typed).endswith("→ phone    Ci sarò!")
