"""What a send's result means for the message: Meta's error codes, one line of why each.

Decided by Meta's `error.code`, not by the HTTP status (Meta uses 400 for most errors).
"""

import random
from dataclasses import dataclass
from enum import StrEnum

from postino.messages.model import Message, MessageError
from postino.providers.base import (
    Accepted,
    NotSent,
    OutcomeUnknown,
    Rejected,
    SenderUnavailable,
    SendResult,
)

MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 4.0
BACKOFF_CAP_SECONDS = 900.0
DAY_SECONDS = 86_400
SPAM_PAUSE_SECONDS = 3_600


class Action(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    PAUSE_SENDER = "pause_sender"
    FAIL = "fail"
    UNKNOWN = "unknown"
    EXPIRE = "expire"


@dataclass(frozen=True)
class Rule:
    action: Action
    why: str
    # For RETRY: the least wait. For PAUSE_SENDER: how long (None = until resumed).
    seconds: float | None = None


META_ERRORS: dict[int, Rule] = {
    1: Rule(Action.RETRY, "API unknown error: a passing fault at Meta"),
    2: Rule(Action.RETRY, "API service temporarily unavailable"),
    4: Rule(Action.RETRY, "the app's call rate limit: it lifts by itself"),
    80007: Rule(Action.RETRY, "the WhatsApp Business Account's rate limit: it lifts by itself"),
    130429: Rule(Action.RETRY, "Cloud API throughput reached: slow down and retry"),
    131000: Rule(Action.RETRY, "'something went wrong' at Meta: retrying is Meta's advice"),
    131016: Rule(Action.RETRY, "service overloaded at Meta"),
    131056: Rule(Action.RETRY, "pair rate limit: too many messages to this user", 6.0),
    131049: Rule(
        Action.RETRY,
        "held back 'to maintain healthy ecosystem engagement': Meta asks for a later try",
        DAY_SECONDS,
    ),
    131048: Rule(
        Action.PAUSE_SENDER,
        "spam rate limit: the number is restricted; more sends would make it worse",
        SPAM_PAUSE_SECONDS,
    ),
    0: Rule(Action.PAUSE_SENDER, "AuthException: the token cannot be used until it is fixed"),
    190: Rule(Action.PAUSE_SENDER, "access token expired or revoked: every send would fail"),
    131031: Rule(Action.PAUSE_SENDER, "the business account is locked: every send would fail"),
    131005: Rule(Action.PAUSE_SENDER, "access denied: a permission is missing"),
    368: Rule(Action.PAUSE_SENDER, "temporarily blocked for policy violations"),
}

WINDOW_CLOSED = (
    "The 24-hour customer service window is closed: this person has not written to you in the "
    "last 24 hours, so only an approved template message can reach them."
)


@dataclass(frozen=True)
class Decision:
    action: Action
    error: MessageError | None = None
    delay_seconds: float = 0.0
    pause_seconds: float | None = None
    reason: str | None = None
    # For PAUSE_SENDER: a code for the pause (a WAHA session's lifts when it works again).
    pause_code: str | None = None
    # False when the sender, not the message, could not go on: the attempt is given back.
    attempt_spent: bool = True


def backoff(attempt: int, least: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: half to all of base * 2^(attempt-1), capped."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    jittered: float = ceiling * (0.5 + rng.random() / 2)
    return max(least, jittered)


def _error(rejected: Rejected, retryable: bool) -> MessageError:
    message = WINDOW_CLOSED if rejected.code == 131047 else rejected.message
    return MessageError(
        code=str(rejected.code) if rejected.code is not None else f"http_{rejected.http_status}",
        title=rejected.title,
        message=message,
        retryable=retryable,
        details=rejected.details,
    )


def _retry(
    message: Message, now: float, delay: float, error: MessageError | None, reason: str
) -> Decision:
    if message.attempts >= MAX_ATTEMPTS:
        return Decision(Action.FAIL, error=error or _gave_up(reason), reason=reason)
    if now + delay > message.valid_until:
        return Decision(Action.EXPIRE, error=error, reason=reason)
    return Decision(Action.RETRY, error=error, delay_seconds=delay, reason=reason)


def _gave_up(reason: str) -> MessageError:
    return MessageError(
        code="attempts_exhausted",
        title="Gave up after repeated failures",
        message=f"The last {MAX_ATTEMPTS} attempts failed ({reason}).",
        retryable=True,
    )


def decide(result: SendResult, message: Message, now: float, rng: random.Random) -> Decision:
    match result:
        case Accepted():
            return Decision(Action.SENT)
        case SenderUnavailable(code=code, reason=reason):
            return Decision(
                Action.PAUSE_SENDER, reason=reason, pause_code=code, attempt_spent=False
            )
        case NotSent(reason=reason):
            return _retry(message, now, backoff(message.attempts, 0, rng), None, reason)
        case OutcomeUnknown(reason=reason):
            if message.at_least_once:
                return _retry(message, now, backoff(message.attempts, 0, rng), None, reason)
            return Decision(Action.UNKNOWN, reason=reason)
        case Rejected() as rejected:
            rule = META_ERRORS.get(rejected.code) if rejected.code is not None else None
            if rule is None and (rejected.http_status >= 500 or rejected.http_status == 429):
                rule = Rule(Action.RETRY, "the peer is overloaded or failing")
            if rule is None:
                return Decision(Action.FAIL, error=_error(rejected, False), reason=rejected.title)
            if rule.action is Action.RETRY:
                delay = backoff(message.attempts, rule.seconds or 0, rng)
                return _retry(message, now, delay, _error(rejected, True), rule.why)
            return Decision(
                Action.PAUSE_SENDER,
                error=_error(rejected, True),
                pause_seconds=rule.seconds,
                reason=f"{rejected.code}: {rule.why}",
                pause_code=f"meta_{rejected.code}",
            )
    raise AssertionError(f"unhandled send result {result!r}")
