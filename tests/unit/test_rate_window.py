"""The rate window's algorithm: strict for any interval, and close to the limit in throughput."""

import random
from bisect import bisect_left
from itertools import pairwise

import pytest

from postino.drain.rate_window import (
    GAP_KEY,
    GRACE_SECONDS,
    give_back_gap,
    plan_starts,
    prune,
    window_usage,
)
from postino.senders.model import Limit


def most_in_any_window(starts: list[float], per: float) -> int:
    starts = sorted(starts)
    # The busiest interval [a, a + per) begins at some start.
    return max((bisect_left(starts, s + per) - i for i, s in enumerate(starts)), default=0)


@pytest.mark.parametrize("seed", range(20))
def test_no_interval_ever_holds_more_than_max_starts(seed: int) -> None:
    # GIVEN two limits and reservations arriving at random moments in random batch sizes
    rng = random.Random(seed)
    limits = [Limit(max=5, per_seconds=1), Limit(max=12, per_seconds=4)]
    logs: dict[str, list[float]] = {}
    now, started = 1000.0, []
    for _ in range(300):
        now += rng.expovariate(8)
        plan = plan_starts(
            logs, limits, count=rng.randint(1, 10), now=now, not_before=now, latest=now + 0.5
        )
        logs = plan.logs
        # WHEN each send starts anywhere inside its grace
        started += [start + rng.uniform(0, GRACE_SECONDS) for start in plan.starts]
    # THEN no interval of per_seconds holds more than max started sends
    assert most_in_any_window(started, 1) <= 5
    assert most_in_any_window(started, 4) <= 12
    assert len(started) > 100


def test_throughput_stays_close_to_the_limit() -> None:
    limits = [Limit(max=80, per_seconds=1)]
    logs: dict[str, list[float]] = {}
    now, started = 0.0, []
    while now < 30:
        plan = plan_starts(logs, limits, count=10, now=now, not_before=now, latest=now + 0.5)
        logs = plan.logs
        started += plan.starts
        now = plan.next_slot_at if plan.next_slot_at and not plan.starts else now + 0.01
    rate = len([s for s in started if s < 30]) / 30
    assert rate >= 0.95 * 80
    assert most_in_any_window(started, 1) <= 80


def test_a_per_second_limit_is_spent_evenly_not_in_one_burst() -> None:
    # GIVEN an empty window of 10 a second, and a batch of 10 that may all start at once
    limits = [Limit(max=10, per_seconds=1)]
    first = plan_starts({}, limits, count=10, now=100, not_before=100, latest=102)
    # THEN they are spaced a tenth of a second and a tenth of the grace apart
    spacing = (1 + GRACE_SECONDS) / 10
    assert first.starts == pytest.approx([100 + n * spacing for n in range(10)])
    # AND the next batch keeps the pace: the 11th starts a second and the grace after the 1st
    second = plan_starts(first.logs, limits, count=2, now=100.5, not_before=100.5, latest=102)
    assert second.starts == pytest.approx([101 + GRACE_SECONDS, 101 + GRACE_SECONDS + spacing])


def test_a_paced_window_keeps_one_entry_whatever_the_rate() -> None:
    # GIVEN a sender at 1,000 a second that reserves 500 starts at once
    limits = [Limit(max=1000, per_seconds=1), Limit(max=1000, per_seconds=3600)]
    plan = plan_starts({}, limits, count=500, now=100, not_before=100, latest=101)
    # THEN its per-second log holds the newest start alone (the hourly one holds them all)
    assert len(plan.starts) == 500
    assert plan.logs["1000/1"] == [plan.starts[-1] + GRACE_SECONDS]
    assert len(plan.logs["1000/3600"]) == 500


def test_longer_windows_may_be_used_in_a_burst() -> None:
    # GIVEN a sender allowed 50 a day and 20 a minute: neither is a per-second pace
    limits = [Limit(max=50, per_seconds=86_400), Limit(max=20, per_seconds=60)]
    plan = plan_starts({}, limits, count=5, now=100, not_before=100, latest=101)
    assert plan.starts == [100] * 5


def test_a_full_window_says_when_the_next_slot_is() -> None:
    limit = Limit(max=2, per_seconds=10)
    plan = plan_starts({}, [limit], count=3, now=100, not_before=100, latest=101)
    assert plan.starts == [100, 100]
    assert plan.next_slot_at == pytest.approx(110 + GRACE_SECONDS)
    used, next_slot = window_usage(plan.logs["2/10"], limit, 105)
    assert used == 2
    assert next_slot == pytest.approx(110 + GRACE_SECONDS)


def test_a_start_pinned_to_one_moment_is_refused_rather_than_moved() -> None:
    pair = Limit(max=1, per_seconds=6)
    first = plan_starts({}, [pair], count=1, now=0, not_before=0, latest=0)
    second = plan_starts(first.logs, [pair], count=1, now=1, not_before=1, latest=1)
    assert first.starts == [0]
    assert second.starts == []
    assert second.next_slot_at == pytest.approx(6 + GRACE_SECONDS)


@pytest.mark.parametrize("seed", range(5))
def test_a_gap_follows_every_start(seed: int) -> None:
    # GIVEN a sender that must pause a random 30 to 60 s after each send (a WAHA phone)
    rng = random.Random(seed)
    limits = [Limit(max=10, per_seconds=3600)]
    logs: dict[str, list[float]] = {}
    now, started = 1000.0, []
    for _ in range(40):
        now += rng.uniform(0, 20)
        plan = plan_starts(
            logs,
            limits,
            count=3,
            now=now,
            not_before=now,
            latest=now + 0.5,
            gap=lambda: rng.uniform(30, 60),
        )
        logs = plan.logs
        started += plan.starts
        if plan.next_slot_at is not None:
            assert plan.next_slot_at >= max(started) + 30
    # THEN two starts are never closer than the shortest gap, whatever the batch asked
    gaps = [b - a for a, b in pairwise(started)]
    assert gaps and min(gaps) >= 30
    assert most_in_any_window(started, 3600) <= 10


def test_a_gap_given_back_is_the_one_before_its_start_unless_a_later_start_set_its_own() -> None:
    # GIVEN two starts of a sender with a 30 s gap, planned one after the other
    limits = [Limit(max=10, per_seconds=3600)]
    first = plan_starts({}, limits, count=1, now=0, not_before=0, latest=1, gap=lambda: 30)
    second = plan_starts(
        first.logs, limits, count=1, now=1, not_before=1, latest=40, gap=lambda: 30
    )
    (first_gap,), (second_gap,) = first.gaps, second.gaps
    assert first_gap == (None, 30 + GRACE_SECONDS) and second_gap[0] == first_gap[1]
    # WHEN the second never started, its gap goes back to the first's
    logs = {key: list(log) for key, log in second.logs.items()}
    give_back_gap(logs, second_gap, now=2)
    assert logs[GAP_KEY] == [first_gap[1]]
    # BUT the first giving back its own, after the second set a later one, changes nothing
    logs = {key: list(log) for key, log in second.logs.items()}
    give_back_gap(logs, first_gap, now=2)
    assert logs[GAP_KEY] == second.logs[GAP_KEY]
    # AND a gap before that has passed is no gap at all
    give_back_gap(logs, second_gap, now=31)
    assert GAP_KEY not in logs


# ---- the edges of a window ------------------------------------------------------------------


def test_an_entry_exactly_a_window_old_no_longer_blocks_or_counts() -> None:
    # GIVEN a window of 2 in 10 s holding an entry of 90 and one of 95
    limit = Limit(max=2, per_seconds=10)
    logs = {"2/10": [90.0, 95.0]}
    # WHEN it is looked at, at 100: the entry of 90 is exactly 10 s old
    # THEN that one is gone from the log, and one slot of two is used, the next free at once
    assert prune(logs, [limit], now=100) == {"2/10": [95.0]}
    assert window_usage(logs["2/10"], limit, 100) == (1, 100)
    # AND a moment before, it still counted
    assert window_usage(logs["2/10"], limit, 99.5) == (2, 100)


def test_a_paced_log_keeps_its_newest_live_entry_alone() -> None:
    # GIVEN a per-second log holding three live entries (and one a second old)
    logs = {"5/1": [99.0, 99.5, 99.25, 99.75]}
    # WHEN it is pruned at 100
    # THEN only the newest is kept: the pace follows from it alone
    assert prune(logs, [Limit(max=5, per_seconds=1)], now=100) == {"5/1": [99.75]}


def test_a_gap_that_ends_now_is_over() -> None:
    logs = {"1/3600": [10.0], GAP_KEY: [100.0]}
    assert prune(logs, [Limit(max=1, per_seconds=3600)], now=100) == {"1/3600": [10.0]}
    assert prune(logs, [Limit(max=1, per_seconds=3600)], now=99.9) == logs


def test_the_logs_of_a_sender_without_a_gap_hold_only_its_limits() -> None:
    # GIVEN a sender with no gap between sends, and room for all it asks
    limit = Limit(max=2, per_seconds=10)
    plan = plan_starts({}, [limit], count=2, now=100, not_before=100, latest=101)
    # THEN all start at once, nothing says when a next slot would be, and the log it writes
    # holds its limit's entries and nothing else
    assert plan.starts == [100, 100]
    assert plan.next_slot_at is None
    assert plan.logs == {"2/10": [100 + GRACE_SECONDS] * 2}


def test_a_gap_given_back_where_none_is_left_changes_nothing() -> None:
    # GIVEN logs whose gap has already run out (pruned away)
    logs: dict[str, list[float]] = {"10/3600": [1.0]}
    # WHEN a start that never happened gives its gap back
    give_back_gap(logs, (None, 31.0), now=40)
    # THEN there was nothing of it to give back
    assert logs == {"10/3600": [1.0]}


def test_a_later_gap_is_not_taken_for_the_one_given_back() -> None:
    # GIVEN a gap end another start set half a second after the one given back
    logs = {GAP_KEY: [31.5]}
    give_back_gap(logs, (20.0, 31.0), now=10)
    # THEN it stays: it is not ours
    assert logs == {GAP_KEY: [31.5]}


def test_a_gap_read_back_rounded_up_is_matched_within_one_millisecond_not_one_more() -> None:
    # GIVEN a gap end of 4 ms (times this small are exact in milliseconds as floats)
    written = 0.004
    # WHEN the log holds it rounded up to the next millisecond, it is ours: it goes
    logs = {GAP_KEY: [0.0045]}
    give_back_gap(logs, (None, written), now=0)
    assert GAP_KEY not in logs
    # BUT a gap end a whole millisecond later is another start's
    logs = {GAP_KEY: [0.005]}
    give_back_gap(logs, (None, written), now=0)
    assert logs == {GAP_KEY: [0.005]}


def test_a_gap_given_back_to_one_that_ends_now_leaves_no_gap() -> None:
    logs = {GAP_KEY: [31.0]}
    give_back_gap(logs, (20.0, 31.0), now=20)
    assert GAP_KEY not in logs
