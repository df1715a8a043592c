"""Each conditional write whose answer is lost: the retry finds our own effect, and counts it as
done; a change by someone else is still refused (postino/store/own_writes.py).

`answers_lost` lets moto apply the next request of an operation and drops its answer, as a
connection dropped after DynamoDB applied a write would: botocore sends the same request again.
"""

from collections.abc import Callable
from typing import Any

import pytest

from local.graph_api_peer import GraphApiPeer
from local.moto_faults import answers_lost
from local.waha_peer import WahaPeer
from postino.drain.rate_window import Plan
from postino.messages.model import WAITING, Phase, Status, event
from postino.senders.model import Limit
from postino.services import Services
from postino.store.conversations import ConversationStore, conversation_key
from postino.store.inbox import Conflict
from postino.store.messages import StaleState
from tests.support.events import HttpResult
from tests.support.waha import waha_sender

Api = Callable[..., HttpResult]
MESSAGE = {"to": "+393331234567", "type": "text", "text": {"body": "Ciao 👋"}}


def queued(api: Api) -> str:
    message_id: str = api("POST", "/v1/messages", MESSAGE).body["id"]
    return message_id


def claim(services: Services, message_id: str, by: str) -> Any:
    now = services.clock.now()
    return services.messages.update(
        message_id,
        statuses=WAITING,
        now=now,
        changes={"status": Status.SENDING, "claimed_by": by},
        events=[event(Phase.SENDING, now, attempt=1)],
    )


# ---- messages: accept, claim, record ------------------------------------------------------


def test_a_message_accepted_whose_put_lost_its_answer_is_accepted_once(
    api: Api, services: Services
) -> None:
    # WHEN the message's PutItem is applied and its answer lost
    with answers_lost("dynamodb:PutItem") as dropped:
        answer = api("POST", "/v1/messages", MESSAGE)
    # THEN the retry found it ours: accepted, stored once, not a 500
    assert dropped and answer.status == 202, answer.body
    assert services.messages.get(answer.body["id"]) is not None


def test_a_claim_whose_answer_was_lost_is_still_ours(api: Api, services: Services) -> None:
    message_id = queued(api)
    with answers_lost("dynamodb:UpdateItem") as dropped:
        message = claim(services, message_id, by="copy-1")
    assert dropped
    assert message.status == Status.SENDING and message.claimed_by == "copy-1"
    assert [e.phase for e in message.events].count(Phase.SENDING) == 1


def test_a_claim_someone_else_made_is_refused(api: Api, services: Services) -> None:
    message_id = queued(api)
    claim(services, message_id, by="copy-1")
    with pytest.raises(StaleState) as stale:
        claim(services, message_id, by="copy-2")
    assert stale.value.current is not None and stale.value.current.claimed_by == "copy-1"


def test_a_record_whose_answer_was_lost_is_not_taken_for_a_change_by_someone_else(
    api: Api, services: Services
) -> None:
    message_id = queued(api)
    claim(services, message_id, by="copy-1")
    now = services.clock.now()
    sent = {"status": Status.SENT, "provider_message_id": "wamid.1", "sent_at": now}
    with answers_lost("dynamodb:UpdateItem") as dropped:
        services.messages.update_without_reading(
            message_id,
            statuses=(Status.SENDING,),
            now=now,
            equals={"claimed_by": "copy-1"},
            changes=sent,
            events=[event(Phase.PROVIDER_ACCEPTED, now)],
        )
    assert dropped
    message = services.messages.get(message_id)
    assert message is not None and message.status == Status.SENT
    assert [e.phase for e in message.events].count(Phase.PROVIDER_ACCEPTED) == 1
    # Someone else's record (a copy whose claim this is not) is still refused.
    with pytest.raises(StaleState):
        services.messages.update_without_reading(
            message_id,
            statuses=(Status.SENDING,),
            now=now,
            equals={"claimed_by": "copy-2"},
            changes=sent,
        )


def test_a_timeline_step_whose_answer_was_lost_is_written_once(
    api: Api, services: Services
) -> None:
    # A step's condition (still sending, still this claim) holds after it is applied: without
    # its token, the retry would append the step a second time.
    message_id = queued(api)
    claim(services, message_id, by="copy-1")
    now = services.clock.now()
    with answers_lost("dynamodb:UpdateItem"):
        services.messages.update(
            message_id,
            statuses=(Status.SENDING,),
            now=now,
            equals={"claimed_by": "copy-1"},
            events=[event(Phase.TYPING, now)],
        )
    message = services.messages.get(message_id)
    assert message is not None
    assert [e.phase for e in message.events].count(Phase.TYPING) == 1


def test_a_drain_whose_claim_lost_its_answer_sends_the_message_once(
    api: Api, drain: Callable[..., dict[str, Any]], peer: GraphApiPeer
) -> None:
    message_id = queued(api)
    with answers_lost("dynamodb:UpdateItem") as dropped:
        report = drain()
    assert dropped and report["sent"] == 1
    message = api("GET", f"/v1/messages/{message_id}").body
    assert message["status"] == "sent" and message["attempts"] == 1
    assert len(peer.sent_messages()) == 1


def test_no_item_shows_the_write_mark(api: Api) -> None:
    message = api("GET", f"/v1/messages/{queued(api)}").body
    assert "wt" not in message


# ---- the inbox: inbound records, conversations, media, answers -----------------------------


def test_a_new_item_whose_put_lost_its_answer_was_created_by_us(services: Services) -> None:
    now = services.clock.now()
    with answers_lost("dynamodb:PutItem") as dropped:
        created = services.inbox.put_new("inbound#wamid.A", {"text": "Ciao"}, now=now)
    assert dropped and created
    # A second writer of the same item (SQS's redelivery, Meta's resend) did not create it.
    assert not services.inbox.put_new("inbound#wamid.A", {"text": "Ciao"}, now=now)


def test_a_newer_value_whose_answer_was_lost_is_ours_and_an_older_one_is_refused(
    services: Services,
) -> None:
    services.inbox.put("contact#x", {"name": "Giulia"})
    with answers_lost("dynamodb:UpdateItem") as dropped:
        item = services.inbox.update("contact#x", {"name": "Giulia"}, newer=("seen_at", 20.0))
    assert dropped and item["seen_at"] == 20.0 and "wt" not in item
    with pytest.raises(Conflict):
        services.inbox.update("contact#x", {"name": "Old"}, newer=("seen_at", 10.0))


def touch(services: Services, at: float) -> None:
    ConversationStore(services.inbox.table).touch(
        "default", "393331234567", at=at, last_message={"text": "Ciao"}, name=None, new=True
    )


@pytest.mark.parametrize("older_second", [False, True], ids=["in order", "older second"])
def test_a_message_counted_unread_whose_answer_was_lost_counts_once(
    services: Services, older_second: bool
) -> None:
    touch(services, at=100.0)
    # An older message's first write is refused (a newer one is in); its second counts it.
    with answers_lost("dynamodb:UpdateItem", skip=1 if older_second else 0) as dropped:
        touch(services, at=50.0 if older_second else 200.0)
    assert dropped
    conversation = services.inbox.get(conversation_key("default", "393331234567"))
    assert conversation is not None and conversation["unread"] == 2


def test_inbound_media_kept_whose_answer_was_lost_was_kept_by_us(services: Services) -> None:
    from postino.store.media import set_inbound_media

    table = services.inbox.table
    services.inbox.put_new("inbound#wamid.M", {"type": "image"})
    with answers_lost("dynamodb:UpdateItem") as dropped:
        assert set_inbound_media(table, "wamid.M", {"key": "a.jpg"})
    assert dropped
    assert not set_inbound_media(table, "wamid.M", {"key": "b.jpg"})


def test_an_answer_whose_write_lost_its_answer_was_applied_by_us(
    api: Api, services: Services
) -> None:
    from postino.store.answers import record_answer

    message_id = queued(api)
    now = services.clock.now()
    before = services.messages.get(message_id)

    def answer(answer_id: str) -> bool:
        reaction = {"emoji": "👍"}
        happened = event(Phase.REACTED, now)
        return record_answer(
            services.messages.table, message_id, answer_id, now=now, event=happened, at=now,
            reaction=reaction,
        )  # fmt: skip

    with answers_lost("dynamodb:UpdateItem") as dropped:
        assert answer("wamid.R1")
    assert dropped and not answer("wamid.R1")
    message = services.messages.get(message_id)
    assert message is not None and [e.phase for e in message.events].count(Phase.REACTED) == 1
    # (and its revision, which tells a page the newer of two reads, counts it once)
    assert before is not None and message.revision == before.revision + 1


# ---- senders, the rate window, the lease, idempotency -------------------------------------


def test_a_session_status_whose_answer_was_lost_was_kept(
    api: Api, services: Services, waha_peer: WahaPeer
) -> None:
    waha_peer.add_session("groom")
    answer = api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom"))
    assert answer.status in (200, 201), answer.body
    with answers_lost("dynamodb:UpdateItem") as dropped:
        assert services.senders.set_session_status("groom", "WORKING", now=10.0, at=10.0)
    assert dropped
    assert not services.senders.set_session_status("groom", "STOPPED", now=11.0, at=5.0)


def one_more(at: float) -> Callable[[dict[str, list[float]]], Plan]:
    def plan(logs: dict[str, list[float]]) -> Plan:
        log = logs.get("10/60", [])
        return Plan(starts=[at], next_slot_at=None, logs={"10/60": [*log, at]})

    return plan


def test_a_reservation_whose_answer_was_lost_is_not_made_twice(services: Services) -> None:
    limits = [Limit(max=10, per_seconds=60)]
    store = services.rate_windows
    now = services.clock.now()
    with answers_lost("dynamodb:PutItem") as dropped:
        plan = store.reserve("pair#default#x", limits, one_more(now + 1), now)
    assert dropped and plan.starts == [now + 1]
    assert len(store.read("pair#default#x", limits, now)["10/60"]) == 1


def test_a_reservation_another_drainer_made_meanwhile_is_planned_around(
    services: Services, make_services: Callable[..., Services]
) -> None:
    limits = [Limit(max=10, per_seconds=60)]
    now = services.clock.now()
    services.rate_windows.reserve("pair#default#x", limits, one_more(now + 1), now)
    # Another drainer (its own store, which knows nothing of the first write) reserves too.
    other = make_services().rate_windows
    plan = other.reserve("pair#default#x", limits, one_more(now + 2), now)
    assert plan.starts == [now + 2]
    assert len(other.read("pair#default#x", limits, now)["10/60"]) == 2


def test_a_lease_whose_answer_was_lost_is_held_by_us_and_not_by_another(
    services: Services,
) -> None:
    now = services.clock.now()
    with answers_lost("dynamodb:PutItem") as dropped:
        assert services.lease.acquire("default#0", "drainer-1", now, 60)
    assert dropped
    assert not services.lease.acquire("default#0", "drainer-2", now, 60)


def test_a_keyed_send_whose_idempotency_record_lost_its_answer_is_accepted(
    api: Api, services: Services
) -> None:
    keyed = {"Idempotency-Key": "invite-1"}
    # The first PutItem of a keyed send is its idempotency record, INPROGRESS.
    with answers_lost("dynamodb:PutItem") as dropped:
        first = api("POST", "/v1/messages", MESSAGE, headers=keyed)
    assert dropped and first.status == 202, first.body
    again = api("POST", "/v1/messages", MESSAGE, headers=keyed)
    assert again.status == 202 and again.body["id"] == first.body["id"]
