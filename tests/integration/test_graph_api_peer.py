"""The Graph API peer answers like Meta and checks what it is sent."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

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
