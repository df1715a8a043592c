"""The soak's own checks (bench/soak.py): each must catch what it is there to catch."""

from typing import Any

from bench.figures import most_in_window
from bench.soak import (
    SECRETS,
    Sender,
    backwards,
    explain_unknown,
    leaking_lines,
    rate_violations,
)
from postino.observability import mask_phone


def send(at: float, to: str, phone: str = "100000000000001", status: int = 200) -> dict[str, Any]:
    return {
        "at": at,
        "method": "POST",
        "path": f"/v21.0/{phone}/messages",
        "status": status,
        "body": {"to": to, "biz_opaque_callback_data": "m1"},
    }


def timeline(*phases: tuple[str, str, bool]) -> list[dict[str, Any]]:
    return [
        {"at": at, "phase": phase, "detail": {"source": "webhook"} if webhook else {}}
        for phase, at, webhook in phases
    ]


def test_the_busiest_interval_counts_starts_within_the_same_second() -> None:
    # GIVEN starts at 0, 0.5 and 0.99 (one interval) and 1.0 (the first has left it)
    # THEN the busiest 1-second interval holds three, and a window of 2 s holds all four
    assert most_in_window([0.0, 0.5, 0.99, 1.0], 1.0) == 3
    assert most_in_window([0.0, 0.5, 0.99, 1.0], 2.0) == 4
    assert most_in_window([], 1.0) == 0


def test_a_sender_over_its_limit_and_a_pair_within_its_interval_are_violations() -> None:
    sender = Sender("default", "100000000000001", per_second=2)
    # GIVEN three sends within a second, two of them to one person 0.8 s apart
    requests = [send(0.0, "+391"), send(0.4, "+392"), send(0.8, "+391"), send(9.0, "+393")]
    found = rate_violations([sender], requests)
    # THEN both limits are reported broken
    assert any("3 sends in one second" in f for f in found)
    assert any("two sends to" in f for f in found)
    # AND spread out, to distinct people, nothing is
    assert rate_violations([sender], [send(0.0, "+391"), send(0.6, "+392")]) == []


def test_a_read_before_delivered_timeline_goes_backwards() -> None:
    ours = (
        ("accepted", "2026-11-25T10:00:00.100Z", False),
        ("sending", "2026-11-25T10:00:00.300Z", False),
    )
    in_order = {
        "status": "read",
        "events": timeline(
            *ours,
            ("sent", "2026-11-25T10:00:00Z", True),
            ("delivered", "2026-11-25T10:00:01Z", True),
            ("read", "2026-11-25T10:00:02Z", True),
        ),
    }
    assert backwards(in_order) is None
    swapped = {**in_order, "events": [*in_order["events"][:3], *in_order["events"][:2:-1]]}
    assert "out of order" in str(backwards(swapped))
    late = {**in_order, "events": [in_order["events"][1], in_order["events"][0]]}
    assert "time order" in str(backwards(late))
    wrong_status = {**in_order, "status": "delivered"}
    assert "last word" in str(backwards(wrong_status))


def test_an_unknown_message_is_explained_only_by_a_timeout_or_a_kill_before_its_request() -> None:
    unknown = {
        "events": [
            {
                "phase": "outcome_unknown",
                "detail": {"reason": "the drainer stopped during the send"},
            }
        ]
    }
    assert "timeout" in str(explain_unknown(unknown, [send(0, "+391", status=0)]))
    assert "killed" in str(explain_unknown(unknown, []))
    # Meta accepted it: its webhooks should have settled it, so nothing explains "unknown"
    assert explain_unknown(unknown, [send(0, "+391")]) is None


def test_log_lines_with_a_secret_or_a_full_number_are_leaks() -> None:
    number = "393512345678"
    lines = [
        f"sent to +{mask_phone(number)}",
        f"sent to +{number}",
        f"key {SECRETS['META_APP_SECRET']}",
        "nothing here",
    ]
    assert leaking_lines(lines, {number}) == lines[1:3]
