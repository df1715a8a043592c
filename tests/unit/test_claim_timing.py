"""When a send is claimed before its start: ahead of nearly every claim write, not the average."""

from typing import Any

from postino.clock import FakeClock
from postino.drain.slots import CLAIM_LEAD_SECONDS, Slots
from postino.drain.state import RunState


class NoAws:
    """Only what Slots reads when it times claims: a clock and the rate window's grace."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.settings: Any = type("Settings", (), {"rate_window_grace_seconds": 0.05})()


def slots() -> Slots:
    return Slots(NoAws(), RunState())  # type: ignore[arg-type]


def test_steady_claim_writes_are_claimed_a_little_more_than_their_time_ahead() -> None:
    timing = slots()
    for _ in range(50):
        timing.claimed_in(0.02)
    assert 0.02 < timing.claim_ahead() < 0.03


def test_claim_writes_that_vary_are_claimed_ahead_of_nearly_all_of_them() -> None:
    # GIVEN claim writes of 20 ms, one in ten of 120 ms
    timing = slots()
    for n in range(100):
        timing.claimed_in(0.12 if n % 10 == 0 else 0.02)
    # THEN a claim starts well ahead of the average (30 ms) even nine writes after a slow one
    assert timing.claim_ahead() > 0.06


def test_a_thread_that_reaches_its_claim_with_less_than_a_claims_time_left_is_late() -> None:
    timing = slots()
    assert timing.reached_claim_late(start=10.0, now=9.99)
    assert not timing.reached_claim_late(start=10.0, now=9.9)
    assert timing.lead == CLAIM_LEAD_SECONDS


def test_a_claim_write_retried_after_a_throttle_widens_the_lead_a_little() -> None:
    # GIVEN steady claim writes of 20 ms
    timing = slots()
    for _ in range(50):
        timing.claimed_in(0.02)
    # WHEN one is throttled and retried after botocore's backoff (two seconds)
    timing.claimed_in(2.0)
    # THEN sends are not claimed seconds ahead: a drainer killed then would leave every one of
    # them unknown
    assert timing.claim_ahead() < 0.4


def test_claim_writes_that_stay_slow_move_the_lead_all_the_way() -> None:
    timing = slots()
    for _ in range(50):
        timing.claimed_in(0.02)
    for _ in range(60):
        timing.claimed_in(0.5)
    assert timing.claim_ahead() > 0.5
