"""Meta's error table: each class of error leads to its outcome."""

import random

import pytest

from postino.drain.outcomes import (
    MAX_ATTEMPTS,
    META_ERRORS,
    WINDOW_CLOSED,
    Action,
    Decision,
    backoff,
    decide,
)
from postino.messages.model import Message, MessageError, Status
from postino.providers.base import (
    Accepted,
    NotSent,
    OutcomeUnknown,
    Rejected,
    SenderUnavailable,
)

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


# ---- the exact answers: backoff, errors, the last attempt and the validity ------------------


class Fixed(random.Random):
    """A draw that is always `r`: 0 is the shortest jitter, 1 the longest."""

    def __init__(self, r: float) -> None:
        super().__init__()
        self.r = r

    def random(self) -> float:
        return self.r


@pytest.mark.parametrize(
    ("attempt", "r", "seconds"),
    [
        (1, 0.0, 2.0),  # half of 4 s
        (1, 1.0, 4.0),
        (3, 0.5, 12.0),  # three quarters of 16 s
        (0, 1.0, 4.0),  # no attempt yet waits as the first
        (9, 1.0, 900.0),  # 4 * 2^8 = 1,024 s, capped at SQS's 15 minutes
        (9, 0.0, 450.0),
    ],
)
def test_backoff_doubles_from_four_seconds_with_half_of_it_jitter_and_a_cap(
    attempt: int, r: float, seconds: float
) -> None:
    assert backoff(attempt, 0, Fixed(r)) == seconds


def test_backoff_never_waits_less_than_the_least_asked() -> None:
    assert backoff(1, 6.0, Fixed(1.0)) == 6.0
    assert backoff(3, 6.0, Fixed(1.0)) == 16.0


def test_a_retried_meta_error_waits_its_backoff_and_keeps_metas_error() -> None:
    # GIVEN Meta's 131000 on a second attempt, with the longest jitter
    failure = Rejected(
        code=131000, title="Something went wrong", message="m", http_status=500, details="d"
    )
    decision = decide(failure, message(attempts=2), NOW, Fixed(1.0))
    # THEN it is retried after 8 s, with Meta's error kept and the rule's why
    assert decision == Decision(
        Action.RETRY,
        error=MessageError(
            code="131000",
            title="Something went wrong",
            message="m",
            retryable=True,
            details="d",
        ),
        delay_seconds=8.0,
        reason=META_ERRORS[131000].why,
    )


def test_the_pair_limit_waits_six_seconds_when_its_backoff_is_shorter() -> None:
    assert decide(rejected(131056), message(), NOW, Fixed(1.0)).delay_seconds == 6.0


def test_an_overloaded_peer_without_a_code_is_retried_under_its_http_status() -> None:
    decision = decide(rejected(None, 500), message(), NOW, Fixed(0.0))
    assert decision.action is Action.RETRY and decision.delay_seconds == 2.0
    assert decision.error == MessageError(
        code="http_500", title="error None", message="m", retryable=True
    )
    assert decision.reason == "the peer is overloaded or failing"


@pytest.mark.parametrize(("status", "action"), [(499, Action.FAIL), (428, Action.FAIL)])
def test_other_http_statuses_without_a_code_fail(status: int, action: Action) -> None:
    decision = decide(rejected(None, status), message(), NOW, Fixed(0.0))
    assert decision.action is action
    assert decision.error is not None and decision.error.code == f"http_{status}"


def test_a_final_error_fails_with_metas_error_and_its_title_as_the_reason() -> None:
    failure = Rejected(
        code=131026, title="Message undeliverable", message="m", http_status=400, details="d"
    )
    assert decide(failure, message(), NOW, Fixed(0.0)) == Decision(
        Action.FAIL,
        error=MessageError(
            code="131026", title="Message undeliverable", message="m", retryable=False, details="d"
        ),
        reason="Message undeliverable",
    )


def test_an_account_level_error_pauses_the_sender_with_metas_code_and_why() -> None:
    assert decide(rejected(131048), message(), NOW, Fixed(0.0)) == Decision(
        Action.PAUSE_SENDER,
        error=MessageError(code="131048", title="error 131048", message="m", retryable=True),
        pause_seconds=3600,
        reason=f"131048: {META_ERRORS[131048].why}",
        pause_code="meta_131048",
    )


def test_an_unavailable_sender_pauses_without_spending_the_attempt() -> None:
    unavailable = SenderUnavailable(code="waha_session", reason="the session is STOPPED")
    assert decide(unavailable, message(), NOW, Fixed(0.0)) == Decision(
        Action.PAUSE_SENDER,
        reason="the session is STOPPED",
        pause_code="waha_session",
        attempt_spent=False,
    )


def test_an_unsent_request_is_retried_after_its_backoff_with_its_reason() -> None:
    assert decide(NotSent("ConnectError"), message(attempts=2), NOW, Fixed(1.0)) == Decision(
        Action.RETRY, delay_seconds=8.0, reason="ConnectError"
    )


def test_an_unknown_outcome_is_unknown_with_its_reason_or_retried_if_at_least_once() -> None:
    unknown = OutcomeUnknown("ReadTimeout")
    assert decide(unknown, message(), NOW, Fixed(1.0)) == Decision(
        Action.UNKNOWN, reason="ReadTimeout"
    )
    assert decide(unknown, message(at_least_once=True), NOW, Fixed(1.0)) == Decision(
        Action.RETRY, delay_seconds=4.0, reason="ReadTimeout"
    )


def test_the_last_attempt_of_an_unsent_request_gives_up_saying_why() -> None:
    decision = decide(NotSent("ConnectError"), message(attempts=MAX_ATTEMPTS), NOW, Fixed(0.0))
    assert decision == Decision(
        Action.FAIL,
        error=MessageError(
            code="attempts_exhausted",
            title="Gave up after repeated failures",
            message="The last 5 attempts failed (ConnectError).",
            retryable=True,
        ),
        reason="ConnectError",
    )


def test_the_attempt_before_the_last_is_still_retried() -> None:
    decision = decide(NotSent("ConnectError"), message(attempts=MAX_ATTEMPTS - 1), NOW, Fixed(0))
    assert decision.action is Action.RETRY


def test_the_last_attempt_of_a_meta_error_fails_with_metas_error() -> None:
    decision = decide(rejected(131000), message(attempts=MAX_ATTEMPTS), NOW, Fixed(0.0))
    assert decision.error == MessageError(
        code="131000", title="error 131000", message="m", retryable=True
    )
    assert decision.reason == META_ERRORS[131000].why


def test_a_retry_due_exactly_at_the_validity_is_still_retried_and_one_after_expires() -> None:
    # GIVEN a first attempt whose backoff is exactly 4 s (the longest jitter)
    at_the_end = decide(NotSent("ConnectError"), message(valid_until=NOW + 4), NOW, Fixed(1.0))
    past_it = decide(NotSent("ConnectError"), message(valid_until=NOW + 3.5), NOW, Fixed(1.0))
    assert at_the_end.action is Action.RETRY
    assert past_it == Decision(Action.EXPIRE, reason="ConnectError")
    expired = decide(rejected(131000), message(valid_until=NOW + 3.5), NOW, Fixed(1.0))
    assert expired.action is Action.EXPIRE and expired.reason == META_ERRORS[131000].why
    assert expired.error is not None and expired.error.code == "131000"


def test_a_result_no_provider_gives_is_refused_naming_it() -> None:
    with pytest.raises(AssertionError, match="unhandled send result 'a surprise'"):
        decide("a surprise", message(), NOW, Fixed(0.0))  # type: ignore[arg-type]
