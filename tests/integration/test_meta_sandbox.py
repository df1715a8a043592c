"""The Meta sandbox's status webhooks: a refused one is tried again, as Meta does, and every try
is shown at GET /_sandbox/webhooks."""

import threading
import time
from collections.abc import Iterator
from email.message import Message
from typing import Any

import httpx
import pytest

from local.http_server import ClientGone, LocalHttpServer, Served, request_handler
from local.meta_contract import spec_path
from local.sandbox import WEBHOOK_SENDERS, MetaSandbox
from tests.support.prerequisites import require_contract

BODY = {
    "messaging_product": "whatsapp",
    "to": "393331234567",
    "type": "text",
    "text": {"body": "Ciao"},
}
# Short pauses, five tries: the retries' growth is what matters here, not Meta's seconds.
PAUSES = (0.05, 0.1, 0.2, 0.4)


class RefusingWebhook:
    """Our webhook route, refusing its first `refusals` requests with a 500."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.received = 0
        self.server = LocalHttpServer(("127.0.0.1", 0), request_handler(self.answer))

    def answer(
        self, method: str, target: str, headers: Message, body: bytes, gone: ClientGone
    ) -> Served:
        self.received += 1
        status = 500 if self.received <= self.refusals else 200
        return status, {"Content-Type": "text/plain"}, b"ok"

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks/meta"


class SlowWebhook:
    """Our webhook route on a busy machine: each request takes a while, and the most requests
    in hand at once is counted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.in_hand = 0
        self.most_in_hand = 0
        self._lock = threading.Lock()
        self.server = LocalHttpServer(("127.0.0.1", 0), request_handler(self.answer))

    def answer(
        self, method: str, target: str, headers: Message, body: bytes, gone: ClientGone
    ) -> Served:
        with self._lock:
            self.in_hand += 1
            self.most_in_hand = max(self.most_in_hand, self.in_hand)
        time.sleep(self.seconds)
        with self._lock:
            self.in_hand -= 1
        return 200, {"Content-Type": "text/plain"}, b"ok"

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks/meta"


def serving(server: LocalHttpServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return thread


@pytest.fixture
def webhook() -> Iterator[RefusingWebhook]:
    refusing = RefusingWebhook(refusals=2)
    thread = threading.Thread(target=refusing.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield refusing
    refusing.server.shutdown()
    refusing.server.server_close()


def sandbox(webhook_url: str) -> MetaSandbox:
    require_contract(spec_path())  # the sandbox checks requests against it
    meta = MetaSandbox(
        webhook_url=webhook_url,
        app_secret="secret",
        phone_number_id="100000000000001",
        waba_id="100000000000002",
        port=0,
    )
    meta.retry_pauses = PAUSES
    return meta


def delivered(meta: MetaSandbox, within: float = 10.0) -> dict[str, Any]:
    """GET /_sandbox/webhooks once no status is left to go out."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        shown: dict[str, Any] = httpx.get(f"{meta.base_url}/_sandbox/webhooks").json()
        if shown["delivering"] == 0:
            return shown
        time.sleep(0.05)
    raise AssertionError("the sandbox's status webhooks never finished")


def send(meta: MetaSandbox, to: str = "393331234567") -> str:
    answer = httpx.post(f"{meta.base_url}/v23.0/100000000000001/messages", json=BODY | {"to": to})
    assert answer.status_code == 200
    return str(answer.json()["messages"][0]["id"])


def test_a_refused_status_webhook_is_tried_again_until_accepted(webhook: RefusingWebhook) -> None:
    meta = sandbox(webhook.url)
    with meta:
        # GIVEN our webhook route refuses its first two requests (500)
        # WHEN the sandbox accepts a send to a number it fails (131026: sent, then failed)
        wamid = send(meta, to="393331230000")
        deliveries = delivered(meta)["deliveries"]
        # THEN sent is tried three times, the pauses between them growing, and each try is shown
        tries = [(d["status"], d["http_status"], d["attempt"]) for d in deliveries]
        assert tries == [
            ("sent", 500, 1),
            ("sent", 500, 2),
            ("sent", 200, 3),
            ("failed", 200, 1),
        ]
        assert {d["wamid"] for d in deliveries} == {wamid}
        at = [d["at"] for d in deliveries[:3]]
        assert at[1] - at[0] >= PAUSES[0] and at[2] - at[1] >= PAUSES[1]
        # AND the send shows, among the requests, with the wamid it was answered with
        requests = httpx.get(f"{meta.base_url}/_sandbox/requests").json()["requests"]
        assert [r["wamid"] for r in requests if r["path"].endswith("/messages")] == [wamid]


def test_a_status_webhook_nobody_takes_is_given_up_after_five_tries() -> None:
    # GIVEN nothing listens at the webhook URL (each try a connection error: 0)
    meta = sandbox("http://127.0.0.1:9/webhooks/meta")
    with meta:
        # WHEN a send to a number that fails outright (131047: one status, failed) is accepted
        send(meta, to="393331230001")
        deliveries = delivered(meta)["deliveries"]
    # THEN failed was tried five times in all, each shown with the 0 it got
    assert [(d["status"], d["http_status"], d["attempt"]) for d in deliveries] == [
        ("failed", 0, n) for n in range(1, 6)
    ]


def test_status_webhooks_go_out_a_few_at_a_time_and_a_wait_for_a_turn_is_not_a_try() -> None:
    # GIVEN a webhook route that takes 0.2 s a request
    slow = SlowWebhook(seconds=0.2)
    serving(slow.server)
    meta = sandbox(slow.url)
    # A try's wait, shorter than a turn's wait behind sixty statuses in eight slots (1.5 s)
    meta.webhook_timeout = 0.5
    try:
        with meta:
            # WHEN twenty sends are accepted at once (sixty statuses, their times overlapping)
            wamids = [send(meta, to=f"3933312345{n:02}") for n in range(20)]
            deliveries = delivered(meta, within=30.0)["deliveries"]
    finally:
        slow.server.shutdown()
        slow.server.server_close()
    # THEN the sandbox had no more than its slots' worth of webhooks out at once, as a sender
    # of webhooks paces one endpoint
    assert slow.most_in_hand <= WEBHOOK_SENDERS
    # AND each status was taken at its first try: waiting for a slot timed nothing out
    assert len(deliveries) == 3 * len(wamids)
    assert {(d["http_status"], d["attempt"]) for d in deliveries} == {(200, 1)}
