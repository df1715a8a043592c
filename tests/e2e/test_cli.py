"""The `postino` command against the local stack: in-process through main(), and once installed."""

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from local.spawn import free_port
from local.template_stack import REPO_ROOT
from postino_cli import sessions
from postino_cli.client import KEY_REFUSED, REFUSED, UNREACHABLE, USAGE
from postino_cli.main import main
from tests.e2e.conftest import API_KEY, Stack, fresh_number, new_phone, new_waha_sender, scan, until

MESSAGE_ID = re.compile(r"\b[0-9a-f]{32}\b")
INVITATIONS = REPO_ROOT / "examples" / "invitations.csv"
BOOKING = ["--template", "booking_reminder", "--lang", "en_US", "--map", "name=1"]
BOOKING += ["--param", "sabato 12 settembre", "--map", "table=3"]


@pytest.fixture
def cli(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("POSTINO_API_URL", stack.api)
    monkeypatch.setenv("POSTINO_API_KEY", API_KEY)
    return stack


def test_send_waits_until_read_then_lists_and_shows_it(
    cli: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    to = fresh_number()
    assert main(["send", "--to", to, "--template", "hello_world", "--wait"]) == 0
    lines = capsys.readouterr().out.splitlines()
    message_id = lines[0]
    assert [line.split()[1] for line in lines[1:]][-3:] == [
        "provider_accepted",
        "delivered",
        "read",
    ]

    assert main(["messages", "--json", "--limit", "100"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert message_id in [m["id"] for m in listed["items"]]

    assert main(["show", message_id]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"{message_id}  read  default → {to.lstrip('+')}")
    assert " provider_accepted " in shown


def test_a_bad_row_is_reported_and_nothing_is_sent(
    cli: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(INVITATIONS.read_text() + "+39 333,Zia Pina,Tavolo Ischia\n")
    assert main(["bulk", str(bad), *BOOKING, "--dry-run"]) == USAGE
    out = capsys.readouterr().out
    assert "6 rows, problems: 1" in out
    assert "7    '+39 333' does not look like a phone number" in out


def test_a_bulk_run_again_sends_nobody_twice(
    cli: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bulk", str(INVITATIONS), *BOOKING]) == 0
    first = capsys.readouterr()
    assert "accepted 5, rejected 0" in first.out and "5/5" in first.err
    assert main(["bulk", str(INVITATIONS), *BOOKING, "--follow"]) == 0
    again = capsys.readouterr().out
    assert MESSAGE_ID.findall(again) == MESSAGE_ID.findall(first.out)
    assert len(set(MESSAGE_ID.findall(first.out))) == 5
    # --follow's last count: all five, once each, none still queued or sending
    last = again.splitlines()[-1].split()
    counts = dict(zip(last[::2], map(int, last[1::2]), strict=True))
    assert sum(counts.values()) == 5 and not {"queued", "sending"} & set(counts), last


def test_senders_and_a_phones_qr_code(cli: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a paired phone of the test's own, beside the seeded senders
    phone = new_phone(cli, "bride")
    scan(cli, phone)
    assert main(["senders"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert {"default", "groom", "bride", phone} <= set(names)
    assert main(["session", phone]) == 0
    assert "WORKING" in capsys.readouterr().out
    # WHEN it is logged out, THEN its session asks for a new code, drawn in the terminal
    assert main(["session", phone, "logout"]) == 0
    assert capsys.readouterr().out.split()[-1] == "SCAN_QR_CODE"
    assert main(["session", phone, "qr"]) == 0
    drawing = capsys.readouterr().out
    assert len(drawing.splitlines()) > 10 and "█" in drawing and set(drawing) <= set("█▀▄ \n")


def test_a_wrong_key_and_no_api_are_one_sentence_each(
    cli: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POSTINO_API_KEY", "wrong-key")
    assert main(["messages"]) == REFUSED
    assert capsys.readouterr().err == f"{KEY_REFUSED}\n"
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("POSTINO_API_URL", nowhere)
    assert main(["senders"]) == UNREACHABLE
    err = capsys.readouterr().err
    assert err.startswith(f"Cannot reach the API at {nowhere}: ") and "wrong-key" not in err


def test_the_installed_command_runs(stack: Stack) -> None:
    env = {**os.environ, "POSTINO_API_URL": stack.api, "POSTINO_API_KEY": API_KEY}
    installed = Path(sys.executable).parent / "postino"
    answer = subprocess.run(
        [str(installed), "senders", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    assert "default" in [s["name"] for s in json.loads(answer.stdout)["items"]]


def test_a_campaigns_report_and_a_conversation_read_back(
    cli: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two guests invited under a campaign of their own (a fresh file: fresh keys)
    campaign = f"e2e-{uuid.uuid4().hex[:12]}"
    guests = tmp_path / f"{campaign}.csv"
    anna, bruno = fresh_number(), fresh_number()
    guests.write_text(f"phone,name\n{anna},Anna\n{bruno},Bruno\n")
    hello = ["--template", "hello_world", "--lang", "en_US"]
    assert main(["bulk", str(guests), *hello, "--campaign", campaign]) == 0
    assert "accepted 2, rejected 0" in capsys.readouterr().out
    # WHEN one of them writes in
    answer = {"from": anna.lstrip("+"), "text": "Grazie! Ci sarò", "name": "Anna"}
    assert httpx.post(f"{cli.sandbox}/_sandbox/inbound", json=answer).status_code == 200
    # THEN the report counts both messages, and her conversation shows her line, then is read
    assert main(["report", campaign]) == 0
    assert f"campaign {campaign}: 2 messages" in capsys.readouterr().out
    path = f"/v1/conversations/default/{anna.lstrip('+')}/messages"
    assert until(lambda: any(m["direction"] == "in" for m in cli.call("GET", path).json().get("items", [])))  # fmt: skip
    assert main(["conversations", "--sender", "default", "--limit", "100"]) == 0
    assert anna.lstrip("+") in capsys.readouterr().out
    assert main(["conversation", "default", anna, "--read"]) == 0
    chat = capsys.readouterr().out.splitlines()
    assert any("← Anna" in line and "Grazie! Ci sarò" in line for line in chat), chat
    assert any("→ api" in line and "template hello_world" in line for line in chat), chat
    assert chat[-1] == "marked read: 0 unread"


def test_a_campaign_never_sent_is_one_sentence(
    cli: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "never-sent-campaign"]) == REFUSED
    assert capsys.readouterr().err == "No message was sent with campaign 'never-sent-campaign'.\n"


def test_pair_starts_a_new_phone_and_ends_when_it_is_scanned(
    cli: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a WAHA sender of its own, on a session WAHA has never seen
    name = new_waha_sender(cli, "pair")
    # WHEN the user pairs it, and scans the code once it is drawn
    exit_codes: list[int] = []
    pairing = threading.Thread(target=lambda: exit_codes.append(main(["pair", name])))
    pairing.start()
    printed: list[str] = []

    def code_drawn() -> bool:
        printed.append(capsys.readouterr().out)
        return sessions.SCAN_HINT in "".join(printed)

    assert until(code_drawn)
    assert httpx.post(f"{cli.waha}/_sandbox/waha/{name}/scan").status_code == 200
    pairing.join(30)
    # THEN it drew the code, and ended with the session WORKING
    assert exit_codes == [0]
    out = "".join(printed) + capsys.readouterr().out
    assert "█" in out
    assert out.splitlines()[-1].startswith(f"paired: {name}  session {name}  WORKING")
