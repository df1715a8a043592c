"""Status webhooks: route → ingest queue → processor, onto messages the drain really sent."""

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from local.graph_api_peer import GraphApiPeer
from postino.clock import iso
from postino.messages.model import Message, Status
from postino.services import Services
from postino.store.inbox import inbound_key, orphan_status_key
from tests.conftest import sqs_depth
from tests.support.events import HttpResult
from tests.support.webhooks import inbound, status, statuses, text_message

Api = Callable[..., HttpResult]
T0 = 1795600000


def sent_messages(api: Api, drain: Callable[..., Any], count: int) -> list[dict[str, Any]]:
    ids = [
        api(
            "POST",
            "/v1/messages",
            {"to": f"+39 333 100 {n:04d}", "type": "text", "text": {"body": "Ciao"}},
        ).body["id"]
        for n in range(count)
    ]
    drain()
    return [api("GET", f"/v1/messages/{i}").body for i in ids]


def message_in(api: Api, services: Services, status: Status) -> str:
    """A queued message moved straight to `status`, as a drainer would have left it."""
    body = {"to": "+393331234567", "type": "text", "text": {"body": "x"}}
    message_id: str = api("POST", "/v1/messages", body).body["id"]
    current = services.messages.get(message_id)
    assert current is not None
    services.messages.update(
        message_id, statuses=(current.status,), now=T0, changes={"status": status}
    )
    return message_id


def webhook_part(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in message["events"] if e["detail"].get("source") == "webhook"]


def test_statuses_in_order_move_the_message_forward_with_metas_times(
    api: Api,
    drain: Callable[..., Any],
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
) -> None:
    (message,) = sent_messages(api, drain, 1)
    wamid = message["provider_message_id"]
    for name, at in (("sent", T0), ("delivered", T0 + 5), ("read", T0 + 60)):
        assert webhook(statuses(status(wamid, name, at))).status == 200
    assert process() == []
    after = api("GET", f"/v1/messages/{message['id']}").body
    assert after["status"] == "read"
    assert after["delivered_at"] == iso(T0 + 5) and after["read_at"] == iso(T0 + 60)
    assert after["sent_at"] == message["sent_at"]  # ours: when Meta accepted it
    assert after["pricing"]["category"] == "service" and after["conversation"]["id"] == "c0ffee"
    # Meta's `sent` repeats our record of the send (sent_at, provider_accepted): not written
    assert [(e["phase"], e["at"]) for e in webhook_part(after)] == [
        ("delivered", iso(T0 + 5)),
        ("read", iso(T0 + 60)),
    ]


def test_duplicated_and_shuffled_statuses_end_in_the_same_state_and_timeline(
    api: Api,
    drain: Callable[..., Any],
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
) -> None:
    orders = list(itertools.permutations(["sent", "delivered", "read"]))
    messages = sent_messages(api, drain, len(orders))
    times = {"sent": T0, "delivered": T0 + 3, "read": T0 + 9}
    for message, order in zip(messages, orders, strict=True):
        wamid = message["provider_message_id"]
        # each status twice, the repeat right after or at the very end
        for name in (*order, order[0], order[1]):
            webhook(statuses(status(wamid, name, times[name])))
    assert process() == []
    finals = [api("GET", f"/v1/messages/{m['id']}").body for m in messages]
    for final in finals:
        assert final["status"] == "read"
        assert (final["delivered_at"], final["read_at"]) == (iso(T0 + 3), iso(T0 + 9))
        # the timeline holds each status once, in Meta's time order, whatever the arrival order
        assert [(e["phase"], e["at"]) for e in webhook_part(final)] == [
            ("delivered", iso(T0 + 3)),
            ("read", iso(T0 + 9)),
        ]
        assert final["pricing"] == finals[0]["pricing"]


def test_failed_overrides_delivered_but_never_read(
    api: Api,
    drain: Callable[..., Any],
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
) -> None:
    delivered_then_failed, read_then_failed = sent_messages(api, drain, 2)
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "The recipient is not on WhatsApp."},
    }
    first, second = (m["provider_message_id"] for m in (delivered_then_failed, read_then_failed))
    webhook(
        statuses(status(first, "delivered", T0), status(first, "failed", T0 + 1, errors=[error]))
    )
    webhook(
        statuses(status(second, "read", T0 + 2), status(second, "failed", T0 + 1, errors=[error]))
    )
    assert process() == []
    failed = api("GET", f"/v1/messages/{delivered_then_failed['id']}").body
    assert failed["status"] == "failed" and failed["failed_at"] == iso(T0 + 1)
    assert failed["error"]["code"] == "131026"
    assert failed["error"]["details"] == "The recipient is not on WhatsApp."
    assert webhook_part(failed)[-1]["detail"]["errors"][0]["code"] == 131026
    read = api("GET", f"/v1/messages/{read_then_failed['id']}").body
    assert read["status"] == "read" and read["error"] is None
    # a read that came without delivered also says when it was delivered, at the latest
    assert read["delivered_at"] == iso(T0 + 2)
    assert [e["phase"] for e in webhook_part(read)] == ["failed", "read"]


def test_a_status_for_a_wamid_we_never_sent_is_kept_as_an_orphan(
    services: Services, webhook: Callable[..., HttpResult], process: Callable[[], list[str]]
) -> None:
    webhook(statuses(status("wamid.NOT_OURS", "delivered", T0)))
    assert process() == []
    orphan = services.inbox.get(orphan_status_key("wamid.NOT_OURS", "delivered"))
    assert orphan is not None and orphan["status"]["recipient_id"] == "393331234567"


def test_a_status_settles_an_unknown_outcome_through_the_echoed_callback_data(
    api: Api,
    services: Services,
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
) -> None:
    # GIVEN a message whose send timed out: we never learned its wamid
    message_id = message_in(api, services, Status.UNKNOWN)
    # WHEN Meta reports it delivered, echoing our id
    webhook(statuses(status("wamid.LATE", "delivered", T0 + 1, callback=message_id)))
    assert process() == []
    # THEN it is delivered, and now we know its wamid
    after = api("GET", f"/v1/messages/{message_id}").body
    assert after["status"] == "delivered" and after["provider_message_id"] == "wamid.LATE"


def test_a_status_that_beats_the_drains_record_is_retried_alone(
    api: Api,
    services: Services,
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
    peer: GraphApiPeer,
) -> None:
    # GIVEN a message claimed by a drainer that has not recorded the send yet
    message_id = message_in(api, services, Status.SENDING)
    # WHEN its status arrives in the same body as another status, which the route cannot settle
    # then, and the ingest queue's batch also holds an unrelated, fine notification
    webhook(
        statuses(
            status("wamid.EARLY", "sent", T0, callback=message_id),
            status("wamid.SAME_BODY", "delivered", T0),
        )
    )
    webhook(inbound(text_message("wamid.UNRELATED", "Ciao")))
    failed = process()
    # THEN only that record failed (it stays on the queue for a retry); the other was done
    assert len(failed) == 1
    assert services.inbox.get(inbound_key("wamid.UNRELATED")) is not None
    # the rest of its own body was done too, not held back with it
    assert services.inbox.get(orphan_status_key("wamid.SAME_BODY", "delivered")) is not None
    assert services.messages.get(message_id).status is Status.SENDING  # type: ignore[union-attr]
    assert sqs_depth(services.settings.ingest_queue_url, "NotVisible") == 1


def test_a_body_of_statuses_is_settled_before_the_200_and_never_queued(
    api: Api,
    drain: Callable[..., Any],
    webhook: Callable[..., HttpResult],
    services: Services,
) -> None:
    # GIVEN a sent message
    (message,) = sent_messages(api, drain, 1)
    wamid = message["provider_message_id"]
    # WHEN Meta's statuses for it, and one for a message not ours, come in
    answer = webhook(
        statuses(
            status(wamid, "delivered", T0, callback=message["id"]),
            status("wamid.NOT_OURS", "read", T0),
        )
    )
    # THEN they are applied by the time Meta has its 200, and nothing waits on the queue
    assert answer.status == 200
    assert api("GET", f"/v1/messages/{message['id']}").body["status"] == "delivered"
    assert services.inbox.get(orphan_status_key("wamid.NOT_OURS", "read")) is not None
    assert sqs_depth(services.settings.ingest_queue_url, "", "NotVisible") == 0


def test_a_body_with_a_message_beside_its_statuses_is_queued_whole(
    api: Api,
    drain: Callable[..., Any],
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
    services: Services,
) -> None:
    (message,) = sent_messages(api, drain, 1)
    body = statuses(status(message["provider_message_id"], "read", T0, callback=message["id"]))
    body["entry"][0]["changes"][0]["value"]["messages"] = inbound(
        text_message("wamid.BESIDE", "Ciao")
    )["entry"][0]["changes"][0]["value"]["messages"]
    assert webhook(body).status == 200
    assert api("GET", f"/v1/messages/{message['id']}").body["status"] == "sent"  # not yet
    assert process() == []
    assert api("GET", f"/v1/messages/{message['id']}").body["status"] == "read"
    assert services.inbox.get(inbound_key("wamid.BESIDE")) is not None


UNDELIVERABLE = {"code": 131026, "title": "Message undeliverable"}


@pytest.mark.parametrize(
    ("earlier", "racing", "late", "final", "timeline"),
    [
        # the classic race: each moves the status, so the status condition alone catches it
        ([], ("read", T0 + 9), ("delivered", T0 + 3), "read", ["delivered", "read"]),
        # read came first (Meta's webhooks arrive in any order): neither late receipt moves the
        # status, so only the updated_at condition sees the other write
        (
            [("read", T0 + 9)],
            ("failed", T0 + 5),
            ("delivered", T0 + 3),
            "read",
            ["delivered", "failed", "read"],
        ),
    ],
    ids=["status-moves", "status-stays"],
)
def test_a_receipt_written_between_a_status_read_and_its_write_is_merged_not_lost(
    api: Api,
    drain: Callable[..., Any],
    webhook: Callable[..., HttpResult],
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    earlier: list[tuple[str, int]],
    racing: tuple[str, int],
    late: tuple[str, int],
    final: str,
    timeline: list[str],
) -> None:
    # GIVEN a sent message, with the receipts Meta reported so far
    (message,) = sent_messages(api, drain, 1)
    wamid, message_id = message["provider_message_id"], message["id"]

    def receipt(name: str, at: int) -> dict[str, Any]:
        errors = [UNDELIVERABLE] if name == "failed" else None
        return statuses(status(wamid, name, at, callback=message_id, errors=errors))

    for name, at in earlier:
        assert webhook(receipt(name, at)).status == 200
    # WHEN two receipts come in two deliveries at once: one invocation writes its receipt right
    # after the other has read the message, before that one writes
    read = services.messages.get
    raced: list[str] = []

    def read_then_race(wanted: str) -> Message | None:
        current = read(wanted)
        if not raced:
            raced.append(wanted)
            assert webhook(receipt(*racing)).status == 200
        return current

    monkeypatch.setattr(services.messages, "get", read_then_race)
    assert webhook(receipt(*late)).status == 200
    # THEN the late one, finding the message changed, merged into what it had become: both
    # receipts are kept, once each, and the status is the higher one's
    assert raced == [message_id]
    after = api("GET", f"/v1/messages/{message_id}").body
    assert after["status"] == final and after["error"] is None
    times = dict([*earlier, racing, late])
    assert [(e["phase"], e["at"]) for e in webhook_part(after)] == [
        (name, iso(times[name])) for name in timeline
    ]
    assert after["delivered_at"] == iso(times["delivered"])
    # settled by the route, its retry included: nothing went to the queue
    assert sqs_depth(services.settings.ingest_queue_url, "", "NotVisible") == 0
