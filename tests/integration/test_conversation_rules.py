"""At the send API: the 24-hour window, marketing opt-outs and template checks; the template list."""

from collections.abc import Callable
from typing import Any

import pytest

from local.graph_api_peer import GraphApiPeer
from postino.services import Services
from postino.store.inbox import templates_key
from tests.support.events import HttpResult
from tests.support.webhooks import PHONE_NUMBER_ID, WABA_ID, inbound, notification, text_message

Api = Callable[..., HttpResult]
Webhook = Callable[..., HttpResult]
Process = Callable[[], list[str]]

CUSTOMER = "393331234567"


def template(name: str, category: str = "UTILITY", status: str = "APPROVED") -> dict[str, Any]:
    return {
        "name": name,
        "language": "en_US",
        "status": status,
        "category": category,
        "id": str(abs(hash(name)) % 10**15),
        "components": [{"type": "BODY", "text": "Hi {{1}}, see you at {{2}}."}],
    }


def send_template(api: Api, name: str, parameters: int = 2, to: str = CUSTOMER) -> HttpResult:
    body = {
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "x"} for _ in range(parameters)],
                }
            ],
        },
    }
    return api("POST", "/v1/messages", body)


def free_text(api: Api, to: str = CUSTOMER, sender: str = "default") -> HttpResult:
    body = {"to": to, "sender": sender, "type": "text", "text": {"body": "Ciao"}}
    return api("POST", "/v1/messages", body)


@pytest.fixture
def strict_sender(api: Api) -> str:
    """The default sender, as deployed: the 24-hour window enforced."""
    sender = {
        "phone_number_id": PHONE_NUMBER_ID,
        "waba_id": WABA_ID,
        "access_token_secret": "postino/meta/access-token",
        "enforce_service_window": True,
    }
    assert api("PUT", "/v1/senders/default", sender).status == 200
    return "default"


def test_free_text_needs_an_open_window_which_an_inbound_message_opens(
    api: Api, strict_sender: str, webhook: Webhook, process: Process, services: Services
) -> None:
    refused = free_text(api)
    assert refused.status == 422
    assert refused.body["error"]["code"] == "outside_customer_service_window"
    assert "template" in refused.body["error"]["message"]
    # WHEN the customer writes (now), the window opens for 24 hours
    now = int(services.clock.now())
    webhook(inbound(text_message("wamid.HI", "Ciao!", sender=CUSTOMER, at=now)))
    assert process() == []
    assert free_text(api).status == 202
    # an inbound message older than 24 hours opens nothing for another contact
    webhook(inbound(text_message("wamid.OLD", "old", sender="393330000009", at=now - 90_000)))
    assert process() == []
    assert free_text(api, to="+393330000009").status == 422


def test_a_sender_may_turn_the_window_check_off(api: Api) -> None:
    # the tests' default sender has it off (DEFAULT_ENFORCE_SERVICE_WINDOW=false)
    assert api("GET", "/v1/senders/default").body["enforce_service_window"] is False
    assert free_text(api).status == 202


def test_templates_are_listed_from_meta_paged_and_cached(
    api: Api, peer: GraphApiPeer, services: Services
) -> None:
    peer.templates[WABA_ID] = [template(f"t{n:03d}") for n in range(130)]
    listed = api("GET", "/v1/templates")
    assert listed.status == 200 and len(listed.body["items"]) == 130
    pages = [r for r in peer.requests if "message_templates" in r.path]
    assert len(pages) == 2  # 100 a page
    # a second listing is served from the cache; refresh reads Meta again
    assert len(api("GET", "/v1/templates").body["items"]) == 130
    assert len([r for r in peer.requests if "message_templates" in r.path]) == 2
    peer.templates[WABA_ID] = [template("only_one")]
    refreshed = api("GET", "/v1/templates", query={"refresh": "true"})
    assert [t["name"] for t in refreshed.body["items"]] == ["only_one"]


def test_a_template_list_meta_refuses_is_a_clear_502(
    api: Api, peer: GraphApiPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer.access_token = "another-token"
    answer = api("GET", "/v1/templates")
    assert answer.status == 502 and answer.body["error"]["code"] == "templates_unavailable"
    assert "EAAG" not in answer.body["error"]["message"]  # never the token


def test_known_templates_are_checked_before_queueing(
    api: Api, peer: GraphApiPeer, services: Services
) -> None:
    peer.templates[WABA_ID] = [template("reminder"), template("paused_one", status="PAUSED")]
    api("GET", "/v1/templates")  # fills the cache
    assert send_template(api, "reminder").status == 202
    wrong_count = send_template(api, "reminder", parameters=1)
    assert wrong_count.status == 422
    assert wrong_count.body["error"]["code"] == "template_parameter_mismatch"
    assert wrong_count.body["error"]["details"][0]["problem"] == "body needs 2 parameters, got 1"
    unknown = send_template(api, "remindr")
    assert unknown.status == 422 and unknown.body["error"]["code"] == "template_not_found"
    paused = send_template(api, "paused_one")
    assert paused.status == 422 and paused.body["error"]["code"] == "template_not_approved"
    # nothing refused reached the queue or the table
    listed = api("GET", "/v1/messages").body["items"]
    assert len(listed) == 1


def test_a_template_status_webhook_updates_the_cache_at_once(
    api: Api, peer: GraphApiPeer, webhook: Webhook, process: Process, services: Services
) -> None:
    peer.templates[WABA_ID] = [template("reminder")]
    api("GET", "/v1/templates")
    update = notification(
        {
            "event": "PAUSED",
            "message_template_id": 123,
            "message_template_name": "reminder",
            "message_template_language": "en_US",
            "reason": "Low quality",
        },
        field="message_template_status_update",
    )
    webhook(update)
    assert process() == []
    cached = services.inbox.get(templates_key(WABA_ID))
    assert cached is not None and cached["templates"][0]["status"] == "PAUSED"
    assert send_template(api, "reminder").body["error"]["code"] == "template_not_approved"


def test_no_marketing_template_to_a_contact_who_opted_out(
    api: Api, peer: GraphApiPeer, webhook: Webhook, process: Process
) -> None:
    peer.templates[WABA_ID] = [template("sale", category="MARKETING"), template("reminder")]
    api("GET", "/v1/templates")
    stop = notification(
        {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": PHONE_NUMBER_ID},
            "user_preferences": [
                {"wa_id": CUSTOMER, "category": "marketing_messages", "value": "stop"}
            ],
        },
        field="user_preferences",
    )
    webhook(stop)
    assert process() == []
    refused = send_template(api, "sale")
    assert refused.status == 422 and refused.body["error"]["code"] == "marketing_opt_out"
    assert send_template(api, "reminder").status == 202  # utility templates still go
    assert send_template(api, "sale", to="+393330000001").status == 202


def test_a_sender_with_auto_mark_read_sends_read_receipts_once(
    api: Api, peer: GraphApiPeer, webhook: Webhook, process: Process
) -> None:
    sender = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token_secret": "postino/meta/access-token",
        "auto_mark_read": True,
    }
    assert api("PUT", "/v1/senders/default", sender).status == 200
    body = inbound(text_message("wamid.READ_ME", "Ciao"))
    webhook(body)
    webhook(body)
    assert process() == []
    assert peer.read_receipts() == ["wamid.READ_ME"]
    assert all(r.problems == [] for r in peer.requests)
