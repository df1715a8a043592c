"""Slots in the rate windows: a batch reserved from the lead to the horizon, a sharded sender's
share, a phone's pause, entries given back, and a send thread that wakes late for its slot."""

import logging
import random
from dataclasses import dataclass, field

import pytest

from bench.virtual_aws.clock import VirtualAws
from bench.virtual_aws.dynamodb import (
    RateWindowTable,
    VirtualMessages,
    VirtualRateWindows,
    condition_failed,
)
from bench.virtual_aws.sqs import VirtualQueue
from postino.clock import FakeClock, iso
from postino.drain.rate_window import GAP_KEY, limit_key
from postino.drain.slots import CLAIM_LEAD_SECONDS, HORIZON_SECONDS, LEAD_SHRINK, Slots
from postino.drain.state import Held, RunState
from postino.ids import new_message_id
from postino.messages.model import Message, Phase, Status, event
from postino.observability import metrics
from postino.outbox import Delivery, QueuedRef
from postino.providers.base import SlotMissed
from postino.senders.model import CloudApiSender, Limit, SecondsRange, Sender, WahaSender
from postino.settings import Settings
from postino.store.rate_window import RateWindowStore, pair_window_key
from tests.unit.test_rate_window_store import TABLE, stored, table  # noqa: F401 (a fixture)

START = 1_000.0
# Not the default grace: a slot that ignored the setting would show.
GRACE = 0.1
PAIR = Limit(max=1, per_seconds=6)


class Oversleeping(FakeClock):
    """A starved machine: each of its first `late` sleeps wakes `by` seconds late."""

    def __init__(self, late: int = 0, by: float = 1.0) -> None:
        super().__init__(START)
        self.late, self.by = late, by

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.late:
            self.late -= 1
            super().sleep(self.by)


@dataclass
class Drainer:
    """What Slots reads of a drainer's services. The window table answers at once: its requests
    take time on a clock of its own, not the drainer's."""

    clock: FakeClock = field(default_factory=lambda: FakeClock(START))
    table: RateWindowTable = field(
        default_factory=lambda: RateWindowTable(VirtualAws(FakeClock(), 1))
    )
    settings: Settings = field(default_factory=lambda: Settings(rate_window_grace_seconds=GRACE))
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def __post_init__(self) -> None:
        self.rate_windows: RateWindowStore = VirtualRateWindows(self.table)


def counted(name: str) -> tuple[str, list[float]] | None:
    """A metric's unit and the values this process added since it last flushed."""
    metric = metrics.metric_set.get(name)
    return (metric["Unit"], list(metric["Value"])) if metric else None


def slots(drainer: Drainer, shard: int = 0) -> Slots:
    return Slots(drainer, RunState(shard=shard))  # type: ignore[arg-type]


def cloud_api(*limits: Limit) -> CloudApiSender:
    return CloudApiSender(
        name="shop", phone_number_id="12345", access_token_secret="token", limits=list(limits)
    )


def phone(gap: float, *, most: float | None = None) -> WahaSender:
    return WahaSender(
        name="phone",
        provider="waha",
        base_url="http://waha.internal:3000",
        api_key_secret="key",
        limits=[Limit(max=10, per_seconds=3600)],
        gap_seconds=SecondsRange(min=gap, max=most if most is not None else gap),
    )


def ref(pair: str = "p1") -> QueuedRef:
    return QueuedRef(id="m1", seq=1, attempt=1, sender="shop", pair=pair, visible_at=START)


# ---- reserving ------------------------------------------------------------------------------


def test_a_batch_is_reserved_from_the_lead_to_the_horizon_at_the_senders_pace() -> None:
    # GIVEN a sender at 10 a second and an empty window
    timing = slots(Drainer())
    # WHEN ten starts are asked for
    plan = timing.reserve_sender(cloud_api(Limit(max=10, per_seconds=1)), 10)
    # THEN they start a lead ahead, one every (1 + grace) / 10 s, up to the horizon; the
    # first that does not fit says when it would have gone
    pace = (1 + GRACE) / 10
    first = START + CLAIM_LEAD_SECONDS
    fit = int(HORIZON_SECONDS / pace) + 1
    assert plan.starts == pytest.approx([first + n * pace for n in range(fit)])
    assert plan.next_slot_at == pytest.approx(first + fit * pace)


def test_a_longer_lead_moves_the_horizon_with_it() -> None:
    timing = slots(Drainer())
    timing.lead = 2.0
    plan = timing.reserve_sender(cloud_api(Limit(max=10, per_seconds=3600)), 3)
    assert plan.starts == [START + 2.0] * 3


def test_a_reservation_is_written_in_the_senders_window() -> None:
    drainer = Drainer()
    sender = cloud_api(Limit(max=3, per_seconds=60))
    [start] = slots(drainer).reserve_sender(sender, 1).starts
    # THEN another drainer of the sender finds the entry there, the grace after the start
    logs = VirtualRateWindows(drainer.table).read("sender#shop", sender.limits, START)
    assert logs == {"3/60": [pytest.approx(start + GRACE, abs=0.001)]}


@pytest.mark.usefixtures("table")
def test_the_windows_items_last_until_their_longest_window_has_passed() -> None:
    # GIVEN a drainer on the real table (moto)
    drainer = Drainer()
    drainer.rate_windows = RateWindowStore(TABLE)
    sender = cloud_api(Limit(max=10, per_seconds=1), Limit(max=100, per_seconds=3600))
    timing = slots(drainer)
    # WHEN it reserves a start and the person's slot
    [start] = timing.reserve_sender(sender, 1).starts
    assert timing.reserve_pair(sender, ref(), start, START).starts
    # THEN the sender's item outlives its hour, the person's its six seconds
    sender_item, pair_item = stored("sender#shop"), stored(pair_window_key("shop", "p1"))
    assert sender_item is not None and sender_item["expires_at"] == int(start + GRACE + 3660)
    assert pair_item is not None and pair_item["expires_at"] == int(start + GRACE + 66)


def test_a_sharded_sender_takes_its_shards_share_of_each_limit_in_a_window_of_its_own() -> None:
    # GIVEN a sender at 250 a second (three drainers) and at most 2 a second to one flow
    sender = cloud_api(Limit(max=250, per_seconds=1), Limit(max=2, per_seconds=1))
    # THEN each shard has a window of its own and a share; the shares add up to the limit
    # (each limit at least one)
    windows = [slots(Drainer(), shard=shard).sender_window(sender) for shard in range(3)]
    assert windows == [
        ("sender#shop#0/3", [Limit(max=84, per_seconds=1), Limit(max=1, per_seconds=1)]),
        ("sender#shop#1/3", [Limit(max=83, per_seconds=1), Limit(max=1, per_seconds=1)]),
        ("sender#shop#2/3", [Limit(max=83, per_seconds=1), Limit(max=1, per_seconds=1)]),
    ]
    # AND its reservations go there
    drainer = Drainer()
    slots(drainer, shard=2).reserve_sender(sender, 1)
    shard_window = VirtualRateWindows(drainer.table).read("sender#shop#2/3", windows[2][1], START)
    assert shard_window["83/1"] and shard_window["1/1"]


def test_a_sharded_sender_with_a_count_over_hours_shares_one_window() -> None:
    sender = cloud_api(Limit(max=250, per_seconds=1), Limit(max=1000, per_seconds=3600))
    assert slots(Drainer(), shard=1).sender_window(sender) == ("sender#shop", sender.limits)


def test_a_sender_of_one_drainer_reserves_in_its_own_window() -> None:
    sender = cloud_api(Limit(max=80, per_seconds=1))
    assert slots(Drainer()).sender_window(sender) == ("sender#shop", sender.limits)


def test_a_shard_beyond_the_senders_drainers_is_retired() -> None:
    sender = cloud_api(Limit(max=250, per_seconds=1))
    assert not slots(Drainer(), shard=2).retired(sender)
    assert slots(Drainer(), shard=3).retired(sender)
    assert slots(Drainer(), shard=1).retired(cloud_api(Limit(max=80, per_seconds=1)))


class Contended(VirtualRateWindows):
    """A window another drainer writes every time this one plans on it."""

    def _write(
        self, key: str, version: int, logs: dict[str, list[float]], limits: list[Limit], now: float
    ) -> None:
        raise condition_failed("PutItem", {"key": key, "v": version + 1, "logs": {}})


def test_a_window_too_busy_to_write_means_no_start_now_and_a_try_again_shortly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drainer = Drainer()
    drainer.rate_windows = Contended(drainer.table)
    metrics.clear_metrics()
    with caplog.at_level(logging.WARNING):
        plan = slots(drainer).reserve_sender(cloud_api(Limit(max=100, per_seconds=3600)), 1)
    assert plan.starts == [] and plan.logs == {}
    assert plan.next_slot_at == pytest.approx(START + 0.05)
    # AND the operator sees it: a warning naming the window, and a count of them
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "busy" in warning.getMessage() and warning.key == "sender#shop"  # type: ignore[attr-defined]
    assert counted("RateWindowConflicts") == ("Count", [1.0])


def test_a_start_given_back_to_a_window_too_busy_is_left_to_run_out() -> None:
    drainer = Drainer()
    drainer.rate_windows = Contended(drainer.table)
    # (no error: an entry not given back only runs out with its window)
    slots(drainer).release(cloud_api(Limit(max=1, per_seconds=60)), ref(), START + 0.2)


# ---- a phone's pause ------------------------------------------------------------------------


def test_a_phone_waits_its_random_pause_after_a_start() -> None:
    # GIVEN a phone that pauses 30 to 40 s after each send
    timing = slots(Drainer())
    plan = timing.reserve_sender(phone(30, most=40), 3)
    # THEN one start fits now, the next only after its pause
    [start] = plan.starts
    assert start == START + CLAIM_LEAD_SECONDS
    assert plan.next_slot_at is not None
    assert start + GRACE + 30 <= plan.next_slot_at <= start + GRACE + 40
    [(before, gap_end)] = plan.gaps
    assert before is None and gap_end == plan.next_slot_at


def test_a_start_reserved_ten_seconds_ago_can_no_longer_give_its_pause_back() -> None:
    # GIVEN a phone pausing 10.2 s after each send: a start, and ten seconds after it another
    # (right after the first's pause)
    drainer = Drainer()
    sender = phone(10.2)
    timing = slots(drainer)
    [first] = timing.reserve_sender(sender, 1).starts
    drainer.clock.advance(first - START + 10)
    [second] = timing.reserve_sender(sender, 1).starts
    first_pause_ends = first + GRACE + 10.2
    assert second == pytest.approx(first_pause_ends)
    # WHEN the second is given back (the first's pause is the phone's again), then the first
    timing.release(sender, ref(), second)
    timing.release(sender, ref(), first)
    # THEN the first's pause stays: that start is past giving anything back but its entry
    assert timing.reserve_sender(sender, 1).starts == [pytest.approx(first_pause_ends)]


def test_starts_given_back_give_back_the_pauses_they_set() -> None:
    # GIVEN a phone with a pause of 0.1 s, and two starts reserved one after the other
    drainer = Drainer()
    sender = phone(0.1)
    timing = slots(drainer)
    [first] = timing.reserve_sender(sender, 1).starts
    [second] = timing.reserve_sender(sender, 1).starts
    assert second == pytest.approx(first + GRACE + 0.1)
    # WHEN neither started: the later given back first, then the earlier
    timing.release(sender, ref(), second)
    timing.release(sender, ref(), first)
    # THEN the phone owes no pause, and the hour has both slots again
    logs = VirtualRateWindows(drainer.table).read("sender#phone", sender.limits, START)
    assert GAP_KEY not in logs and logs[limit_key(sender.limits[0])] == []
    assert slots(drainer).reserve_sender(sender, 1).starts == [START + CLAIM_LEAD_SECONDS]


def test_a_start_given_back_while_a_later_one_stands_leaves_the_later_pause() -> None:
    drainer = Drainer()
    sender = phone(0.1)
    timing = slots(drainer)
    [first] = timing.reserve_sender(sender, 1).starts
    [second] = timing.reserve_sender(sender, 1).starts
    timing.release(sender, ref(), first)
    logs = VirtualRateWindows(drainer.table).read("sender#phone", sender.limits, START)
    assert logs[GAP_KEY] == [pytest.approx(second + GRACE + 0.1, abs=0.001)]


# ---- the pair, and giving back ----------------------------------------------------------------


def test_a_pair_slot_is_the_senders_start_or_none() -> None:
    drainer = Drainer()
    sender = cloud_api(Limit(max=10, per_seconds=1))
    timing = slots(drainer)
    assert timing.reserve_pair(sender, ref(), 1000.5, START).starts == [1000.5]
    # WHEN a second send to the same person would start a second later
    refused = timing.reserve_pair(sender, ref(), 1001.5, START)
    # THEN it gets no slot, and learns when the person's next one is
    assert refused.starts == []
    assert refused.next_slot_at == pytest.approx(1000.5 + GRACE + 6, abs=0.001)
    # AND another person is not held back
    assert timing.reserve_pair(sender, ref("p2"), 1001.5, START).starts == [1001.5]


def test_a_start_given_back_frees_the_senders_slot_and_the_persons() -> None:
    drainer = Drainer()
    sender = cloud_api(Limit(max=1, per_seconds=60))
    timing = slots(drainer)
    [start] = timing.reserve_sender(sender, 1).starts
    assert timing.reserve_pair(sender, ref(), start, START).starts == [start]
    timing.release(sender, ref(), start)
    # THEN the same slots are free again
    [again] = timing.reserve_sender(sender, 1).starts
    assert again == start
    assert timing.reserve_pair(sender, ref(), again, START).starts == [again]


def test_a_start_given_back_without_its_pair_leaves_the_persons_slot_taken() -> None:
    drainer = Drainer()
    sender = cloud_api(Limit(max=1, per_seconds=60))
    timing = slots(drainer)
    [start] = timing.reserve_sender(sender, 1).starts
    timing.reserve_pair(sender, ref(), start, START)
    timing.release(sender, ref(), start, pair=False)
    assert timing.reserve_sender(sender, 1).starts == [start]
    assert timing.reserve_pair(sender, ref(), start, START).starts == []
    pair_log = VirtualRateWindows(drainer.table).read(
        pair_window_key("shop", "p1"), [sender.pair_limit], START
    )
    assert pair_log == {"1/6": [pytest.approx(start + GRACE, abs=0.001)]}


# ---- waking for the slot --------------------------------------------------------------------


def reserved(timing: Slots, sender: Sender) -> float:
    [start] = timing.reserve_sender(sender, 1).starts
    assert timing.reserve_pair(sender, ref(), start, timing.s.clock.now()).starts
    return start


def test_a_thread_that_wakes_in_time_is_inside_its_slot_and_the_lead_shrinks_back() -> None:
    drainer = Drainer()
    timing = slots(drainer)
    timing.lead = 1.0
    sender = cloud_api(Limit(max=1, per_seconds=60))
    start = reserved(timing, sender)
    assert timing.wait_for_slot(sender, ref(), start, reached_late=False)
    assert drainer.clock.now() == start
    assert timing.lead == pytest.approx(LEAD_SHRINK)
    assert timing.state.report.late_wakeups == 0


def test_the_lead_never_shrinks_below_its_least() -> None:
    timing = slots(Drainer())
    sender = cloud_api(Limit(max=1, per_seconds=60))
    assert timing.wait_for_slot(sender, ref(), reserved(timing, sender), reached_late=False)
    assert timing.lead == CLAIM_LEAD_SECONDS


def test_a_thread_late_by_half_the_grace_is_still_inside_its_slot() -> None:
    drainer = Drainer(clock=Oversleeping(late=1, by=GRACE / 2))
    timing = slots(drainer)
    sender = cloud_api(Limit(max=1, per_seconds=60))
    start = reserved(timing, sender)
    assert timing.wait_for_slot(sender, ref(), start, reached_late=False)
    assert timing.state.report.late_wakeups == 0


def test_a_thread_that_wakes_late_reserves_again_and_goes_in_its_new_slot() -> None:
    # GIVEN a thread that overslept its slot once
    drainer = Drainer(clock=Oversleeping(late=1, by=GRACE))
    timing = slots(drainer)
    sender = cloud_api(Limit(max=1, per_seconds=60))
    start = reserved(timing, sender)
    # WHEN it waits for its slot
    assert timing.wait_for_slot(sender, ref(), start, reached_late=False)
    # THEN it went in a new slot, a lead after it woke, in the windows it gave back and took
    # again; a claim reached in time does not lengthen the lead
    woke = start + GRACE
    assert drainer.clock.now() == pytest.approx(woke + CLAIM_LEAD_SECONDS)
    assert timing.state.report.late_wakeups == 1
    assert timing.lead == CLAIM_LEAD_SECONDS
    windows = VirtualRateWindows(drainer.table)
    sender_log = windows.read("sender#shop", sender.limits, drainer.clock.now())
    assert sender_log == {"1/60": [pytest.approx(drainer.clock.now() + GRACE, abs=0.001)]}


def test_a_thread_late_every_time_gives_everything_back_after_three_tries() -> None:
    # GIVEN a thread that oversleeps every slot, and reached its claim late
    drainer = Drainer(clock=Oversleeping(late=10, by=1.0))
    timing = slots(drainer)
    sender = cloud_api(Limit(max=1, per_seconds=60))
    start = reserved(timing, sender)
    # WHEN it waits for its slot
    assert not timing.wait_for_slot(sender, ref(), start, reached_late=True)
    # THEN it tried three slots, doubling the lead each time, and holds none
    assert timing.state.report.late_wakeups == 3
    assert timing.lead == CLAIM_LEAD_SECONDS * 8
    windows = VirtualRateWindows(drainer.table)
    now = drainer.clock.now()
    assert windows.read("sender#shop", sender.limits, now) == {"1/60": []}
    assert windows.read(pair_window_key("shop", "p1"), [PAIR], now) == {"1/6": []}


def test_the_lead_doubles_only_up_to_its_most() -> None:
    drainer = Drainer(clock=Oversleeping(late=10, by=1.0))
    timing = slots(drainer)
    timing.lead = 3.0
    sender = cloud_api(Limit(max=1, per_seconds=60))
    assert not timing.wait_for_slot(sender, ref(), reserved(timing, sender), reached_late=True)
    assert timing.lead == 3.2


def test_a_late_thread_whose_person_has_no_slot_near_gives_up_and_leaves_the_persons_slot() -> None:
    # GIVEN a thread that will wake a second late for its slot, and another send to the same
    # person at the very start its next slot would be
    drainer = Drainer(clock=Oversleeping(late=1, by=1.0))
    timing = slots(drainer)
    sender = cloud_api(Limit(max=5, per_seconds=60))
    [start] = timing.reserve_sender(sender, 1).starts
    next_start = start + 1.0 + CLAIM_LEAD_SECONDS
    assert slots(drainer).reserve_pair(sender, ref(), next_start, START).starts
    # WHEN it waits for its slot
    assert not timing.wait_for_slot(sender, ref(), start, reached_late=False)
    # THEN it holds no slot of the sender's, and the other send keeps the person's
    windows = VirtualRateWindows(drainer.table)
    now = drainer.clock.now()
    assert windows.read("sender#shop", sender.limits, now) == {"5/60": []}
    assert windows.read(pair_window_key("shop", "p1"), [PAIR], now) == {
        "1/6": [pytest.approx(next_start + GRACE, abs=0.001)]
    }
    assert timing.state.report.late_wakeups == 1


# ---- the check at the wire ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("late_by", "kept_back"), [(0.0, False), (GRACE / 2, False), (GRACE, True)]
)
def test_a_send_at_the_wire_is_kept_back_only_once_past_half_the_grace(
    late_by: float, kept_back: bool
) -> None:
    drainer = Drainer()
    timing = slots(drainer)
    check = timing.on_wire(START)
    drainer.clock.advance(late_by)
    if kept_back:
        with pytest.raises(SlotMissed):
            check()
    else:
        check()


def test_a_send_kept_back_at_the_wire_gives_its_slot_back_and_takes_the_next() -> None:
    # GIVEN a send inside its slot, held up until after it
    drainer = Drainer()
    timing = slots(drainer)
    sender = cloud_api(Limit(max=1, per_seconds=60))
    start = reserved(timing, sender)
    drainer.clock.advance(start + GRACE - drainer.clock.now())
    # WHEN it is kept back at the wire
    again = timing.missed(sender, ref(), start, reached_late=False, again=True)
    # THEN it holds a fresh slot, a lead from now, in both windows, and only that one; the lead
    # (which a hold-up after waking does not cure) is unchanged
    now = drainer.clock.now()
    assert again is not None and again == pytest.approx(now + CLAIM_LEAD_SECONDS)
    assert timing.state.report.late_wakeups == 1 and timing.lead == CLAIM_LEAD_SECONDS
    windows = VirtualRateWindows(drainer.table)
    entry = [pytest.approx(again + GRACE, abs=0.001)]
    assert windows.read("sender#shop", sender.limits, now) == {"1/60": entry}
    assert windows.read(pair_window_key("shop", "p1"), [PAIR], now) == {"1/6": entry}


def test_a_send_kept_back_on_its_last_try_holds_no_slot() -> None:
    drainer = Drainer()
    timing = slots(drainer)
    sender = cloud_api(Limit(max=1, per_seconds=60))
    start = reserved(timing, sender)
    assert timing.missed(sender, ref(), start, reached_late=True, again=False) is None
    now = drainer.clock.now()
    windows = VirtualRateWindows(drainer.table)
    assert windows.read("sender#shop", sender.limits, now) == {"1/60": []}
    assert windows.read(pair_window_key("shop", "p1"), [PAIR], now) == {"1/6": []}
    assert timing.lead == CLAIM_LEAD_SECONDS * 2  # a claim reached late: a longer lead


def test_a_pair_slot_of_a_person_allowed_several_an_hour_takes_one_of_them() -> None:
    # GIVEN a phone allowed 4 messages an hour to one person
    drainer = Drainer()
    sender = phone(30)
    # WHEN one send reserves the person's slot
    assert slots(drainer).reserve_pair(sender, ref(), 1000.5, START).starts == [1000.5]
    # THEN it took one of the four
    logs = VirtualRateWindows(drainer.table).read(
        pair_window_key("phone", "p1"), [sender.pair_limit], START
    )
    assert logs == {"4/3600": [pytest.approx(1000.5 + GRACE, abs=0.001)]}


# ---- claim timing ---------------------------------------------------------------------------


def test_a_fresh_drainer_claims_a_little_ahead_of_a_fast_write() -> None:
    # (20 ms for a write and 10 ms of deviation to start with: 20 + 4 x 10)
    timing = slots(Drainer())
    assert timing.claim_ahead() == pytest.approx(0.06)


def test_claim_times_are_smoothed_as_tcp_smooths_round_trips() -> None:
    # RFC 6298: srtt += (r - srtt) / 8, rttvar += (|r - srtt| - rttvar) / 4, ahead srtt + 4 rttvar
    timing = slots(Drainer())
    timing.claimed_in(0.03)
    srtt, rttvar = 0.02 + 0.01 / 8, 0.01 + (0.01 - 0.01) / 4
    assert timing.claim_ahead() == pytest.approx(srtt + 4 * rttvar)


def test_an_outlier_counts_at_most_eight_deviations_above_the_estimate() -> None:
    timing = slots(Drainer())
    # GIVEN one slow write (counted as 250 ms, a slow write's least) that widened the deviation
    timing.claimed_in(0.3)
    srtt = 0.02 + (0.25 - 0.02) / 8
    rttvar = 0.01 + (0.23 - 0.01) / 4
    assert timing.claim_ahead() == pytest.approx(srtt + 4 * rttvar)
    # WHEN a write retried after a throttle takes 5 s
    timing.claimed_in(5.0)
    # THEN it counts as the estimate plus eight deviations
    counted_as = srtt + 8 * rttvar
    srtt, rttvar = srtt + (counted_as - srtt) / 8, rttvar + (counted_as - srtt - rttvar) / 4
    assert timing.claim_ahead() == pytest.approx(srtt + 4 * rttvar)


def test_a_thread_with_exactly_a_claims_time_left_is_not_late() -> None:
    timing = slots(Drainer())
    assert not timing.reached_claim_late(start=0.02, now=0.0)
    assert timing.reached_claim_late(start=0.0199, now=0.0)


# ---- no slot yet: waiting -------------------------------------------------------------------


@dataclass
class Waiting:
    drainer: Drainer
    timing: Slots
    messages: VirtualMessages
    queue: VirtualQueue
    held: Held


def waiting(*, already: bool = False, seq: int = 1) -> Waiting:
    """A queued message whose copy this drainer holds, its queue and its table."""
    drainer = Drainer()
    messages = VirtualMessages(VirtualAws(FakeClock(), 1))
    message_id = new_message_id(START)
    messages.create(
        Message(
            id=message_id, sender="shop", to="+393330000001", type="text",
            content={"body": "Ciao"}, status=Status.QUEUED, created_at=START, updated_at=START,
            valid_until=START + 3600, validity_seconds=3600, queue_seq=seq,
            events=[event(Phase.QUEUED, START)],
        )
    )  # fmt: skip
    drainer.messages = messages  # type: ignore[attr-defined]
    queue = VirtualQueue(VirtualAws(drainer.clock, 1), "q", visibility_timeout=120)
    timing = Slots(drainer, RunState(outbox=queue))  # type: ignore[arg-type]
    copy = QueuedRef(
        id=message_id, seq=1, attempt=1, sender="shop", pair="p1", visible_at=START,
        waiting=already,
    )  # fmt: skip
    held = Held(Delivery(copy, "sqs-1", "receipt-1", 1), copy, START)
    return Waiting(drainer, timing, messages, queue, held)


def test_a_wait_of_up_to_ten_seconds_stays_in_hand() -> None:
    w = waiting()
    w.timing.wait(w.held, START + 10, START)
    assert w.held.ready_at == START + 10
    assert w.timing.state.take_all() == [w.held]
    assert w.queue.copies() == 0 and w.timing.state.acks == []


def test_a_longer_wait_goes_back_to_the_queue_as_a_waiting_copy_until_its_slot() -> None:
    # GIVEN a held copy whose next slot is a minute away
    w = waiting()
    metrics.clear_metrics()
    # WHEN it waits
    w.timing.wait(w.held, START + 60, START)
    # THEN a fresh copy, marked waiting, shows on the queue at the slot; the one held is acked
    state = w.timing.state
    assert state.take_all() == [] and state.acks == ["receipt-1"]
    assert state.returning == [START + 60] and state.report.deferred == 1
    w.drainer.clock.advance(59)
    assert w.queue.receive(wait_seconds=0) == []
    w.drainer.clock.advance(1.5)
    [copy] = w.queue.receive(wait_seconds=0)
    assert copy.ref == QueuedRef(
        **{**w.held.ref.__dict__, "visible_at": START + 60, "waiting": True}
    )
    # AND the message says it waits for its slot, once
    message = w.messages.get(w.held.ref.id)
    assert message is not None and message.status == Status.QUEUED
    assert message.rate_limited_until == START + 60 and message.updated_at == START
    assert message.events[-1] == event(Phase.RATE_LIMITED, START, next_slot_at=iso(START + 60))
    assert counted("RateLimited") == ("Count", [1.0])


def test_a_copy_already_waiting_waits_again_without_a_second_event() -> None:
    w = waiting(already=True)
    w.timing.wait(w.held, START + 60, START)
    assert w.queue.copies() == 1
    message = w.messages.get(w.held.ref.id)
    assert message is not None and [e.phase for e in message.events] == [Phase.QUEUED]


def test_a_message_another_copy_put_waiting_gets_no_second_wait_event() -> None:
    # GIVEN a message already waiting (another copy of it went back to the queue)
    w = waiting()
    w.messages.update(
        w.held.ref.id,
        statuses=(Status.QUEUED,),
        now=START,
        changes={"rate_limited_until": START + 30},
        events=[event(Phase.RATE_LIMITED, START, next_slot_at=iso(START + 30))],
    )
    # WHEN this copy, not marked waiting, waits too
    w.timing.wait(w.held, START + 60, START)
    # THEN the message keeps its one wait
    message = w.messages.get(w.held.ref.id)
    assert message is not None and message.rate_limited_until == START + 30
    assert [e.phase for e in message.events] == [Phase.QUEUED, Phase.RATE_LIMITED]


def test_every_wait_sent_back_is_counted() -> None:
    w = waiting()
    w.timing.wait(w.held, START + 60, START)
    w.timing.wait(w.held, START + 90, START)
    assert w.timing.state.report.deferred == 2


def test_a_stale_copy_waits_without_touching_the_message() -> None:
    # GIVEN a copy of an older seq than the message's
    w = waiting(seq=2)
    w.timing.wait(w.held, START + 60, START)
    assert w.queue.copies() == 1
    message = w.messages.get(w.held.ref.id)
    assert message is not None and message.rate_limited_until is None
