"""Status receipts: one per status Meta reported, whatever their order, ranked into a status."""

from typing import Any

import pytest

from postino.messages.model import Event, Message, MessageError, Phase, Status
from postino.webhooks.payload import StatusUpdate
from postino.webhooks.receipts import derive, merge, receipt_of, timeline

WAMID = "wamid.HBgLMzkzMzMxMjM0NTY3FQIAERgSQzE0"
AT = 1_800_000_000  # 2027-01-15T08:00:00Z
RECEIVED_AT = 1_800_000_900.0
CONVERSATION = {"id": "c0ffee", "origin": {"type": "utility"}}
PRICING = {"billable": True, "pricing_model": "CBP", "category": "utility"}
UNDELIVERABLE = {
    "code": 131026,
    "title": "Message undeliverable",
    "message": "Message undeliverable.",
    "error_data": {"details": "The recipient's phone number is not on WhatsApp."},
}


def update(status: str, at: int | str = AT, **fields: Any) -> StatusUpdate:
    return StatusUpdate.model_validate(
        {"id": WAMID, "status": status, "timestamp": str(at), "recipient_id": "393331234567"}
        | fields
    )


def message(status: Status = Status.SENT, **fields: Any) -> Message:
    base: dict[str, Any] = {
        "id": "0" * 32,
        "sender": "default",
        "to": "393331234567",
        "type": "text",
        "content": {"body": "hi"},
        "status": status,
        "provider_message_id": WAMID,
        "sent_at": AT - 5.0,
        "created_at": AT - 10.0,
        "updated_at": AT - 5.0,
        "valid_until": AT + 36_000,
        "validity_seconds": 36_000,
    }
    return Message.model_validate(base | fields)


def applied(start: Message, *updates: StatusUpdate) -> Message:
    """The message after each update's changes are written, in this order."""
    current = start
    for one in updates:
        changes = merge(current, one, RECEIVED_AT)
        if changes is not None:
            current = current.model_copy(update=changes)
    return current


# receipt_of: what we keep of one status webhook


def test_a_receipt_keeps_metas_time_and_nothing_else_when_nothing_else_came() -> None:
    assert receipt_of(update("delivered"), RECEIVED_AT) == ("delivered", {"at": 1_800_000_000.0})


def test_a_receipt_with_a_bad_timestamp_takes_the_time_it_was_received() -> None:
    assert receipt_of(update("read", "soon"), RECEIVED_AT) == ("read", {"at": RECEIVED_AT})


def test_a_played_voice_message_counts_as_read() -> None:
    assert receipt_of(update("played"), RECEIVED_AT) == ("read", {"at": 1_800_000_000.0})


@pytest.mark.parametrize("status", ["deleted", "warning", "accepted", "Read"])
def test_statuses_we_do_not_track_make_no_receipt(status: str) -> None:
    assert receipt_of(update(status), RECEIVED_AT) is None


def test_a_failed_receipt_keeps_metas_errors_without_empty_fields() -> None:
    found = receipt_of(update("failed", errors=[UNDELIVERABLE | {"href": None}]), RECEIVED_AT)
    assert found == ("failed", {"at": 1_800_000_000.0, "errors": [UNDELIVERABLE]})


@pytest.mark.parametrize(
    "notes",
    [
        {"conversation": CONVERSATION},
        {"pricing": PRICING},
        {"conversation": CONVERSATION, "pricing": PRICING},
    ],
)
def test_a_receipt_notes_that_it_carried_billing(notes: dict[str, Any]) -> None:
    found = receipt_of(update("sent", **notes), RECEIVED_AT)
    assert found == ("sent", {"at": 1_800_000_000.0, "billed": True})


# merge: the changes one webhook makes


def test_a_delivered_receipt_moves_a_sent_message_to_delivered() -> None:
    changes = merge(message(), update("delivered"), RECEIVED_AT)
    assert changes == {
        "receipts": {"delivered": {"at": 1_800_000_000.0}},
        "status": Status.DELIVERED,
        "provider_message_id": WAMID,
        "sent_at": AT - 5.0,
        "delivered_at": 1_800_000_000.0,
        "read_at": None,
        "failed_at": None,
    }


def test_a_webhook_with_a_bad_timestamp_is_recorded_at_the_time_it_came() -> None:
    changes = merge(message(), update("read", "soon"), RECEIVED_AT)
    assert changes is not None
    assert changes["receipts"] == {"read": {"at": RECEIVED_AT}}
    assert changes["read_at"] == RECEIVED_AT


def test_a_repeated_receipt_changes_nothing() -> None:
    once = applied(message(), update("delivered"))
    assert merge(once, update("delivered", AT + 60), RECEIVED_AT) is None


def test_an_untracked_status_changes_nothing() -> None:
    assert merge(message(), update("deleted"), RECEIVED_AT) is None


@pytest.mark.parametrize("status", [Status.SENT, Status.DELIVERED, Status.READ])
def test_metas_sent_adds_nothing_to_a_message_we_know_was_sent(status: Status) -> None:
    assert merge(message(status), update("sent"), RECEIVED_AT) is None


def test_metas_sent_proves_a_message_of_unknown_outcome_went() -> None:
    # GIVEN a message whose send timed out: we never learnt its wamid nor its sent time
    unknown = message(Status.UNKNOWN, provider_message_id=None, sent_at=None)
    # WHEN Meta reports it sent
    changes = merge(unknown, update("sent"), RECEIVED_AT)
    # THEN it is sent, at Meta's time, under Meta's id
    assert changes is not None
    assert changes["status"] is Status.SENT
    assert changes["provider_message_id"] == WAMID
    assert changes["sent_at"] == 1_800_000_000.0
    assert changes["receipts"] == {"sent": {"at": 1_800_000_000.0}}


def test_a_sent_receipt_with_errors_is_kept_even_for_a_sent_message() -> None:
    changes = merge(message(), update("sent", errors=[UNDELIVERABLE]), RECEIVED_AT)
    assert changes is not None
    assert changes["receipts"] == {"sent": {"at": 1_800_000_000.0, "errors": [UNDELIVERABLE]}}
    assert changes["status"] is Status.SENT


def test_a_message_keeps_the_sent_time_we_recorded() -> None:
    unknown = message(Status.UNKNOWN, sent_at=AT - 30.0)
    changes = merge(unknown, update("sent"), RECEIVED_AT)
    assert changes is not None and changes["sent_at"] == AT - 30.0


# The status: read wins, else failed, else delivered, else sent; any order ends the same


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["delivered", "read"], Status.READ),
        (["read", "delivered"], Status.READ),
        (["played"], Status.READ),
        (["read", "failed"], Status.READ),
        (["failed", "read"], Status.READ),
        (["delivered", "failed"], Status.FAILED),
        (["failed", "delivered"], Status.FAILED),
        (["failed"], Status.FAILED),
        (["delivered"], Status.DELIVERED),
    ],
)
def test_the_highest_receipt_sets_the_status_whatever_the_order(
    statuses: list[str], expected: Status
) -> None:
    ends = applied(message(), *(update(s, AT + n) for n, s in enumerate(statuses)))
    assert ends.status is expected


def test_read_without_delivered_counts_as_delivered_at_the_same_time() -> None:
    read = applied(message(), update("read", AT + 30))
    assert (read.delivered_at, read.read_at) == (AT + 30.0, AT + 30.0)
    # AND a delivered receipt arriving late takes its own time
    both = applied(read, update("delivered", AT + 10))
    assert (both.delivered_at, both.read_at, both.status) == (AT + 10.0, AT + 30.0, Status.READ)


def test_a_failure_records_metas_error_and_its_time() -> None:
    failed = applied(message(), update("failed", AT + 20, errors=[UNDELIVERABLE]))
    assert failed.status is Status.FAILED
    assert failed.failed_at == AT + 20.0
    assert failed.error == MessageError(
        code="131026",
        title="Message undeliverable",
        message="Message undeliverable.",
        retryable=False,
        details="The recipient's phone number is not on WhatsApp.",
    )


def test_a_failure_meta_explains_with_a_title_only_uses_it_as_the_message() -> None:
    failed = applied(message(), update("failed", errors=[{"title": "Spam rate limit hit"}]))
    assert failed.error == MessageError(
        code="failed",
        title="Spam rate limit hit",
        message="Spam rate limit hit",
        retryable=False,
        details=None,
    )


def test_a_failure_meta_does_not_explain_still_reads_as_failed() -> None:
    failed = applied(message(), update("failed"))
    assert failed.error == MessageError(
        code="failed",
        title="Failed",
        message="Meta reported the message failed.",
        retryable=False,
        details=None,
    )


def test_a_failure_code_zero_is_kept() -> None:
    failed = applied(message(), update("failed", errors=[{"code": 0, "title": "Unknown"}]))
    assert failed.error is not None and failed.error.code == "0"


def test_a_read_message_keeps_its_earlier_failure_time_but_is_read() -> None:
    # GIVEN a message we marked failed earlier (our own failure time)
    earlier = message(Status.FAILED, failed_at=AT - 1.0)
    # WHEN a read receipt comes THEN it is read, and its failure time stays ours
    changes = merge(earlier, update("read"), RECEIVED_AT)
    assert changes is not None
    assert changes["status"] is Status.READ and changes["failed_at"] == AT - 1.0
    assert "error" not in changes


def test_a_failed_receipt_after_read_sets_no_error_nor_failure_time() -> None:
    ends = applied(message(), update("read"), update("failed", AT + 5, errors=[UNDELIVERABLE]))
    assert (ends.status, ends.error, ends.failed_at) == (Status.READ, None, None)


def test_derive_names_the_message_by_metas_id_when_it_had_none() -> None:
    changes = derive(message(provider_message_id=None), {"sent": {"at": AT}}, "wamid.OTHER")
    assert changes["provider_message_id"] == "wamid.OTHER"
    assert derive(message(), {"sent": {"at": AT}}, "wamid.OTHER")["provider_message_id"] == WAMID


# Billing notes: from the highest status that carried them, whatever the order


def billed(status: str, at: int, tag: str) -> StatusUpdate:
    return update(status, at, conversation={"id": tag}, pricing={"category": tag})


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        ("sent", "delivered", "delivered"),
        ("delivered", "sent", "delivered"),
        ("delivered", "read", "read"),
        ("read", "delivered", "read"),
        ("delivered", "failed", "failed"),
        ("failed", "delivered", "failed"),
    ],
)
def test_billing_notes_come_from_the_highest_status_that_carried_them(
    first: str, second: str, kept: str
) -> None:
    unknown = message(Status.UNKNOWN)  # so that Meta's `sent` counts
    ends = applied(unknown, billed(first, AT, first), billed(second, AT + 1, second))
    assert (ends.conversation, ends.pricing) == ({"id": kept}, {"category": kept})


def test_a_receipt_without_billing_leaves_the_notes_alone() -> None:
    ends = applied(message(), billed("delivered", AT, "delivered"), update("read", AT + 1))
    assert (ends.conversation, ends.pricing) == ({"id": "delivered"}, {"category": "delivered"})
    changes = merge(message(), update("delivered"), RECEIVED_AT)
    assert changes is not None and "conversation" not in changes and "pricing" not in changes


# The timeline: our events, then one per receipt by Meta's time


def ours(phase: Phase, at: str, **detail: Any) -> Event:
    return Event(at=at, phase=phase, detail=detail)


def test_the_timeline_lists_our_events_then_the_receipts_by_metas_time() -> None:
    accepted = ours(Phase.ACCEPTED, "2027-01-15T07:59:50.000Z")
    sent = ours(Phase.PROVIDER_ACCEPTED, "2027-01-15T07:59:55.000Z", wamid=WAMID)
    stale = ours(Phase.DELIVERED, "2027-01-15T07:00:00.000Z", source="webhook")
    start = message(events=[accepted, sent, stale])
    # WHEN read arrives before delivered, and a failure (of the same second as read) after them
    ends = applied(
        start,
        update("read", AT + 60),
        update("failed", AT + 60, errors=[UNDELIVERABLE]),
        update("delivered", AT),
    )
    webhook = {"source": "webhook", "wamid": WAMID}
    assert timeline(ends) == [
        accepted,
        sent,
        Event(at="2027-01-15T08:00:00.000Z", phase=Phase.DELIVERED, detail=webhook),
        Event(
            at="2027-01-15T08:01:00.000Z",
            phase=Phase.FAILED,
            detail=webhook | {"errors": [UNDELIVERABLE]},
        ),
        Event(at="2027-01-15T08:01:00.000Z", phase=Phase.READ, detail=webhook),
    ]


def test_receipts_of_the_same_second_are_listed_in_the_order_they_can_happen() -> None:
    same_second = {"at": AT}
    kept = message(receipts={"read": same_second, "delivered": same_second, "sent": same_second})
    phases = [e.phase for e in timeline(kept)]
    assert phases == [Phase.SENT, Phase.DELIVERED, Phase.READ]


def test_delivered_and_failed_of_the_same_second_list_delivered_first() -> None:
    ends = applied(message(), update("failed"), update("delivered"))
    assert [e.phase for e in timeline(ends)] == [Phase.DELIVERED, Phase.FAILED]


def test_a_message_without_metas_id_lists_its_receipts_without_one() -> None:
    bare = message(provider_message_id=None, receipts={"delivered": {"at": AT}})
    assert timeline(bare) == [
        Event(
            at="2027-01-15T08:00:00.000Z",
            phase=Phase.DELIVERED,
            detail={"source": "webhook", "wamid": ""},
        )
    ]
