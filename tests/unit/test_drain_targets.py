"""Who drains what: a drainer per sender, and as many shards as its per-second limit needs;
each shard reserves in a share of the sender's window."""

from typing import Any

import pytest

from postino.clock import FakeClock
from postino.drain.slots import Slots
from postino.drain.state import RunState
from postino.drain.targets import DRAINER_RATE, MAX_SHARDS, DrainTarget, shards_for
from postino.senders.model import CloudApiSender, Limit
from postino.store.rate_window import RateWindowConflict


def sender(*limits: Limit) -> CloudApiSender:
    return CloudApiSender(
        name="shop",
        phone_number_id="100000000000001",
        access_token_secret="postino/meta/shop-token",
        limits=list(limits),
    )


@pytest.mark.parametrize(
    ("per_second", "shards"),
    [(80, 1), (DRAINER_RATE, 1), (DRAINER_RATE + 1, 2), (1000, 10)],
)
def test_a_sender_gets_as_many_drainers_as_its_pace_needs(per_second: int, shards: int) -> None:
    assert shards_for(sender(Limit(max=per_second, per_seconds=1))) == shards


def test_only_a_per_second_limit_asks_for_shards() -> None:
    # 1,000 an hour is slow, however many: one drainer; an unknown sender has one too
    assert shards_for(sender(Limit(max=1000, per_seconds=3600))) == 1
    assert shards_for(None) == 1


def test_a_nudge_names_its_drainer_and_the_tick_names_none() -> None:
    target = DrainTarget("shop", 3)
    assert DrainTarget.from_event(target.payload()) == target
    assert target.scope == "shop#3"
    assert DrainTarget.from_event({"source": "postino.schedule", "action": "drain"}) is None
    # A shard out of range, or not a number, is the first one
    assert DrainTarget.from_event({"sender": "shop", "shard": MAX_SHARDS}) == DrainTarget("shop")
    assert DrainTarget.from_event({"sender": "shop", "shard": "2"}) == DrainTarget("shop")


class NoAws:
    """What Slots reads: a clock, the rate window's grace, and a rate window that is too busy."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.settings: Any = type("Settings", (), {"rate_window_grace_seconds": 0.05})()
        self.rate_windows = self
        self.reserved: list[tuple[str, list[Limit]]] = []

    def reserve(self, key: str, limits: list[Limit], planner: Any, now: float) -> Any:
        self.reserved.append((key, limits))
        raise RateWindowConflict(key)


def test_the_shards_of_a_paced_sender_each_take_a_share_of_its_window() -> None:
    # GIVEN a sender at 1,000 a second: ten drainers
    fast = sender(Limit(max=1000, per_seconds=1))
    windows = [Slots(NoAws(), RunState(shard=k)).sender_window(fast) for k in range(10)]  # type: ignore[arg-type]
    # THEN each reserves in a window of its own, and the shares add up to the limit
    assert len({key for key, _ in windows}) == 10
    assert sum(limits[0].max for _, limits in windows) == 1000
    assert {limits[0].per_seconds for _, limits in windows} == {1}


def test_shards_share_one_window_when_the_sender_also_counts_by_the_hour() -> None:
    both = sender(Limit(max=1000, per_seconds=1), Limit(max=1000, per_seconds=3600))
    windows = [Slots(NoAws(), RunState(shard=k)).sender_window(both) for k in range(2)]  # type: ignore[arg-type]
    assert windows == [("sender#shop", both.limits)] * 2


def test_a_window_too_busy_to_write_holds_the_batch_instead_of_failing_the_drain() -> None:
    # GIVEN a window whose conditional write keeps losing to other drainers
    aws = NoAws()
    slots = Slots(aws, RunState())  # type: ignore[arg-type]
    # WHEN a batch is reserved
    plan = slots.reserve_sender(sender(Limit(max=80, per_seconds=1)), 10)
    # THEN no start now, and a try again a moment later (the drain goes on)
    assert aws.reserved and plan.starts == []
    assert plan.next_slot_at is not None and 0 < plan.next_slot_at - aws.clock.now() < 1
