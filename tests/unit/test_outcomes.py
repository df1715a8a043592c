"""Meta's error table: each class of error leads to its outcome."""

import random

import pytest

from postino.drain.outcomes import MAX_ATTEMPTS, WINDOW_CLOSED, Action, decide
from postino.messages.model import Message, Status
from postino.providers.base import Accepted, NotSent, OutcomeUnknown, Rejected

NOW = 1_800_000_000.0


def message(**fields: object) -> Message:
    base = {
        "id": "0" * 32,
        "sender": "default",
        "to": "393331234567",
        "type": "text",
        "content": {"body": "hi"},
        "status": Status.SENDING,
        "created_at": NOW,
        "updated_at": NOW,
        "valid_until": NOW + 36_000,
        "validity_seconds": 36_000,
        "attempts": 1,
    }
    return Message.model_validate(base | fields)


def rejected(code: int | None, http_status: int = 400) -> Rejected:
    return Rejected(code=code, title=f"error {code}", message="m", http_status=http_status)


@pytest.mark.parametrize("code", [1, 2, 4, 80007, 130429, 131000, 131016, 131056])
def test_passing_faults_are_retried_with_backoff(code: int) -> None:
    decision = decide(rejected(code), message(), NOW, random.Random(1))
    assert decision.action is Action.RETRY
    assert decision.delay_seconds > 0
    assert decision.error is not None and decision.error.retryable


def test_the_pair_limit_waits_at_least_six_seconds() -> None:
    assert decide(rejected(131056), message(), NOW, random.Random(1)).delay_seconds >= 6


def test_backoff_grows_with_each_attempt() -> None:
    delays = [
        decide(rejected(131000), message(attempts=n), NOW, random.Random(0)).delay_seconds
        for n in (1, 2, 3, 4)
    ]
    assert delays == sorted(delays) and delays[-1] > 4 * delays[0]


def test_after_the_last_attempt_a_retryable_error_fails_the_message() -> None:
    decision = decide(rejected(131000), message(attempts=MAX_ATTEMPTS), NOW, random.Random(1))
    assert decision.action is Action.FAIL


def test_a_retry_beyond_the_validity_expires_the_message() -> None:
    decision = decide(rejected(131049), message(valid_until=NOW + 3600), NOW, random.Random(1))
    assert decision.action is Action.EXPIRE


def test_engagement_hold_is_retried_a_day_later() -> None:
    decision = decide(
        rejected(131049), message(valid_until=NOW + 3 * 86_400), NOW, random.Random(1)
    )
    assert decision.action is Action.RETRY and decision.delay_seconds >= 86_400


@pytest.mark.parametrize(
    ("code", "seconds"),
    [(131048, 3600), (0, None), (190, None), (131031, None), (131005, None), (368, None)],
)
def test_account_level_errors_pause_the_sender(code: int, seconds: int | None) -> None:
    decision = decide(rejected(code), message(), NOW, random.Random(1))
    assert decision.action is Action.PAUSE_SENDER
    assert decision.pause_seconds == seconds
    assert str(code) in (decision.reason or "")


@pytest.mark.parametrize("code", [131026, 131051, 132001, 100, 131009])
def test_everything_else_fails_with_metas_code_and_title(code: int) -> None:
    decision = decide(rejected(code), message(), NOW, random.Random(1))
    assert decision.action is Action.FAIL
    assert (
        decision.error is not None
        and decision.error.code == str(code)
        and not decision.error.retryable
    )


def test_a_closed_window_says_a_template_is_needed() -> None:
    decision = decide(rejected(131047), message(), NOW, random.Random(1))
    assert decision.error is not None and decision.error.message == WINDOW_CLOSED


@pytest.mark.parametrize(
    ("status", "action"),
    [(500, Action.RETRY), (503, Action.RETRY), (429, Action.RETRY), (404, Action.FAIL)],
)
def test_without_a_graph_error_body_the_http_status_decides(status: int, action: Action) -> None:
    assert decide(rejected(None, status), message(), NOW, random.Random(1)).action is action


def test_unsent_requests_are_retried_but_unknown_outcomes_are_not_by_default() -> None:
    assert decide(NotSent("ConnectError"), message(), NOW, random.Random(1)).action is Action.RETRY
    assert (
        decide(OutcomeUnknown("ReadTimeout"), message(), NOW, random.Random(1)).action
        is Action.UNKNOWN
    )
    retried = decide(
        OutcomeUnknown("ReadTimeout"), message(at_least_once=True), NOW, random.Random(1)
    )
    assert retried.action is Action.RETRY


def test_accepted_is_sent() -> None:
    assert (
        decide(Accepted("wamid.X", "accepted"), message(), NOW, random.Random(1)).action
        is Action.SENT
    )
