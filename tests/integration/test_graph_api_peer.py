"""The Graph API peer answers like Meta and checks what it is sent."""

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from local import arrival_stamps
from local.graph_api_peer import Fault, GraphApiPeer
from local.meta_contract import MetaContract

TOKEN = "EAAG-peer-test"
BODY = {
    "messaging_product": "whatsapp",
    "to": "393331234567",
    "type": "text",
    "text": {"body": "Ciao"},
}


@pytest.fixture
def graph() -> Any:
    with GraphApiPeer(access_token=TOKEN) as peer:
        yield peer


def post(peer: GraphApiPeer, body: Any, token: str = TOKEN, timeout: float = 5) -> httpx.Response:
    return httpx.post(
        f"{peer.base_url}/v23.0/106540352242922/messages",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def test_a_valid_send_gets_a_wamid_and_is_recorded(graph: GraphApiPeer) -> None:
    response = post(graph, BODY)
    assert response.status_code == 200
    assert response.json()["messages"][0]["id"].startswith("wamid.")
    (request,) = graph.sent_messages()
    assert request.body == BODY and request.received_at > 0


def test_an_invalid_body_is_refused_like_meta_with_code_100(graph: GraphApiPeer) -> None:
    response = post(graph, BODY | {"text": {"bdy": "x"}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100 and "bdy" in error["error_data"]["details"]
    assert MetaContract.load().check_error_body(response.json()) == []
    assert graph.sent_messages() == []


def test_a_wrong_token_is_a_401_with_code_190(graph: GraphApiPeer) -> None:
    response = post(graph, BODY, token="stolen")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190


def test_an_injected_error_answers_once_then_recovers(graph: GraphApiPeer) -> None:
    graph.add_fault(Fault(error_code=131026))
    first, second = post(graph, BODY), post(graph, BODY)
    assert first.json()["error"]["code"] == 131026
    assert MetaContract.load().check_error_body(first.json()) == []
    assert second.status_code == 200


def test_a_timeout_keeps_the_client_waiting(graph: GraphApiPeer) -> None:
    graph.add_fault(Fault(kind="timeout", hold_seconds=1.5))
    with pytest.raises(httpx.ReadTimeout):
        post(graph, BODY, timeout=0.5)
    assert graph.requests[0].body == BODY


def test_a_reset_comes_after_the_body_was_received(graph: GraphApiPeer) -> None:
    graph.add_fault(Fault(kind="reset"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post(graph, BODY)
    assert graph.requests[0].body == BODY


def test_requests_are_handled_concurrently(graph: GraphApiPeer) -> None:
    graph.latency = 0.2
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: post(graph, BODY).status_code, range(20)))
    assert statuses == [200] * 20
    assert graph.most_in_flight > 1


def test_a_read_receipt_is_checked_against_the_specs_mark_message_payload(
    graph: GraphApiPeer,
) -> None:
    receipt = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}
    assert post(graph, receipt).json() == {"success": True}
    assert graph.read_receipts() == ["wamid.X"] and graph.sent_messages() == []
    for wrong in (
        {"messaging_product": "whatsapp", "status": "read"},  # no message_id
        receipt | {"status": "delivered"},
    ):
        assert post(graph, wrong).status_code == 400
    assert graph.read_receipts() == ["wamid.X"]


def test_templates_are_served_in_pages_that_follow_next(graph: GraphApiPeer) -> None:
    graph.templates["555"] = [
        {"name": f"t{n}", "language": "en_US", "status": "APPROVED", "category": "UTILITY"}
        for n in range(7)
    ]
    url: str | None = f"{graph.base_url}/v23.0/555/message_templates?limit=3"
    names: list[str] = []
    while url:
        page = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).json()
        names += [t["name"] for t in page["data"]]
        url = page["paging"].get("next")
    assert names == [f"t{n}" for n in range(7)]
    bad = httpx.get(
        f"{graph.base_url}/v23.0/555/message_templates?limit=x",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert bad.status_code == 400
    assert (
        httpx.get(
            f"{graph.base_url}/v23.0/556/message_templates",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).status_code
        == 404
    )
    assert httpx.get(f"{graph.base_url}/v23.0/555/message_templates").status_code == 401


def raw_send(connection: socket.socket, body: dict[str, Any]) -> float:
    """One HTTP/1.1 request written to an open connection; when it was written."""
    data = json.dumps(body).encode()
    head = (
        "POST /v23.0/106540352242922/messages HTTP/1.1\r\nHost: peer\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    written = time.time()
    connection.sendall(head.encode() + data)
    return written


def answer(connection: socket.socket) -> bytes:
    """The peer's answer to one request, whole (its headers and body may come apart)."""
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        data += connection.recv(65536)
    return data


@pytest.mark.skipif(not arrival_stamps.SUPPORTED, reason="the kernel's receive stamps are Linux's")
def test_a_request_is_stamped_when_it_arrived_not_when_a_thread_got_to_it() -> None:
    # GIVEN a peer whose server has not started reading (a thread waiting for a busy interpreter)
    peer = GraphApiPeer(access_token=TOKEN)
    host, port = peer.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        # WHEN a request arrives, and the peer reads it half a second later
        written = raw_send(connection, BODY)
        time.sleep(0.5)
        with peer:
            answer(connection)
            # THEN it is stamped when it arrived
            (request,) = peer.sent_messages()
            assert request.received_at - written == pytest.approx(0, abs=0.1)


@pytest.mark.skipif(not arrival_stamps.SUPPORTED, reason="the kernel's receive stamps are Linux's")
def test_requests_on_one_connection_are_each_stamped_when_they_arrived(graph: GraphApiPeer) -> None:
    host, port = graph.base_url.removeprefix("http://").split(":")
    written = []
    with socket.create_connection((host, int(port))) as connection:
        for pause in (0.0, 0.3, 0.6):
            time.sleep(pause)
            written.append(raw_send(connection, BODY))
            assert b"wamid." in answer(connection)
    stamps = [request.received_at for request in graph.sent_messages()]
    assert [s - w for s, w in zip(stamps, written, strict=True)] == [pytest.approx(0, abs=0.1)] * 3
