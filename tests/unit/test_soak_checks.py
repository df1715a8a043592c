"""The soak's own checks (bench/soak.py): each must catch what it is there to catch."""

from typing import Any

from bench.figures import most_in_window
from bench.soak import (
    SECRETS,
    Sender,
    accepted_statuses,
    backwards,
    explain_unknown,
    leaking_lines,
    rate_violations,
    webhooks_lost,
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


def test_a_crowded_second_lists_its_sends_with_how_long_after_their_claim_each_arrived() -> None:
    sender = Sender("default", "100000000000001", per_second=1)
    first, second = send(100.0, "+391"), send(100.5, "+392")
    second["body"]["biz_opaque_callback_data"] = "m2abcdefgh"
    # GIVEN two sends within a second at a limit of one, claimed 0.2 s and 0.9 s before they
    # reached the sandbox
    found = rate_violations([sender], [first, second], {"m1": [99.8], "m2abcdefgh": [99.6]})
    # THEN the violation lists both, oldest first, each with its lag behind its claim
    lines = found[0].splitlines()
    assert lines[0].startswith("default: 2 sends in one second (limit 1), first at 00:01:40.000")
    assert lines[1:] == [
        "    00:01:40.000 …m1 HTTP 200, claimed 0.200 s before",
        "    00:01:40.500 …abcdefgh HTTP 200, claimed 0.900 s before",
    ]


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


def test_an_aws_fault_never_explains_an_unknown() -> None:
    # GIVEN a message left unknown by an AWS error around its send, not by Meta's fault
    unknown = {
        "events": [
            {
                "phase": "outcome_unknown",
                "detail": {"reason": "ThrottlingException while recording the send"},
            }
        ]
    }
    # THEN neither Meta's acceptance nor no request at all explains it
    assert explain_unknown(unknown, [send(0, "+391")]) is None
    assert explain_unknown(unknown, []) is None


def delivery(status: str, http_status: int = 200, wamid: str = "wamid.A") -> dict[str, Any]:
    return {"wamid": wamid, "status": status, "http_status": http_status, "attempt": 1, "at": 0}


def shown(*phases: str) -> dict[str, Any]:
    """A message as the API returns it, with Meta's statuses `phases` on its timeline."""
    ours = (("accepted", "2026-11-25T10:00:00Z", False), ("sent", "2026-11-25T10:00:01Z", False))
    theirs = tuple((phase, "2026-11-25T10:00:02Z", True) for phase in phases)
    return {"status": "read", "events": timeline(*ours, *theirs)}


def test_a_status_accepted_and_shown_on_the_message_is_not_lost() -> None:
    # GIVEN a send answered with wamid.A, whose delivered and read webhooks got a 200
    sends = [send(0, "+391") | {"wamid": "wamid.A"}]
    accepted = accepted_statuses([delivery("delivered"), delivery("read")])
    # THEN a message showing both lost nothing
    assert webhooks_lost(shown("delivered", "read"), sends, accepted) == []


def test_a_status_accepted_but_missing_from_the_message_is_lost() -> None:
    # GIVEN read accepted (200) for the message's send, and its timeline without read
    sends = [send(0, "+391") | {"wamid": "wamid.A"}]
    accepted = accepted_statuses([delivery("delivered"), delivery("read")])
    # THEN read is lost; "played" counts as read
    assert webhooks_lost(shown("delivered"), sends, accepted) == ["read"]
    played = accepted_statuses([delivery("played")])
    assert webhooks_lost(shown("delivered"), sends, played) == ["read"]
    assert webhooks_lost(shown("read"), sends, played) == []


def test_a_refused_status_and_another_sends_status_are_not_counted() -> None:
    sends = [send(0, "+391") | {"wamid": "wamid.A"}]
    # GIVEN read refused (500) at every try, and a failed accepted for another wamid
    accepted = accepted_statuses(
        [delivery("read", 500), delivery("read", 0), delivery("failed", wamid="wamid.B")]
    )
    # THEN the message lost nothing: our route never took them for its send
    assert webhooks_lost(shown("delivered"), sends, accepted) == []
    # AND a refused try, then a 200, is accepted
    retried = accepted_statuses([delivery("read", 500), delivery("read")])
    assert webhooks_lost(shown("delivered"), sends, retried) == ["read"]


def test_sent_is_never_required_and_any_send_of_the_message_counts() -> None:
    # GIVEN two sends of one message (at_least_once), each with its own wamid
    sends = [
        send(0, "+391") | {"wamid": "wamid.A"},
        send(1, "+391", status=503) | {"wamid": None},
        send(2, "+391") | {"wamid": "wamid.B"},
    ]
    accepted = accepted_statuses(
        [delivery("sent"), delivery("delivered"), delivery("read", wamid="wamid.B")]
    )
    # THEN Meta's sent need not show (our own record said sent), and one receipt per status
    # covers both sends: read from wamid.B is due, delivered from wamid.A too
    assert webhooks_lost(shown("delivered", "read"), sends, accepted) == []
    assert webhooks_lost(shown("read"), sends, accepted) == ["delivered"]


def test_log_lines_with_a_secret_or_a_full_number_are_leaks() -> None:
    number = "393512345678"
    lines = [
        f"sent to +{mask_phone(number)}",
        f"sent to +{number}",
        f"key {SECRETS['META_APP_SECRET']}",
        "nothing here",
    ]
    assert leaking_lines(lines, {number}) == lines[1:3]
