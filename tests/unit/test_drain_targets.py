"""Who drains what: a drainer per sender, and as many shards as its per-second limit needs."""

import pytest

from postino.drain.targets import DRAINER_RATE, MAX_SHARDS, DrainTarget, shards_for
from postino.senders.model import CloudApiSender, Limit


def sender(*limits: Limit) -> CloudApiSender:
    return CloudApiSender(
        name="shop",
        phone_number_id="100000000000001",
        access_token_secret="postino/meta/shop-token",
        limits=list(limits),
    )


@pytest.mark.parametrize(
    ("per_second", "shards"),
    [(80, 1), (DRAINER_RATE, 1), (DRAINER_RATE + 1, 2), (1000, 5)],
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
