"""What the drain records of a send, each write on the message as DynamoDB keeps it: called
straight on the recorder, on a clock the test moves, with moto's tables."""

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from local.waha_peer import WahaPeer
from postino import aws
from postino.clock import FakeClock, iso
from postino.drain.outcomes import Action, Decision
from postino.drain.record import CLAIM_EXPIRES_SECONDS, ORPHAN_AFTER_SECONDS, Recorder
from postino.drain.state import RunState, SenderCache
from postino.messages.model import Message, MessageError, Phase, Status, event
from postino.observability import metrics
from postino.outbox import Delivery, Outbox, QueuedRef
from postino.providers.base import Accepted, SenderUnavailable
from postino.providers.waha_terms import SESSION_PAUSE
from postino.senders.model import Sender
from postino.services import Services
from postino.store.messages import DUE_PARTITION, parked_partition
from postino.store.senders import DEFAULT_SENDER
from tests.conftest import queue_depth, queue_url, sqs_depth
from tests.support.events import HttpResult
from tests.support.waha import waha_sender

Api = Callable[..., HttpResult]
COPY = "copy-1"  # the SQS id of the copy the drainer holds
ERROR = MessageError(code="131000", title="Something went wrong", message="m", retryable=True)


class KeptBack(Outbox):
    """The drainer's queue, as far as a copy it keeps for later: which, and for how long."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.later: list[tuple[str, int]] = []

    def retry_later(self, receipt: str, seconds: int) -> None:
        self.later.append((receipt, seconds))


class Run:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.queue = KeptBack(queue_url(services))
        self.state = RunState(outbox=self.queue)
        self.senders = SenderCache(services)
        self.recorder = Recorder(services, self.state, self.senders)

    def announced(self) -> list[dict[str, Any]]:
        assert all(e["EventBusName"] == self.s.settings.event_bus_name for e in self.state.events)
        return [json.loads(e["Detail"]) for e in self.state.events]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run(make_services: Callable[..., Services], clock: FakeClock) -> Iterator[Run]:
    metrics.clear_metrics()
    yield Run(make_services(clock))
    metrics.clear_metrics()


@pytest.fixture
def every_status(stack: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """StatusEvents=all, before the services read their settings (list it before `run`)."""
    monkeypatch.setenv("STATUS_EVENTS", "all")


def counted(name: str) -> list[float]:
    """The values a metric got, in the unit every one of ours has (Count)."""
    metric = metrics.metric_set.get(name)
    if metric is None:
        return []
    assert metric["Unit"] == "Count"
    return list(metric["Value"])


def text(**fields: Any) -> dict[str, Any]:
    return {"to": "+39 333 123 4567", "type": "text", "text": {"body": "Ciao"}} | fields


def posted(api: Api, run: Run, **fields: Any) -> Message:
    message = run.s.messages.get(api("POST", "/v1/messages", text(**fields)).body["id"])
    assert message is not None
    return message


def claimed(api: Api, run: Run, by: str = COPY, **fields: Any) -> Message:
    """A message claimed for its first attempt through the copy `by`, now."""
    message = posted(api, run, **fields)
    now = run.s.clock.now()
    return run.s.messages.update(
        message.id,
        statuses=(Status.QUEUED,),
        now=now,
        changes={"status": Status.SENDING, "attempts": 1, "claimed_by": by},
        events=[event(Phase.SENDING, now, attempt=1)],
    )


def copy_of(message: Message | str, seq: int, visible_at: float, sqs_id: str = COPY) -> Delivery:
    message_id = message if isinstance(message, str) else message.id
    ref = QueuedRef(
        id=message_id, seq=seq, attempt=1, sender=DEFAULT_SENDER, pair="p", visible_at=visible_at
    )
    return Delivery(ref, sqs_id, f"receipt-of-{sqs_id}", 1)


def stored(run: Run, message_id: str) -> Message:
    message = run.s.messages.get(message_id)
    assert message is not None
    return message


def raw_item(run: Run, message_id: str) -> dict[str, Any]:
    table = run.s.settings.messages_table
    return aws.dynamodb().get_item(TableName=table, Key={"id": {"S": message_id}})["Item"]


def last_event(message: Message) -> tuple[str, dict[str, Any]]:
    return message.events[-1].phase.value, message.events[-1].detail


# ---- sent ----------------------------------------------------------------------------------


def test_a_send_meta_accepted_is_recorded_announced_counted_and_acknowledged(
    every_status: None, api: Api, run: Run, clock: FakeClock
) -> None:
    # GIVEN a message this drainer claimed
    message = claimed(api, run)
    clock.advance(2)
    # WHEN Meta accepts it
    run.recorder.sent(message, copy_of(message, 1, 0.0), Accepted("wamid.X", "held_for_quality"))
    # THEN it is sent, with the wamid, the time, and Meta's status on its timeline
    now = clock.now()
    after = stored(run, message.id)
    assert (after.status, after.provider_message_id, after.sent_at) == (Status.SENT, "wamid.X", now)
    assert last_event(after) == ("provider_accepted", {"message_status": "held_for_quality"})
    # AND the user's bus hears of it, the run counts it, and the copy is acknowledged
    assert [(e["id"], e["status"], e["at"]) for e in run.announced()] == [
        (message.id, "sent", iso(now))
    ]
    assert run.state.report.sent == 1 and dict(run.state.report.outcomes) == {"sent": 1}
    assert counted("MessagesSent") == [1.0]
    assert run.state.acks == [f"receipt-of-{COPY}"]


def test_a_send_whose_claim_another_copy_took_is_not_recorded_over_it(
    every_status: None, api: Api, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a message claimed through another copy
    message = claimed(api, run, by="another-copy")
    # WHEN this copy's send is accepted
    run.recorder.sent(message, copy_of(message, 1, 0.0), Accepted("wamid.X", "accepted"))
    # THEN the other claim's message is left as it is, and nothing is announced
    after = stored(run, message.id)
    assert after.status is Status.SENDING and after.provider_message_id is None
    assert run.announced() == []
    assert any(
        r.getMessage() == "sent message changed meanwhile"
        and getattr(r, "message_id", None) == message.id
        for r in caplog.records
    )
    # AND the send still counts, and this copy is done with
    assert run.state.report.sent == 1 and run.state.acks == [f"receipt-of-{COPY}"]
    # AND so does the next
    run.recorder.sent(message, copy_of(message, 1, 0.0), Accepted("wamid.Y", "accepted"))
    assert run.state.report.sent == 2 and dict(run.state.report.outcomes) == {"sent": 2}


def test_a_sent_message_is_not_announced_when_only_failures_are(api: Api, run: Run) -> None:
    message = claimed(api, run)
    run.recorder.sent(message, copy_of(message, 1, 0.0), Accepted("wamid.X", "accepted"))
    assert stored(run, message.id).status is Status.SENT and run.announced() == []


# ---- retry, fail, unknown, expire ------------------------------------------------------------


def test_a_retry_puts_the_message_back_with_its_error_and_when_it_goes_again(
    every_status: None, api: Api, run: Run, clock: FakeClock
) -> None:
    message = claimed(api, run)
    before = queue_depth(run.s)
    decision = Decision(Action.RETRY, error=ERROR, delay_seconds=8.0, reason="why")
    run.recorder.outcome(message, copy_of(message, 1, 0.0), decision)
    after = stored(run, message.id)
    assert after.status is Status.QUEUED and after.error == ERROR
    assert after.queue_seq == message.queue_seq + 1 and after.claimed_by is None
    assert last_event(after) == (
        "retry_scheduled",
        {
            "attempt": 1,
            "code": "131000",
            "title": "Something went wrong",
            "retry_at": iso(clock.now() + 8),
        },
    )
    assert queue_depth(run.s) == before + 1  # its new copy, delayed
    assert run.announced() == [] and dict(run.state.report.outcomes) == {"retry": 1}
    assert run.state.acks == [f"receipt-of-{COPY}"]


def test_a_retry_without_an_error_is_titled_by_its_reason(api: Api, run: Run) -> None:
    message = claimed(api, run)
    decision = Decision(Action.RETRY, delay_seconds=4.0, reason="ConnectError")
    run.recorder.outcome(message, copy_of(message, 1, 0.0), decision)
    phase, detail = last_event(stored(run, message.id))
    assert phase == "retry_scheduled" and detail["title"] == "ConnectError"
    assert "code" not in detail


def test_a_failure_is_recorded_with_its_error_announced_and_counted(
    api: Api, run: Run, clock: FakeClock
) -> None:
    message = claimed(api, run)
    clock.advance(3)
    run.recorder.outcome(message, copy_of(message, 1, 0.0), Decision(Action.FAIL, error=ERROR))
    now = clock.now()
    after = stored(run, message.id)
    assert (after.status, after.failed_at, after.error) == (Status.FAILED, now, ERROR)
    assert last_event(after) == ("failed", {"code": "131000", "title": "Something went wrong"})
    assert [(e["status"], e["error"], e["at"]) for e in run.announced()] == [
        ("failed", {"code": "131000", "title": "Something went wrong"}, iso(now))
    ]
    assert counted("MessagesFailed") == [1.0]
    assert dict(run.state.report.outcomes) == {"fail": 1}
    assert run.state.acks == [f"receipt-of-{COPY}"]


def test_an_unknown_outcome_is_recorded_with_its_reason_announced_and_counted(
    api: Api, run: Run, clock: FakeClock
) -> None:
    message = claimed(api, run)
    run.recorder.outcome(
        message, copy_of(message, 1, 0.0), Decision(Action.UNKNOWN, reason="ReadTimeout")
    )
    after = stored(run, message.id)
    assert after.status is Status.UNKNOWN and after.error is None
    assert last_event(after) == ("outcome_unknown", {"reason": "ReadTimeout"})
    assert [(e["status"], e["error"], e["at"]) for e in run.announced()] == [
        ("unknown", None, iso(clock.now()))
    ]
    assert counted("OutcomesUnknown") == [1.0]
    assert dict(run.state.report.outcomes) == {"unknown": 1}


def test_a_retry_past_the_validity_expires_the_message_with_its_error(
    api: Api, run: Run, clock: FakeClock
) -> None:
    message = claimed(api, run)
    run.recorder.outcome(message, copy_of(message, 1, 0.0), Decision(Action.EXPIRE, error=ERROR))
    after = stored(run, message.id)
    assert after.status is Status.EXPIRED and after.error == ERROR
    assert last_event(after) == ("expired", {"code": "131000", "title": "Something went wrong"})
    assert [(e["status"], e["error"], e["at"]) for e in run.announced()] == [
        ("expired", {"code": "131000", "title": "Something went wrong"}, iso(clock.now()))
    ]
    assert dict(run.state.report.outcomes) == {"expire": 1}


@pytest.mark.parametrize(
    "decision",
    [
        Decision(Action.RETRY, error=ERROR, delay_seconds=4.0),
        Decision(Action.FAIL, error=ERROR),
        Decision(Action.UNKNOWN, reason="ReadTimeout"),
        Decision(Action.EXPIRE, error=ERROR),
    ],
    ids=lambda d: d.action.value,
)
def test_an_outcome_is_not_written_over_a_claim_that_moved_on(
    api: Api, run: Run, clock: FakeClock, decision: Decision, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a message read while a dead drainer's claim stood, then claimed anew
    message = claimed(api, run, by="dead-copy")
    run.s.messages.update(
        message.id, statuses=(Status.SENDING,), now=clock.now(), changes={"claimed_by": "new-copy"}
    )
    # WHEN the outcome for the old claim is recorded
    run.recorder.outcome(message, copy_of(message, 1, 0.0, sqs_id="dead-copy"), decision)
    # THEN the new claim's message is untouched, and the old copy is done with
    after = stored(run, message.id)
    assert after.status is Status.SENDING and after.claimed_by == "new-copy"
    assert after.queue_seq == message.queue_seq and run.announced() == []
    assert counted("MessagesFailed") == counted("OutcomesUnknown") == []
    assert run.state.acks == ["receipt-of-dead-copy"]
    assert any(
        r.getMessage() == "claimed message changed meanwhile"
        and getattr(r, "message_id", None) == message.id
        for r in caplog.records
    )
    # AND the run counts each outcome, the next too
    run.recorder.outcome(message, copy_of(message, 1, 0.0, sqs_id="dead-copy"), decision)
    assert dict(run.state.report.outcomes) == {decision.action.value: 2}


# ---- a sender paused by a send's answer ------------------------------------------------------


def test_a_timed_pause_parks_the_message_in_the_due_index_until_it_ends(
    api: Api, run: Run, clock: FakeClock
) -> None:
    message = claimed(api, run)
    decision = Decision(
        Action.PAUSE_SENDER,
        error=ERROR,
        pause_seconds=3600,
        reason="131048: spam rate limit",
        pause_code="meta_131048",
    )
    run.recorder.outcome(message, copy_of(message, 1, 0.0), decision)
    now = clock.now()
    # THEN the sender is paused for the hour, with the why and the code
    sender = run.s.senders.get(DEFAULT_SENDER)
    assert sender is not None and sender.paused
    assert (sender.paused_until, sender.paused_reason, sender.paused_code) == (
        now + 3600,
        "131048: spam rate limit",
        "meta_131048",
    )
    # AND the message waits in the due index for the hour's end, its attempt spent
    after = stored(run, message.id)
    assert after.status is Status.QUEUED and after.claimed_by is None and after.error == ERROR
    assert after.queue_seq == message.queue_seq + 1 and after.attempts == 1
    assert run.s.messages.due(DUE_PARTITION, until=now + 3599) == []
    assert run.s.messages.due(DUE_PARTITION, until=now + 3600) == [message.id]
    assert last_event(after) == (
        "sender_paused",
        {"reason": "131048: spam rate limit", "code": "131000", "until": iso(now + 3600)},
    )
    assert counted("SendersPaused") == [1.0] and dict(run.state.report.outcomes) == {
        "pause_sender": 1
    }
    assert run.state.acks == [f"receipt-of-{COPY}"]
    # AND the run knows of the pause without reading the sender again
    run.s.senders.set_pause(DEFAULT_SENDER, paused=False, reason=None, until=None, now=now)
    cached = run.senders.get(DEFAULT_SENDER)
    assert cached is not None and cached.paused


def test_a_pause_until_resumed_parks_the_message_and_gives_its_attempt_back(
    api: Api, run: Run, clock: FakeClock
) -> None:
    message = claimed(api, run)
    decision = Decision(Action.PAUSE_SENDER, pause_code="waha_session", attempt_spent=False)
    run.recorder.outcome(message, copy_of(message, 1, 0.0), decision)
    sender = run.s.senders.get(DEFAULT_SENDER)
    assert sender is not None and sender.paused and sender.paused_until is None
    assert (sender.paused_reason, sender.paused_code) == ("paused", "waha_session")
    after = stored(run, message.id)
    assert after.status is Status.QUEUED and after.attempts == 0 and after.error is None
    assert run.s.messages.due(parked_partition(DEFAULT_SENDER), until=clock.now()) == [message.id]
    assert run.s.messages.due(DUE_PARTITION, until=None) == []
    assert last_event(after) == ("sender_paused", {"reason": "paused"})


def test_a_pause_is_not_written_over_a_claim_that_moved_on(api: Api, run: Run) -> None:
    message = claimed(api, run, by="another-copy")
    decision = Decision(Action.PAUSE_SENDER, reason="r", pause_code="c", attempt_spent=False)
    run.recorder.outcome(message, copy_of(message, 1, 0.0), decision)
    after = stored(run, message.id)
    assert after.status is Status.SENDING and after.attempts == 1
    assert run.state.acks == [f"receipt-of-{COPY}"]


@pytest.fixture
def groom(api: Api, run: Run, waha_peer: WahaPeer) -> Sender:
    """A WAHA sender whose session WAHA reported WORKING at t=1000 of the test's clock."""
    waha_peer.add_session("groom")
    answer = api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom"))
    assert answer.status in (200, 201), answer.body
    start = run.s.clock.now()
    assert run.s.senders.set_session_status("groom", "WORKING", now=start, at=start + 1000)
    sender = run.s.senders.get("groom")
    assert sender is not None
    return sender


def test_a_session_answer_older_than_workings_news_does_not_pause(
    groom: Sender, run: Run, clock: FakeClock
) -> None:
    unavailable = SenderUnavailable(code=SESSION_PAUSE, reason="the session is STARTING")
    kept = run.recorder.pause_unavailable(groom, unavailable, checked_at=clock.now() + 1000)
    assert not kept.paused and counted("SendersPaused") == []
    stored_sender = run.s.senders.get("groom")
    assert stored_sender is not None and not stored_sender.paused


def test_a_session_answer_newer_than_workings_news_pauses_the_sender(
    groom: Sender, run: Run, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    unavailable = SenderUnavailable(code=SESSION_PAUSE, reason="the session is STOPPED")
    paused = run.recorder.pause_unavailable(groom, unavailable, checked_at=clock.now() + 1001)
    assert paused.paused and paused.paused_until is None
    assert (paused.paused_reason, paused.paused_code) == ("the session is STOPPED", SESSION_PAUSE)
    assert run.s.senders.get("groom") == paused and counted("SendersPaused") == [1.0]
    assert any(
        r.getMessage() == "sender paused"
        and (getattr(r, "sender", None), getattr(r, "code", None)) == ("groom", SESSION_PAUSE)
        for r in caplog.records
    )
    # AND the run keeps the pause without reading it back
    run.s.senders.set_pause("groom", paused=False, reason=None, until=None, now=clock.now())
    assert run.senders.get("groom") == paused


def test_another_unavailability_pauses_whatever_the_session_said(
    groom: Sender, run: Run, clock: FakeClock
) -> None:
    unavailable = SenderUnavailable(code="waha_unauthorized", reason="the API key is refused")
    paused = run.recorder.pause_unavailable(groom, unavailable, checked_at=clock.now())
    assert paused.paused and paused.paused_code == "waha_unauthorized"
    assert counted("SendersPaused") == [1.0]


# ---- a send that missed its slot ----------------------------------------------------------------


def test_a_send_that_missed_its_slot_goes_back_at_once_without_spending_an_attempt(
    api: Api, run: Run, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    message = claimed(api, run)
    before, visible = queue_depth(run.s), sqs_depth(queue_url(run.s), "")
    run.recorder.give_back(message, copy_of(message, 1, 0.0))
    now = clock.now()
    after = stored(run, message.id)
    assert after.status is Status.QUEUED and after.attempts == 0 and after.claimed_by is None
    assert after.queue_seq == message.queue_seq + 1
    assert last_event(after) == ("rate_limited", {"reason": "missed its slot"})
    assert queue_depth(run.s) == before + 1
    assert sqs_depth(queue_url(run.s), "") == visible + 1  # visible at once
    # AND the run looks for it again before it calls the queue empty
    assert run.state.returning == [now]
    assert run.state.report.missed_slot == 1 and run.state.acks == [f"receipt-of-{COPY}"]
    assert any(
        r.getMessage() == "send missed its slot; queued again"
        and getattr(r, "message_id", None) == message.id
        for r in caplog.records
    )


def test_a_slot_missed_by_a_claim_that_moved_on_leaves_the_message(api: Api, run: Run) -> None:
    message = claimed(api, run, by="another-copy")
    run.recorder.give_back(message, copy_of(message, 1, 0.0))
    after = stored(run, message.id)
    assert after.status is Status.SENDING and after.attempts == 1
    assert run.state.report.missed_slot == 1 and run.state.acks == [f"receipt-of-{COPY}"]
    run.recorder.give_back(message, copy_of(message, 1, 0.0))
    assert run.state.report.missed_slot == 2


# ---- copies that find their message elsewhere ------------------------------------------------


def test_a_copy_of_a_message_not_written_yet_waits_five_seconds(run: Run, clock: FakeClock) -> None:
    delivery = copy_of("f" * 32, 1, visible_at=clock.now() - 10)
    assert delivery.ref is not None
    run.recorder.on_stale(delivery, delivery.ref, None)
    assert run.queue.later == [(f"receipt-of-{COPY}", 5)] and run.state.acks == []
    assert run.state.report.skipped == 0


def test_a_copy_ahead_of_its_messages_seq_waits_five_seconds(
    api: Api, run: Run, clock: FakeClock
) -> None:
    message = posted(api, run)
    delivery = copy_of(message, message.queue_seq + 1, visible_at=clock.now())
    assert delivery.ref is not None
    run.recorder.on_stale(delivery, delivery.ref, message)
    assert run.queue.later == [(f"receipt-of-{COPY}", 5)] and run.state.acks == []


def test_a_copy_whose_message_never_came_is_dropped_once_it_is_an_orphan(
    run: Run, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    delivery = copy_of("f" * 32, 1, visible_at=clock.now() - ORPHAN_AFTER_SECONDS)
    assert delivery.ref is not None
    run.recorder.on_stale(delivery, delivery.ref, None)
    assert run.queue.later == [] and run.state.acks == [f"receipt-of-{COPY}"]
    assert run.state.report.skipped == 1
    assert any(
        r.getMessage() == "dropping an orphan queue copy"
        and getattr(r, "message_id", None) == "f" * 32
        for r in caplog.records
    )


def test_a_copy_of_a_message_that_moved_on_is_skipped(api: Api, run: Run) -> None:
    # GIVEN a message sent through this copy's seq
    message = claimed(api, run)
    run.recorder.sent(message, copy_of(message, 1, 0.0), Accepted("wamid.X", "accepted"))
    sent = stored(run, message.id)
    run.state.acks.clear()
    # WHEN another copy of that seq comes
    delivery = copy_of(sent, sent.queue_seq, visible_at=0.0, sqs_id="copy-2")
    assert delivery.ref is not None
    run.recorder.on_stale(delivery, delivery.ref, sent)
    # THEN it is dropped as it is, as is the next
    assert run.queue.later == [] and run.state.acks == ["receipt-of-copy-2"]
    assert run.state.report.skipped == 1 and stored(run, message.id).status is Status.SENT
    run.recorder.on_stale(delivery, delivery.ref, sent)
    assert run.state.report.skipped == 2


def test_a_waiting_message_found_past_its_validity_expires(
    api: Api, run: Run, clock: FakeClock
) -> None:
    # GIVEN a scheduled message, in the due index, whose validity ends before it is claimed
    message = posted(api, run, send_at=iso(clock.now() + 3600), validity_seconds=60)
    assert message.status is Status.SCHEDULED
    assert run.s.messages.due(DUE_PARTITION, until=None) == [message.id]
    clock.advance(4000)
    delivery = copy_of(message, message.queue_seq, visible_at=clock.now())
    assert delivery.ref is not None
    run.recorder.on_stale(delivery, delivery.ref, message)
    # THEN it is expired, out of the due index, with when its validity ended
    after = stored(run, message.id)
    assert after.status is Status.EXPIRED
    assert not {"due_pk", "due_at"} & raw_item(run, message.id).keys()
    assert last_event(after) == ("expired", {"valid_until": iso(message.valid_until)})
    assert [(e["id"], e["status"], e["at"]) for e in run.announced()] == [
        (message.id, "expired", iso(clock.now()))
    ]
    assert counted("MessagesExpired") == [1.0]
    assert run.state.report.skipped == 1 and run.state.acks == [f"receipt-of-{COPY}"]


def test_a_waiting_message_requeued_since_it_was_read_is_not_expired(
    api: Api, run: Run, clock: FakeClock
) -> None:
    message = posted(api, run, validity_seconds=60)
    run.s.messages.update(
        message.id,
        statuses=(Status.QUEUED,),
        now=clock.now(),
        changes={"queue_seq": message.queue_seq + 1},
    )
    clock.advance(200)
    delivery = copy_of(message, message.queue_seq, visible_at=clock.now())
    assert delivery.ref is not None
    run.recorder.on_stale(delivery, delivery.ref, message)
    assert stored(run, message.id).status is Status.QUEUED
    assert run.announced() == [] and counted("MessagesExpired") == []


def claim_of_another_copy(api: Api, run: Run, clock: FakeClock) -> tuple[Message, Delivery]:
    """A message claimed (its `sending` event now) through a copy that is not this one, and
    written to since (a provider's step) at +30 s."""
    message = claimed(api, run, by="a-copy-now-gone")
    clock.advance(30)
    run.s.messages.update(
        message.id,
        statuses=(Status.SENDING,),
        now=clock.now(),
        events=[event(Phase.TYPING, clock.now())],
    )
    current = stored(run, message.id)
    return current, copy_of(current, current.queue_seq, visible_at=0.0, sqs_id="copy-2")


def test_a_claim_of_another_copy_is_looked_at_again_when_it_would_expire(
    api: Api, run: Run, clock: FakeClock
) -> None:
    # GIVEN a claim of another copy, made 50 s ago (written to 20 s ago)
    current, delivery = claim_of_another_copy(api, run, clock)
    clock.advance(20)
    assert delivery.ref is not None
    run.recorder.on_stale(delivery, delivery.ref, current)
    # THEN this copy comes back just after the claim expires, 90 s after it was made
    assert run.queue.later == [("receipt-of-copy-2", int(CLAIM_EXPIRES_SECONDS - 50) + 1)]
    assert run.state.acks == [] and stored(run, current.id).status is Status.SENDING


def test_a_claim_of_another_copy_is_settled_as_unknown_the_moment_it_expires(
    api: Api, run: Run, clock: FakeClock
) -> None:
    # GIVEN a claim of another copy made exactly CLAIM_EXPIRES_SECONDS ago
    current, delivery = claim_of_another_copy(api, run, clock)
    clock.advance(CLAIM_EXPIRES_SECONDS - 30)
    assert delivery.ref is not None
    run.recorder.on_stale(delivery, delivery.ref, current)
    # THEN no drain can hold it still: the message is unknown, never sent again
    after = stored(run, current.id)
    assert after.status is Status.UNKNOWN
    assert last_event(after) == (
        "outcome_unknown",
        {"reason": "the drainer stopped during the send"},
    )
    assert run.queue.later == [] and run.state.acks == ["receipt-of-copy-2"]


def test_an_at_least_once_message_whose_claimer_died_is_sent_again(
    api: Api, run: Run, clock: FakeClock
) -> None:
    # GIVEN an at-least-once message claimed through this very copy, by a drainer that died
    message = claimed(api, run, at_least_once=True)
    clock.advance(120)
    delivery = copy_of(message, message.queue_seq, visible_at=0.0)
    assert delivery.ref is not None
    # WHEN SQS gives the copy again
    run.recorder.on_stale(delivery, delivery.ref, message)
    # THEN the message is queued for another attempt after its backoff (2 to 4 s)
    after = stored(run, message.id)
    assert after.status is Status.QUEUED and after.queue_seq == message.queue_seq + 1
    phase, detail = last_event(after)
    assert phase == "retry_scheduled" and detail["title"] == "the drainer stopped during the send"
    retry_at = datetime.fromisoformat(detail["retry_at"]).timestamp()
    assert clock.now() + 2 <= retry_at <= clock.now() + 4
