"""A pass with the settings a deploy gets, nothing turned off for the tests.

Every other integration test runs with two test settings (tests/conftest.py's `stack`): the
default sender's 24-hour window check off, so that tests of other things can send free text to
numbers that never wrote, and a wider rate window grace for a busy machine. Here neither is
set: the functions read only what template.yaml gives them, and the settings' own defaults.
"""

from collections.abc import Callable
from typing import Any

import pytest

from local.graph_api_peer import GraphApiPeer
from local.template_stack import StackResources, function_environment
from postino.services import Services
from postino.settings import Settings
from tests.support.events import HttpResult
from tests.support.webhooks import inbound, status, statuses, text_message

Api = Callable[..., HttpResult]
CUSTOMER = "393337770001"
# Only these differ from a deploy (tests/conftest.py): each is taken away below.
TEST_SETTINGS = ("DEFAULT_ENFORCE_SERVICE_WINDOW", "RATE_WINDOW_GRACE_SECONDS")
# What the tests must give the functions: where Meta is (the local peer), and no more.
PEER_SETTINGS = {"GRAPH_API_BASE_URL"}


@pytest.fixture
def services(
    stack: StackResources,
    monkeypatch: pytest.MonkeyPatch,
    make_services: Callable[..., Services],
) -> Services:
    for name in TEST_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return make_services()


def free_text(to: str = CUSTOMER) -> dict[str, Any]:
    return {"to": to, "type": "text", "text": {"body": "Ciao Giulia 👋"}}


def test_the_functions_read_only_the_templates_settings_and_their_own_defaults(
    stack: StackResources, services: Services
) -> None:
    deployed = Settings.model_validate(
        {
            name.lower(): value
            for name, value in function_environment(stack, "SendFunction").items()
            if name.lower() in Settings.model_fields
        }
    )
    overridden = {
        name
        for name in Settings.model_fields
        if getattr(services.settings, name) != getattr(deployed, name)
    }
    assert overridden == {name.lower() for name in PEER_SETTINGS}
    # (the defaults that keep a number safe: the window checked, the grace as designed)
    assert services.settings.default_enforce_service_window is True


def test_the_default_sender_keeps_metas_window_until_the_customer_writes(
    api: Api,
    drain: Callable[..., dict[str, Any]],
    webhook: Callable[..., HttpResult],
    process: Callable[[], list[str]],
    peer: GraphApiPeer,
    services: Services,
) -> None:
    # GIVEN the stack's default sender, as deployed
    assert api("GET", "/v1/senders/default").body["enforce_service_window"] is True
    # WHEN free text goes to someone who never wrote: refused, nothing stored or sent
    refused = api("POST", "/v1/messages", free_text())
    assert refused.status == 422, refused.body
    assert refused.body["error"]["code"] == "outside_customer_service_window"
    assert api("GET", "/v1/messages").body["items"] == []
    # AND an approved template goes, and reaches delivered
    hello = {"name": "hello_world", "language": {"code": "en_US"}}
    template = {"to": CUSTOMER, "type": "template", "template": hello}
    accepted = api("POST", "/v1/messages", template)
    assert accepted.status == 202, accepted.body
    drain()
    sent = api("GET", f"/v1/messages/{accepted.body['id']}").body
    assert sent["status"] == "sent", sent
    now = int(services.clock.now())
    delivered = status(sent["provider_message_id"], "delivered", now, recipient=CUSTOMER)
    assert webhook(statuses(delivered)).status == 200
    assert process() == []
    assert api("GET", f"/v1/messages/{sent['id']}").body["status"] == "delivered"
    # WHEN the customer answers, the window opens: free text goes too
    webhook(inbound(text_message("wamid.HI", "Sì!", sender=CUSTOMER, at=now), wa_id=CUSTOMER))
    assert process() == []
    assert api("POST", "/v1/messages", free_text()).status == 202
    drain()
    assert [r.body["to"] for r in peer.sent_messages()] == [CUSTOMER, CUSTOMER]


def test_a_new_sender_checks_the_window_unless_told_not_to(api: Api) -> None:
    profile = {
        "phone_number_id": "109876543210",
        "access_token_secret": "postino/meta/access-token",
    }
    assert api("PUT", "/v1/senders/studio", profile).status in (200, 201)
    assert api("GET", "/v1/senders/studio").body["enforce_service_window"] is True
    refused = api("POST", "/v1/messages", free_text() | {"sender": "studio"})
    assert refused.status == 422, refused.body
