"""Inbound messages and other notifications: Meta's own examples, odd input, the contact record."""

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from local.meta_contract import spec_path
from postino.services import Services
from postino.store.inbox import contact_key, inbound_key
from tests.support.events import HttpResult
from tests.support.prerequisites import require_contract
from tests.support.webhooks import inbound, metadata, notification, text_message

Webhook = Callable[..., HttpResult]
Process = Callable[[], list[str]]

require_contract(spec_path())


def spec_examples() -> dict[str, dict[str, Any]]:
    spec = yaml.safe_load(spec_path().read_text())
    content = spec["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"]
    return {name: e["value"] for name, e in content["application/json"]["examples"].items()}


EXAMPLES = spec_examples()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_in_metas_spec_lands_as_it_should(
    name: str, webhook: Webhook, process: Process, services: Services
) -> None:
    example = EXAMPLES[name]
    # Meta's examples are JSON; the bytes it signs are whatever it serialised: use them as given
    assert webhook(json.dumps(example).encode()).status == 200
    assert process() == []
    for entry in example["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            names = {c["wa_id"]: c["profile"]["name"] for c in value.get("contacts", [])}
            for message in value.get("messages", []):
                stored = services.inbox.get(inbound_key(message["id"]))
                assert stored is not None, message["id"]
                assert stored["from"] == message["from"]
                assert stored["type"] == message["type"]  # every example type is a known one
                assert stored["timestamp"] == float(message["timestamp"])
                if message["type"] == "text":
                    assert stored["text"] == message["text"]["body"]
                if message["type"] == "image":
                    assert stored["media_id"] == message["image"]["id"]
                    assert stored["mime_type"] == message["image"]["mime_type"]
                if message["type"] == "interactive":
                    reply = next(iter(message["interactive"].values()))
                    if isinstance(reply, dict):
                        assert stored["reply_id"] == reply["id"]
                if message["type"] == "button":
                    assert stored["reply_title"] == message["button"]["text"]
                if "context" in message:
                    assert stored["context"] == message["context"]
                contact = services.inbox.get(contact_key("default", message["from"]))
                assert contact is not None
                assert contact["last_inbound_at"] == float(message["timestamp"])
                if message["from"] in names:
                    assert contact["profile_name"] == names[message["from"]]


def test_odd_but_valid_notifications_are_processed_not_crashed_on(
    webhook: Webhook, process: Process, services: Services
) -> None:
    body = notification(
        {
            "messaging_product": "whatsapp",
            "metadata": metadata(),
            "brand_new_field": {"nested": [1, 2]},
            "contacts": [
                {"profile": {"name": "Zoë 🌸"}, "wa_id": "393330000001", "user_id": "IT.123"}
            ],
            "messages": [
                {
                    "from": "393330000001",
                    "id": "wamid.HOLOGRAM",
                    "timestamp": "1795600000",
                    "type": "hologram",
                    "hologram": {"depth": 3},
                },
            ],
            "statuses": [],
        }
    )
    # several entries and changes in one body, some empty, one of a field we do not use
    body["entry"].append({"id": "2", "changes": []})
    body["entry"].append(
        {
            "id": "3",
            "changes": [
                {"field": "messages", "value": {"messaging_product": "whatsapp", "messages": []}},
                {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}},
                {
                    "field": "messages",
                    "value": inbound(text_message("wamid.SECOND", "Ciao"))["entry"][0]["changes"][
                        0
                    ]["value"],
                },
            ],
        }
    )
    assert webhook(body).status == 200
    assert process() == []
    hologram = services.inbox.get(inbound_key("wamid.HOLOGRAM"))
    assert hologram is not None and hologram["type"] == "unsupported"
    assert hologram["original_type"] == "hologram"
    assert hologram["profile_name"] == "Zoë 🌸"
    contact = services.inbox.get(contact_key("default", "393330000001"))
    assert contact is not None and contact["user_id"] == "IT.123"
    assert services.inbox.get(inbound_key("wamid.SECOND")) is not None


def test_a_record_that_cannot_be_read_fails_alone(
    webhook: Webhook, process: Process, services: Services
) -> None:
    # signed and an object, but an entry without its id: the processor cannot place it
    webhook({"object": "whatsapp_business_account", "entry": [{"changes": "nope"}]})
    webhook(inbound(text_message("wamid.FINE", "Hello")))
    assert len(process()) == 1
    assert services.inbox.get(inbound_key("wamid.FINE")) is not None


def test_a_repeated_inbound_message_is_stored_once_and_the_window_only_moves_forward(
    webhook: Webhook, process: Process, services: Services
) -> None:
    newer = text_message("wamid.NEW", "second", at=1795600100)
    older = text_message("wamid.OLD", "first", at=1795600000)
    for body in (inbound(newer), inbound(newer), inbound(older)):
        webhook(body)
    assert process() == []
    assert services.inbox.get(inbound_key("wamid.NEW"))["text"] == "second"  # type: ignore[index]
    contact = services.inbox.get(contact_key("default", "393331234567"))
    assert contact is not None and contact["last_inbound_at"] == 1795600100


def test_a_marketing_stop_sets_the_contacts_opt_out_and_resume_clears_it(
    webhook: Webhook, process: Process, services: Services
) -> None:
    def preference(value: str) -> dict[str, Any]:
        return notification(
            {
                "messaging_product": "whatsapp",
                "metadata": metadata(),
                "user_preferences": [
                    {
                        "wa_id": "393331234567",
                        "detail": "User requested to stop marketing messages",
                        "category": "marketing_messages",
                        "value": value,
                        "timestamp": 1795600000,
                    }
                ],
            },
            field="user_preferences",
        )

    webhook(preference("stop"))
    assert process() == []
    assert services.inbox.get(contact_key("default", "393331234567"))["marketing_opt_out"] is True  # type: ignore[index]
    webhook(preference("resume"))
    assert process() == []
    assert services.inbox.get(contact_key("default", "393331234567"))["marketing_opt_out"] is False  # type: ignore[index]


def test_errors_in_a_notification_are_logged_and_counted(
    webhook: Webhook,
    process: Process,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = notification(
        {
            "messaging_product": "whatsapp",
            "metadata": metadata(),
            "errors": [{"code": 131051, "title": "Message type unknown"}],
        }
    )
    webhook(body)
    assert process() == []
    assert '"WebhookErrors"' in capsys.readouterr().out
    assert any(getattr(r, "code", None) == 131051 for r in caplog.records)
