"""The dashboard's live updates end to end on moto: a token from the send API, a page admitted on
the local WebSocket API with it, and the tables' stream records reaching the page through
LiveFunction's real entry point and role."""

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.live import live_function, stream_pollers
from local.moto_faults import answers_lost
from local.template_stack import StackResources, function_environment
from local.websocket_api import LocalWebSocketApi
from postino.services import Services
from postino.settings import get_settings
from postino.store.live_connections import LiveConnectionStore
from tests.support.events import HttpResult

Api = Callable[..., HttpResult]
MESSAGE = {"to": "+393331234567", "type": "text", "text": {"body": "Ciao 👋"}}
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).isoformat()


@pytest.fixture
def live(stack: StackResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWebSocketApi]:
    """The WebSocket API in front of LiveFunction; the functions told its URLs (before the
    services are built: ask for this fixture first)."""
    for name, value in function_environment(stack, "LiveFunction").items():
        monkeypatch.setenv(name, value)
    api = LocalWebSocketApi(
        live_function(),
        api_id=stack.physical["LiveApi"],
        stage="prod",
        function_name="postino-LiveFunction",
    ).start()
    monkeypatch.setenv("LIVE_URL", api.url)
    monkeypatch.setenv("LIVE_ENDPOINT", api.management_url)
    get_settings.cache_clear()
    yield api
    api.stop()


@pytest.fixture
def streams(stack: StackResources) -> Callable[[], int]:
    """Lambda's stream pollers for LiveFunction, from now on: each call hands it what is new."""
    pollers = stream_pollers(stack)
    function = live_function()
    return lambda: sum(poller.poll(function) for poller in pollers)


def token(api: Api) -> dict[str, Any]:
    answer = api("POST", "/v1/live")
    assert answer.status == 200, answer.body
    granted: dict[str, Any] = answer.body
    return granted


def page(grant: dict[str, Any]) -> ClientConnection:
    return connect(f"{grant['url']}?token={grant['token']}", open_timeout=10)


def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=10)
    return refused.value.response.status_code


def events_heard(socket: ClientConnection, wanted: int, within: float = 10) -> list[dict[str, Any]]:
    heard: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while len(heard) < wanted and time.monotonic() < deadline:
        heard += json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))["events"]
    return heard


def test_a_page_connects_once_with_each_token(live: LocalWebSocketApi, api: Api) -> None:
    # GIVEN a token from the send API (behind the API key)
    grant = token(api)
    assert grant["url"] == live.url and grant["expires_in"] == 60 and len(grant["token"]) >= 32
    # WHEN a page connects with it, THEN it is admitted
    with page(grant):
        assert len(live.connection_ids()) == 1
        # AND the same token a second time, none, or one of our making is refused
        assert refused_status(f"{live.url}?token={grant['token']}") == 401
        assert refused_status(live.url) == 401
        assert refused_status(f"{live.url}?token=made-up") == 401
        assert len(live.connection_ids()) == 1


def test_an_expired_token_is_refused(live: LocalWebSocketApi, services: Services) -> None:
    connections = LiveConnectionStore(services.settings.live_connections_table)
    stale = connections.issue_token(time.time() - 61)  # good for 60 s, and DynamoDB's TTL is late
    assert refused_status(f"{live.url}?token={stale}") == 401


def test_a_token_whose_redeeming_answer_was_lost_still_admits(
    live: LocalWebSocketApi, api: Api
) -> None:
    grant = token(api)
    # WHEN the write that uses the token up is applied and its answer lost, botocore retries it
    with answers_lost("dynamodb:UpdateItem") as dropped, page(grant):
        # THEN the retry found its own mark: admitted, not refused as a reused token
        assert dropped and len(live.connection_ids()) == 1


def test_a_message_moving_reaches_the_page_in_order(
    live: LocalWebSocketApi, streams: Callable[[], int], api: Api
) -> None:
    with page(token(api)) as socket:
        # WHEN a message is accepted and cancelled
        message_id = api("POST", "/v1/messages", MESSAGE | {"send_at": TOMORROW}).body["id"]
        assert api("POST", f"/v1/messages/{message_id}/cancel").status == 200
        assert streams() >= 2
        # THEN the page hears each change of it, in order
        heard = [e for e in events_heard(socket, 2) if e["type"] == "message"]
        assert [(e["id"], e["status"], e["phase"], e["revision"]) for e in heard] == [
            (message_id, "scheduled", "scheduled", 0),
            (message_id, "cancelled", "cancelled", 1),
        ]
        # AND the API gives the same revision, so that a page can tell the newer of the two
        assert api("GET", f"/v1/messages/{message_id}").body["revision"] == 1


def test_a_sender_paused_reaches_the_page(
    live: LocalWebSocketApi, streams: Callable[[], int], api: Api
) -> None:
    with page(token(api)) as socket:
        sender = {
            "phone_number_id": "106540352242000",
            "waba_id": "102290129340000",
            "access_token_secret": "postino/meta/studio-token",
        }
        assert api("PUT", "/v1/senders/shop", sender).status == 200
        streams()
        (told,) = [e for e in events_heard(socket, 1) if e["type"] == "sender"]
        assert told["name"] == "shop" and told["paused"] in (False, None)


def test_a_page_gone_is_forgotten(
    live: LocalWebSocketApi, streams: Callable[[], int], api: Api, services: Services
) -> None:
    connections = LiveConnectionStore(services.settings.live_connections_table)
    # GIVEN a page that closed, and one whose close API Gateway never told us about
    with page(token(api)):
        pass
    deadline = time.monotonic() + 5
    while connections.connected(time.time()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections.connected(time.time()) == []  # $disconnect forgot it
    connections.add("Gh0stC0nnect1d=", time.time())
    # WHEN a change is posted to the pages, THEN the 410 makes it forgotten too
    api("POST", "/v1/messages", MESSAGE)
    assert streams() >= 1
    assert connections.connected(time.time()) == []
