"""The checker built on Meta's spec: Meta's own examples pass, near-misses fail."""

from typing import Any, get_args

import pytest

from local.meta_contract import MetaContract, spec_path
from postino.messages.content import MessageType
from tests.support.prerequisites import require_contract

require_contract(spec_path())

CONTRACT = MetaContract.load()
EXAMPLES = CONTRACT.send_message_examples()
# Meta's examples of the message types Postino sends (contacts and order types it does not).
POSTINO_SENDS = [
    name
    for name, body in EXAMPLES.items()
    if body.get("type") in set(get_args(MessageType)) - {"interactive"}
    or (
        body.get("type") == "interactive"
        and body["interactive"]["type"]
        in {"button", "list", "cta_url", "flow", "catalog_message", "product"}
    )
]
BASE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "393331234567"}


def test_there_are_examples_for_every_type_postino_sends() -> None:
    types = {EXAMPLES[name]["type"] for name in POSTINO_SENDS}
    assert types == set(get_args(MessageType))
    assert len(types) == 10


@pytest.mark.parametrize("name", POSTINO_SENDS)
def test_metas_own_examples_pass(name: str) -> None:
    assert CONTRACT.check_send_message(EXAMPLES[name]) == []


def test_what_postino_sends_passes() -> None:
    body = BASE | {
        "type": "text",
        "text": {"body": "Ciao", "preview_url": False},
        "biz_opaque_callback_data": "0193a1b2",
    }
    assert CONTRACT.check_send_message(body) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (BASE | {"type": "text", "txet": {"body": "hi"}}, "txet"),
        (BASE | {"type": "text"}, "'text' is a required property"),
        (
            BASE | {"type": "template", "template": {"name": "hello_world"}},
            "'language' is a required property",
        ),
        (BASE | {"type": "image", "image": {"url": "https://example.com/a.png"}}, "image"),
        (BASE | {"type": "fax", "fax": {}}, "not a message type"),
        ({"to": "393331234567", "type": "text", "text": {"body": "hi"}}, "messaging_product"),
        (BASE | {"type": "text", "text": {"body": 42}}, "42 is not of type 'string'"),
        (
            BASE | {"type": "text", "text": {"body": "hi"}, "biz_opaque_callback_data": "x" * 513},
            "biz_opaque_callback_data",
        ),
    ],
)
def test_near_misses_fail(body: dict[str, Any], words: str) -> None:
    problems = CONTRACT.check_send_message(body)
    assert any(words in p for p in problems), problems


def test_graph_api_errors_are_checked_too() -> None:
    assert (
        CONTRACT.check_error_body(
            {"error": {"message": "m", "type": "OAuthException", "code": 100}}
        )
        == []
    )
    assert CONTRACT.check_error_body({"error": {"message": "m"}}) != []
