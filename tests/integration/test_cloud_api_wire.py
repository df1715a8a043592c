"""The last check before a Cloud API send leaves (postino.providers.cloud_api.before_the_wire),
against Meta's peer over a real socket: when it runs, and that a send it keeps back sends
nothing."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.graph_api_peer import GraphApiPeer
from postino.providers.base import SlotMissed
from postino.providers.cloud_api import before_the_wire
from tests.conftest import ACCESS_TOKEN

BODY = {"messaging_product": "whatsapp", "to": "393331234567", "type": "text"}


def url(peer: GraphApiPeer) -> str:
    return f"{peer.base_url}/v23.0/106540352242922/messages"


def send(client: httpx.Client, peer: GraphApiPeer, trace: Callable[..., Any] | None) -> None:
    client.post(
        url(peer),
        json={**BODY, "text": {"body": "hi"}},
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        extensions={"trace": trace} if trace else None,
    )


def logged(events: list[str], late: bool) -> Callable[[str, dict[str, Any]], None]:
    """before_the_wire's hook, with each trace event and each check written to `events`."""

    def on_wire() -> None:
        events.append("on_wire")
        if late:
            raise SlotMissed

    hook = before_the_wire(on_wire)

    def trace(event: str, info: dict[str, Any]) -> None:
        events.append(event)
        hook(event, info)

    return trace


def test_a_send_on_a_new_connection_is_checked_before_the_connect_and_only_then(
    peer: GraphApiPeer,
) -> None:
    events: list[str] = []
    with httpx.Client() as client:
        send(client, peer, logged(events, late=False))
    assert events[:3] == [
        "connection.connect_tcp.started",
        "on_wire",
        "connection.connect_tcp.complete",
    ]
    assert events.count("on_wire") == 1 and "http11.send_request_headers.started" in events
    assert len(peer.sent_messages()) == 1


def test_a_send_on_a_kept_connection_is_checked_just_before_its_headers(
    peer: GraphApiPeer,
) -> None:
    events: list[str] = []
    with httpx.Client() as client:
        send(client, peer, None)  # opens the connection the next send finds
        send(client, peer, logged(events, late=False))
    assert "connection.connect_tcp.started" not in events
    assert events[:2] == ["http11.send_request_headers.started", "on_wire"]
    assert len(peer.sent_messages()) == 2


@pytest.mark.parametrize("connection", ["new", "kept"])
def test_a_send_kept_back_sends_nothing_and_the_client_sends_again_after(
    peer: GraphApiPeer, connection: str
) -> None:
    with httpx.Client() as client:
        if connection == "kept":
            send(client, peer, None)
        before = len(peer.requests)
        with pytest.raises(SlotMissed):
            send(client, peer, logged([], late=True))
        assert len(peer.requests) == before
        send(client, peer, None)
    assert len(peer.requests) == before + 1
