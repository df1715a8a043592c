"""The drain run's shared state: what it holds, when it acknowledges, what comes back."""

from postino.drain.state import Held, RunState
from postino.outbox import Delivery, QueuedRef


def held(n: int, sender: str = "default", ready_at: float = 0.0) -> Held:
    ref = QueuedRef(id=f"m{n}", seq=1, attempt=1, sender=sender, pair="p", visible_at=0.0)
    return Held(Delivery(ref, f"sqs{n}", f"receipt{n}", 1), ref, ready_at)


def test_only_the_messages_whose_time_has_come_are_taken_the_others_stay_held() -> None:
    # GIVEN messages of two senders, some ready now and some later
    state = RunState()
    for h in (held(1, "a", 1.0), held(2, "a", 5.0), held(3, "b", 2.0)):
        state.hold(h)
    # WHEN the ready ones are taken at t=2
    ready = state.take_ready(2.0)
    # THEN each sender's ready messages come out, and only the later one is still held
    assert {name: [h.ref.id for h in batch] for name, batch in ready.items()} == {
        "a": ["m1"],
        "b": ["m3"],
    }
    assert state.held_count() == 1 and state.soonest_ready(default=99.0) == 5.0


def test_acks_wait_for_ten_while_sends_run_and_go_at_once_when_none_do() -> None:
    # GIVEN a send in flight and nine copies to acknowledge
    state = RunState()
    state.started()
    for n in range(9):
        state.ack(held(n).delivery)
    # THEN they wait for a tenth, unless forced
    assert state.take_acks() == []
    state.ack(held(9).delivery)
    assert len(state.take_acks()) == 10
    # AND with no send in flight, even one goes at once
    state.finished()
    state.ack(held(10).delivery)
    assert state.take_acks() == ["receipt10"] and state.take_acks(force=True) == []


def test_a_copy_put_back_counts_as_coming_back_until_a_while_after_it_is_visible() -> None:
    # GIVEN a copy that becomes visible again at t=10
    state = RunState()
    state.comes_back_at(10.0)
    # THEN a drain that runs past it looks for it, one that ends first does not
    assert state.comes_back_before(deadline=20.0, now=8.0)
    assert not state.comes_back_before(deadline=9.0, now=8.0)
    # AND it is forgotten five seconds after it came back
    assert not state.comes_back_before(deadline=30.0, now=16.0) and not state.returning
