"""The drain's virtual-time bench: its clock-aware lock, its SQS, and a small backlog end to end."""

import pytest

from bench.virtual_aws.clock import ClockLock, VirtualAws
from bench.virtual_aws.sqs import POLL_SECONDS, VirtualQueue
from bench.virtual_drain import Scenario, run_scenario, summary
from postino.clock import FakeClock
from postino.outbox import QueuedRef
from postino.settings import Settings
from tests.unit.test_clock import run_as_work

START = 1_000.0


def test_a_clock_lock_hands_over_in_turn_at_the_instant_it_is_let_go() -> None:
    # GIVEN a job that holds the lock for 1 s, two that want it at +0.1 and +0.2 (each then
    # holding it for 1 s), and a bystander asleep until +1.5
    clock = FakeClock(START)
    lock = ClockLock(clock)
    held: list[tuple[str, float]] = []

    def hold(name: str, arrives: float) -> None:
        clock.sleep(arrives)
        with lock:
            held.append((name, clock.now()))
            clock.sleep(1)

    # WHEN they run as work on the clock (a plain lock would freeze it: its waiter is work)
    threads = run_as_work(
        clock,
        lambda: hold("first", 0),
        lambda: hold("second", 0.1),
        lambda: hold("third", 0.2),
        lambda: clock.sleep(1.5),
    )
    for thread in threads:
        thread.join(5)
    # THEN each got it in its turn, the moment the one before let go (not at the bystander's +1.5)
    assert not any(thread.is_alive() for thread in threads)
    assert held == [("first", START), ("second", START + 1), ("third", START + 2)]
    assert clock.now() == START + 3


def ref(message_id: str) -> QueuedRef:
    return QueuedRef(id=message_id, seq=1, attempt=1, sender="s", pair="p", visible_at=START)


def queue() -> tuple[FakeClock, VirtualQueue]:
    clock = FakeClock(START)
    return clock, VirtualQueue(VirtualAws(clock, seed=1), "q", visibility_timeout=120)


def test_a_received_copy_is_hidden_and_comes_back_after_its_visibility_timeout_until_acked() -> (
    None
):
    clock, outbox = queue()
    outbox.put(ref("m1"))
    # WHEN a copy is received, hidden for 30 s
    [first] = outbox.receive(wait_seconds=0, hidden_for=30)
    # THEN nobody receives it meanwhile
    assert outbox.receive(wait_seconds=0, hidden_for=30) == []
    # AND unacknowledged, it comes back after 30 s, a second receive of it
    clock.advance(31)
    [again] = outbox.receive(wait_seconds=0, hidden_for=30)
    assert (again.sqs_message_id, again.receive_count) == (first.sqs_message_id, 2)
    # AND only its latest receipt deletes it
    outbox.ack([first.receipt])
    clock.advance(31)
    [third] = outbox.receive(wait_seconds=0, hidden_for=30)
    outbox.ack([third.receipt])
    clock.advance(31)
    assert outbox.receive(wait_seconds=0) == [] and outbox.copies() == 0


def test_a_delayed_copy_is_hidden_until_its_delay_and_a_long_poll_answers_when_it_shows() -> None:
    clock, outbox = queue()
    # GIVEN a copy put with a delay of 5 s
    outbox.put(ref("m1"), delay_seconds=5)
    put_at = clock.now()
    # THEN a receive does not see it
    assert outbox.receive(wait_seconds=0) == []
    # AND a long poll of 20 s answers as soon as it shows, not at the end of the wait
    [delivery] = outbox.receive(wait_seconds=20)
    assert delivery.ref == ref("m1")
    assert put_at + 5 <= clock.now() <= put_at + 5 + POLL_SECONDS + 1e-6


@pytest.mark.parametrize("shards", [1, 2])
def test_a_small_backlog_is_sent_once_each_and_never_over_the_senders_limit(shards: int) -> None:
    # GIVEN 30 messages queued for a sender limited to 10 a second
    scenario = Scenario("tiny", senders=1, limit=10, messages=30)
    # WHEN the real drain sends them in simulated time, with one drainer, or two (the second a
    # shard the sender does not need: it hands back what it took)
    outcome = run_scenario(scenario, shards, Settings(status_events="all"))
    # THEN each was sent once (summary raises otherwise), never more than 10 in any 1 s
    figures = summary(outcome, Settings().rate_window_grace_seconds)
    assert len({s.message_id for s in outcome.sends}) == len(outcome.sends) == 30
    assert figures["most_starts_in_1s"] <= 10
    if shards == 1:
        # AND its rate window spaced every start a pace apart (two shards re-plan on each
        # other's entries, which travel in whole milliseconds)
        assert figures["planned_closer_than_the_pace"] == 0
    # AND its pace is a sane share of the limit
    assert 0.5 < figures["ratio"] < 1
    # AND its status events (every one, as StatusEvents=all) went out ten to a request, on
    # the virtual bus (not to AWS)
    assert 3 <= outcome.requests.get("events:PutEvents", 0) <= 3 * shards
