"""The rate window's table (moto): its items, the version every write is conditioned on, a
drainer meeting another's write, and entries given back."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bench.virtual_aws.clock import VirtualAws
from bench.virtual_aws.dynamodb import RateWindowTable, VirtualRateWindows
from postino import aws
from postino.clock import FakeClock
from postino.drain.rate_window import GAP_KEY, Plan
from postino.senders.model import Limit
from postino.store.codec import from_item
from postino.store.rate_window import Planner, RateWindowConflict, RateWindowStore

TABLE = "postino-RateWindowTable"
KEY = "sender#s"
MINUTE = Limit(max=3, per_seconds=60)
HOUR = Limit(max=10, per_seconds=3600)
PACE = Limit(max=5, per_seconds=1)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        aws.reset_clients()
        aws.dynamodb().create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            yield TABLE
        finally:
            aws.reset_clients()


def stored(key: str = KEY) -> dict[str, Any] | None:
    response = aws.dynamodb().get_item(TableName=TABLE, Key={"key": {"S": key}})
    return from_item(response["Item"]) if "Item" in response else None


def writing(logs: dict[str, list[float]], seen: list[dict[str, list[float]]]) -> Planner:
    """A planner that notes the logs it is given and plans one start that writes `logs`."""

    def plan(current: dict[str, list[float]]) -> Plan:
        seen.append({k: list(v) for k, v in current.items()})
        return Plan(starts=[100.0], next_slot_at=None, logs=logs)

    return plan


# ---- the item ------------------------------------------------------------------------------


def test_a_reservation_is_stored_in_milliseconds_rounded_up_until_its_longest_window_passed(
    table: str,
) -> None:
    # GIVEN a sender with a minute's and an hour's limit, and a plan of two entries
    logs = {"3/60": [100.0004], "10/3600": [99.5, 100.0004]}
    # WHEN a drainer reserves it
    plan = RateWindowStore(table).reserve(KEY, [MINUTE, HOUR], writing(logs, []), now=99.0)
    # THEN the item holds the entries as whole milliseconds, never earlier than planned, its
    # first version, and expires a minute after its newest entry has left the hour
    assert plan.starts == [100.0]
    item = stored()
    assert item is not None
    assert item["v"] == 1
    assert item["logs"] == {"3/60": [100001], "10/3600": [99500, 100001]}
    assert item["expires_at"] == int(100.0004 + 3600 + 60)


def test_an_item_with_no_entries_left_expires_a_window_after_now(table: str) -> None:
    store = RateWindowStore(table)
    plan = Plan(starts=[100.0], next_slot_at=None, logs={"3/60": []})
    store.reserve(KEY, [MINUTE], lambda logs: plan, now=200.5)
    item = stored()
    assert item is not None and item["expires_at"] == int(200.5 + 60 + 60)


def test_an_entry_is_read_back_in_seconds_while_it_is_in_its_window(table: str) -> None:
    store = RateWindowStore(table)
    logs = {"3/60": [100.0004], "10/3600": [40.0, 100.0004]}
    store.reserve(KEY, [MINUTE, HOUR], writing(logs, []), now=99.0)
    # WHEN read a minute and a half later
    read = RateWindowStore(table).read(KEY, [MINUTE, HOUR], now=130.0)
    # THEN the minute's entry is there, rounded up to its millisecond; the hour's both
    assert read == {"3/60": [100.001], "10/3600": [40.0, 100.001]}
    assert RateWindowStore(table).read(KEY, [MINUTE], now=161.0) == {"3/60": []}


def test_a_window_never_written_reads_empty(table: str) -> None:
    assert RateWindowStore(table).read("sender#none", [MINUTE], now=0) == {"3/60": []}


def test_a_window_is_read_consistently(table: str) -> None:
    # (a read that could miss the latest reservation would show a free slot that is not)
    asked: list[dict[str, Any]] = []
    aws.dynamodb().meta.events.register(
        "provide-client-params.dynamodb.GetItem", lambda params, **_: asked.append(params)
    )
    RateWindowStore(table).read(KEY, [MINUTE], now=0)
    assert [params.get("ConsistentRead") for params in asked] == [True]


def test_a_plan_without_starts_writes_nothing(table: str) -> None:
    store = RateWindowStore(table)
    waiting = Plan(starts=[], next_slot_at=160.0, logs={"3/60": [100.0]})
    assert store.reserve(KEY, [MINUTE], lambda logs: waiting, now=100.0) is waiting
    assert stored() is None


# ---- drainers meeting on one window ------------------------------------------------------------


def test_a_drainer_plans_on_what_it_wrote_last_without_reading(table: str) -> None:
    store, seen = RateWindowStore(table), list[dict[str, list[float]]]()
    store.reserve(KEY, [MINUTE], writing({"3/60": [100.0004]}, seen), now=99.0)
    store.reserve(KEY, [MINUTE], writing({"3/60": [100.0004, 101.0]}, seen), now=99.0)
    # THEN the first plan saw nothing, the second its own entry (as planned: not read back)
    assert seen == [{}, {"3/60": [100.0004]}]
    item = stored()
    assert item is not None and item["v"] == 2 and item["logs"] == {"3/60": [100001, 101000]}


def test_a_drainer_new_to_a_window_plans_again_on_the_item_another_wrote(table: str) -> None:
    # GIVEN a window another drainer wrote
    RateWindowStore(table).reserve(KEY, [MINUTE], writing({"3/60": [100.0]}, []), now=99.0)
    # WHEN a drainer that never saw it reserves
    seen: list[dict[str, list[float]]] = []
    RateWindowStore(table).reserve(KEY, [MINUTE], writing({"3/60": [100.0, 102.0]}, seen), 99.0)
    # THEN its first plan, on nothing, was refused, and it planned again on the other's entry
    assert seen == [{}, {"3/60": [100.0]}]
    item = stored()
    assert item is not None and item["v"] == 2 and item["logs"] == {"3/60": [100000, 102000]}


def test_a_drainer_whose_window_changed_since_it_wrote_plans_again_on_the_change(
    table: str,
) -> None:
    first, other = RateWindowStore(table), RateWindowStore(table)
    seen: list[dict[str, list[float]]] = []
    first.reserve(KEY, [MINUTE], writing({"3/60": [100.0]}, []), now=99.0)
    other.reserve(KEY, [MINUTE], writing({"3/60": [101.0]}, []), now=99.0)
    first.reserve(KEY, [MINUTE], writing({"3/60": [101.0, 102.0]}, seen), now=99.0)
    assert seen == [{"3/60": [100.0]}, {"3/60": [101.0]}]
    item = stored()
    assert item is not None and item["v"] == 3 and item["logs"] == {"3/60": [101000, 102000]}


def test_a_window_another_drainer_writes_every_time_is_given_up_after_eight_tries(
    table: str,
) -> None:
    # GIVEN a window that another drainer writes each time this one plans on it
    racer = RateWindowStore(table)
    plans: list[dict[str, list[float]]] = []

    def raced(logs: dict[str, list[float]]) -> Plan:
        plans.append(logs)
        racer.reserve(KEY, [MINUTE], writing({"3/60": [float(len(plans))]}, []), now=0.0)
        return Plan(starts=[100.0], next_slot_at=None, logs={"3/60": [100.0]})

    # WHEN it reserves
    with pytest.raises(RateWindowConflict) as raised:
        RateWindowStore(table).reserve(KEY, [MINUTE], raced, now=0.0)
    assert str(raised.value) == KEY
    # THEN it planned eight times, each on the racer's latest, and never wrote
    assert len(plans) == 8
    assert plans[1:] == [{"3/60": [float(n)]} for n in range(1, 8)]
    item = stored()
    assert item is not None and item["logs"] == {"3/60": [8000]}


def test_a_window_whose_item_expired_since_the_drainer_wrote_it_is_written_anew(
    table: str,
) -> None:
    # GIVEN a window a drainer wrote, whose item then expired (DynamoDB's TTL deleted it)
    store = RateWindowStore(table)
    store.reserve(KEY, [MINUTE], writing({"3/60": [100.0]}, []), now=99.0)
    aws.dynamodb().delete_item(TableName=table, Key={"key": {"S": KEY}})
    # WHEN the drainer reserves in it again
    seen: list[dict[str, list[float]]] = []
    store.reserve(KEY, [MINUTE], writing({"3/60": [200.0]}, seen), now=199.0)
    # THEN its write on the version it knew is refused, and it writes the window anew
    assert seen == [{"3/60": [100.0]}, {}]
    item = stored()
    assert item is not None and item["v"] == 1 and item["logs"] == {"3/60": [200000]}


def test_a_drainer_remembers_the_last_ten_thousand_windows_it_wrote() -> None:
    # GIVEN a drainer that wrote 10,001 windows, in turn (the table in memory)
    store = VirtualRateWindows(RateWindowTable(VirtualAws(FakeClock(), 1)))
    for n in range(10_001):
        store.reserve(f"pair#s#{n}", [MINUTE], writing({"3/60": [float(n)]}, []), now=0.0)
    # WHEN it reserves again in the second, then in the first
    seen: dict[int, list[dict[str, list[float]]]] = {1: [], 0: []}
    for n, planned in seen.items():
        store.reserve(f"pair#s#{n}", [MINUTE], writing({"3/60": [5.0]}, planned), now=0.0)
    # THEN it had forgotten the oldest (it learnt it from its refused write), not the next
    assert seen == {1: [{"3/60": [1.0]}], 0: [{}, {"3/60": [0.0]}]}


def test_a_refusal_other_than_the_condition_is_raised_at_once(table: str) -> None:
    seen: list[dict[str, list[float]]] = []
    with pytest.raises(ClientError) as raised:
        RateWindowStore("no-such-table").reserve(KEY, [MINUTE], writing({}, seen), now=0.0)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert len(seen) == 1


# ---- giving back ---------------------------------------------------------------------------


def test_an_entry_given_back_is_the_one_stored_for_it_rounded_up(table: str) -> None:
    # GIVEN a minute's window holding an entry stored rounded up, one a millisecond later,
    # and one just before
    logs = {"3/60": [100.0004, 100.0014, 99.9996]}
    RateWindowStore(table).reserve(KEY, [MINUTE], writing(logs, []), now=99.0)
    # WHEN a drainer (not the one that wrote it) gives back the entry of 100.0004
    RateWindowStore(table).release(KEY, [MINUTE], 100.0004, now=100.5)
    # THEN only that one is gone
    item = stored()
    assert item is not None and item["logs"] == {"3/60": [100000, 100002]}
    assert item["v"] == 2


def test_an_entry_given_back_twice_is_given_back_once(table: str) -> None:
    # GIVEN two starts at 100 and one half a second later
    logs = {"3/60": [100.0, 100.0, 100.5]}
    store = RateWindowStore(table)
    store.reserve(KEY, [MINUTE], writing(logs, []), now=99.0)
    # WHEN the start at 100 is given back, then again (a retried release)
    store.release(KEY, [MINUTE], 100.0, now=100.5)
    item = stored()
    assert item is not None and item["logs"] == {"3/60": [100000, 100500]}
    store.release(KEY, [MINUTE], 100.0, now=100.5)
    store.release(KEY, [MINUTE], 100.0, now=100.5)
    # THEN the later start keeps its entry
    item = stored()
    assert item is not None and item["logs"] == {"3/60": [100500]}


def test_an_entry_a_whole_millisecond_after_the_one_given_back_is_anothers(table: str) -> None:
    # (times this small are exact in milliseconds as floats: 0.005 - 0.004 == 0.001)
    store = RateWindowStore(table)
    store.reserve(KEY, [MINUTE], writing({"3/60": [0.005]}, []), now=0.0)
    store.release(KEY, [MINUTE], 0.004, now=0.0)
    item = stored()
    assert item is not None and item["logs"] == {"3/60": [5]}


def test_nothing_is_given_back_to_a_paced_window_and_nothing_written(table: str) -> None:
    store = RateWindowStore(table)
    store.reserve(KEY, [PACE], writing({"5/1": [100.0]}, []), now=99.0)
    store.release(KEY, [PACE], 100.0, now=100.1)
    item = stored()
    assert item is not None and item["v"] == 1 and item["logs"] == {"5/1": [100000]}


def test_a_paced_window_keeps_its_entry_when_an_hours_is_given_back(table: str) -> None:
    # GIVEN a sender at 5 a second and 10 an hour, with one start reserved in both
    store = RateWindowStore(table)
    store.reserve(KEY, [PACE, HOUR], writing({"5/1": [100.0], "10/3600": [100.0]}, []), 99.0)
    # WHEN it is given back
    store.release(KEY, [PACE, HOUR], 100.0, now=100.1)
    # THEN the hour has its slot again; the pace still follows from the entry
    item = stored()
    assert item is not None and item["logs"] == {"5/1": [100000], "10/3600": []}


def test_a_gap_given_back_goes_with_its_start_even_in_a_paced_window(table: str) -> None:
    # GIVEN a phone paced at 5 a second whose start at 100 set a pause until 130, after one
    # until 115 set by the start before
    store = RateWindowStore(table)
    logs = {"5/1": [100.0], GAP_KEY: [130.0]}
    store.reserve(KEY, [PACE], writing(logs, []), now=99.0)
    # WHEN that start never happened
    store.release(KEY, [PACE], 100.0, now=100.1, gap=(115.0, 130.0))
    # THEN the pause is the one before it again; the pace's entry stays
    item = stored()
    assert item is not None and item["logs"] == {"5/1": [100000], GAP_KEY: [115000]}


# ---- the drainer's own threads -----------------------------------------------------------------


def planning_until(go: threading.Event, entered: threading.Event) -> Planner:
    """A planner that says it has begun, then plans nothing until `go`."""

    def plan(logs: dict[str, list[float]]) -> Plan:
        entered.set()
        assert go.wait(10)
        return Plan(starts=[], next_slot_at=None, logs=logs)

    return plan


def test_threads_of_one_drainer_take_turns_on_a_window_but_not_across_windows() -> None:
    # GIVEN a thread of a drainer planning on a window (no writes: nothing is planned)
    store = RateWindowStore(TABLE)
    go, first_in, same_in, other_in = (threading.Event() for _ in range(4))

    def reserving(key: str, entered: threading.Event) -> threading.Thread:
        thread = threading.Thread(
            target=store.reserve, args=(key, [MINUTE], planning_until(go, entered), 0.0)
        )
        thread.start()
        return thread

    threads = [reserving(KEY, first_in)]
    try:
        assert first_in.wait(10)
        # WHEN another thread plans on the same window, and a third on another window
        threads += [reserving(KEY, same_in), reserving("pair#s#other", other_in)]
        # THEN the other window's was not held up; the same window's waits its turn
        assert other_in.wait(10)
        assert not same_in.wait(0.2)
        go.set()
        assert same_in.wait(10)
    finally:
        go.set()
        for thread in threads:
            thread.join(10)


def test_a_drainer_reserves_in_more_windows_than_it_keeps_locks_for() -> None:
    # (a drainer keeps a lock per window for its last 10,000: one per person it sent to)
    store = RateWindowStore(TABLE)
    nothing = Plan(starts=[], next_slot_at=None, logs={})
    for n in range(10_002):
        assert store.reserve(f"pair#s#{n}", [MINUTE], lambda logs: nothing, now=0.0) is nothing


def test_a_drainer_keeps_the_locks_of_its_last_ten_thousand_windows() -> None:
    # GIVEN a thread planning on a window, after one other window and before 9,999 more
    store = RateWindowStore(TABLE)
    nothing = Plan(starts=[], next_slot_at=None, logs={})
    store.reserve("pair#s#0", [MINUTE], lambda logs: nothing, now=0.0)
    go, first_in, again_in = threading.Event(), threading.Event(), threading.Event()
    first = threading.Thread(
        target=store.reserve, args=("pair#s#1", [MINUTE], planning_until(go, first_in), 0.0)
    )
    first.start()
    again = threading.Thread(
        target=store.reserve, args=("pair#s#1", [MINUTE], planning_until(go, again_in), 0.0)
    )
    try:
        assert first_in.wait(10)
        for n in range(2, 10_001):
            store.reserve(f"pair#s#{n}", [MINUTE], lambda logs: nothing, now=0.0)
        # WHEN another thread plans on the same window
        again.start()
        # THEN it still waits its turn: that window's lock is among the last 10,000
        assert not again_in.wait(0.2)
    finally:
        go.set()
        first.join(10)
        if again.is_alive():
            again.join(10)
