"""Per-recipient variables and signed links, through the send function and the drain to Meta."""

from collections.abc import Callable
from typing import Any

import boto3

from local.graph_api_peer import GraphApiPeer
from postino.services import Services
from tests.conftest import queue_depth
from tests.support.events import HttpResult
from tests.support.links import LINK_KEY_SECRET

Api = Callable[..., HttpResult]
Drain = Callable[..., dict[str, Any]]


def invitation(to: str, name: str, table: str) -> dict[str, Any]:
    parameters = [{"type": "text", "text": t} for t in ("{name}", "{table}", "{signed_link}")]
    return {
        "to": to,
        "type": "template",
        "template": {
            "name": "wedding_invitation",
            "language": {"code": "it"},
            "components": [{"type": "body", "parameters": parameters}],
        },
        "variables": {"name": name, "table": table},
        "link": {"url": "https://sara-e-marco.it/rsvp?lang=it", "valid_seconds": 86_400},
        "reference": "wedding",
    }


def sent_parameters(peer: GraphApiPeer) -> dict[str, list[str]]:
    return {
        r.body["to"]: [p["text"] for p in r.body["template"]["components"][0]["parameters"]]
        for r in peer.sent_messages()
    }


def test_a_batch_of_invitations_reaches_meta_filled_with_a_genuine_link_each(
    api: Api, drain: Drain, peer: GraphApiPeer
) -> None:
    items = [
        invitation("+39 333 111 2222", "Giulia", "7"),
        invitation("+39 333 333 4444", "Luca", "3"),
    ]
    answer = api("POST", "/v1/messages/batch", {"messages": items})
    assert answer.status == 200 and all(r["status"] == "queued" for r in answer.body["results"])
    drain()
    sent = sent_parameters(peer)
    assert [sent["393331112222"][:2], sent["393333334444"][:2]] == [["Giulia", "7"], ["Luca", "3"]]
    # Each link says whom it was for, on the user's page, and verifies
    link = sent["393331112222"][2]
    assert link.startswith("https://sara-e-marco.it/rsvp?lang=it&pt=")
    check = api("GET", "/v1/links/verify", query={"url": link})
    assert check.status == 200
    assert check.body | {"expires_at": None} == {
        "valid": True,
        "reason": None,
        "recipient": "393331112222",
        "reference": "wedding",
        "expires_at": None,
    }
    # AND a link changed by hand (another guest's payload with this MAC) does not
    other = sent["393333334444"][2]
    forged = (
        link.split("&pt=")[0]
        + "&pt="
        + other.split("&pt=")[1].split(".")[0]
        + "."
        + link.split(".")[-1]
    )
    assert api("GET", "/v1/links/verify", query={"url": forged}).body["reason"] == "bad_signature"


def test_a_missing_variable_is_refused_and_nothing_is_stored_or_queued(
    api: Api, services: Services
) -> None:
    body = {
        "to": "+39 333 111 2222",
        "type": "text",
        "text": {"body": "Ciao {name}, tavolo {table}"},
    }
    answer = api("POST", "/v1/messages", body | {"variables": {"name": "Giulia"}})
    assert answer.status == 422 and answer.body["error"]["code"] == "missing_variable"
    assert "{table}" in answer.body["error"]["message"]
    assert api("GET", "/v1/messages").body["items"] == [] and queue_depth(services) == 0


def test_verify_needs_a_url_and_says_why_a_link_is_not_ours(api: Api) -> None:
    assert api("GET", "/v1/links/verify").status == 422
    answer = api("GET", "/v1/links/verify", query={"url": "https://sara-e-marco.it/rsvp"})
    assert answer.status == 200 and answer.body["valid"] is False
    assert answer.body["reason"] == "no_token"


def test_without_a_signing_key_a_link_is_refused_with_the_secret_to_create(
    api: Api, services: Services
) -> None:
    boto3.client("secretsmanager").delete_secret(
        SecretId=LINK_KEY_SECRET, ForceDeleteWithoutRecovery=True
    )
    answer = api("POST", "/v1/messages", invitation("+39 333 111 2222", "Giulia", "7"))
    assert answer.status == 503 and LINK_KEY_SECRET in answer.body["error"]["message"]
    assert api("GET", "/v1/messages").body["items"] == [] and queue_depth(services) == 0
