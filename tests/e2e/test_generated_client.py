"""A client generated from the document the stack serves, as a new user would make one: no
warnings from the generator, and its models parse what the API answers."""

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import API_KEY, Stack, fresh_number, until

PACKAGE = "postino_client"
# The generator pinned in requirements-dev.txt, with the ruff it formats its output with.
BIN = Path(sys.executable).parent


def generate(document: str, into: Path) -> str:
    """openapi-python-client generate on the document: the package in `into`, and what it said."""
    (into / "openapi.json").write_text(document)
    command = ["generate", "--path", "openapi.json", "--meta", "none", "--output-path", PACKAGE]
    generated = subprocess.run(
        [BIN / "openapi-python-client", *command],
        cwd=into,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = generated.stdout + generated.stderr
    assert generated.returncode == 0, said
    return said


@pytest.fixture(scope="module")
def client(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    # GIVEN the document the stack serves (public, no key), through the pinned generator
    document = httpx.get(f"{stack.api}/v1/openapi.json", timeout=10)
    assert document.status_code == 200
    folder = tmp_path_factory.mktemp("generated")
    said = generate(document.text, folder)
    # THEN the generator has nothing to warn about: every operation and model made it in
    assert "warning" not in said.lower(), said
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def signed_in(client: ModuleType, stack: Stack) -> Any:
    """The generated client with our API key (the document's apiKey scheme: x-api-key)."""
    return client.AuthenticatedClient(
        base_url=stack.api, token=API_KEY, prefix="", auth_header_name="x-api-key"
    )


def test_the_generated_client_answers_a_customer_and_reads_the_message_back(
    stack: Stack, client: ModuleType
) -> None:
    models = module("models")
    send_message = module("api.messages.send_message")
    get_message = module("api.messages.get_message")
    api = signed_in(client, stack)
    # GIVEN a customer who wrote to us: a free-form text may answer within 24 hours
    customer = fresh_number().lstrip("+")
    played = httpx.post(
        f"{stack.sandbox}/_sandbox/inbound",
        json={"from": customer, "text": "Is the boat on time?", "name": "Ada"},
    )
    assert played.status_code == 200 and played.json()["webhook_status"] == 200
    # WHEN a text is sent through the client's own models (once the inbound is processed)
    body = models.SendMessageRequest(
        to=f"+{customer}",
        sender="default",
        type_=models.SendMessageRequestType.TEXT,
        text=models.Text(body="Yes, it leaves at 10:00"),
    )

    def accepted() -> Any:
        answer = send_message.sync_detailed(client=api, body=body)
        return answer if answer.status_code == 202 else None

    sent = until(accepted)
    # THEN the 202 is parsed into the generated message model
    assert sent is not None, send_message.sync_detailed(client=api, body=body).content
    assert isinstance(sent.parsed, models.MessageResource)
    assert sent.parsed.to == customer and sent.parsed.type_ == "text"
    # AND reading it back gives the same message, with its timeline as generated events
    read = get_message.sync_detailed(sent.parsed.id, client=api)
    assert read.status_code == 200, read.content
    assert isinstance(read.parsed, models.MessageResource)
    assert read.parsed.id == sent.parsed.id
    assert isinstance(read.parsed.status, models.Status)
    assert all(isinstance(event, models.Event) for event in read.parsed.events)
    assert [event.phase for event in read.parsed.events][:1] == [models.Phase.ACCEPTED]


def test_the_generated_client_parses_an_error_into_the_one_error_model(
    stack: Stack, client: ModuleType
) -> None:
    models, get_message = module("models"), module("api.messages.get_message")
    api = signed_in(client, stack)
    # WHEN the client asks for a message that does not exist
    missing = get_message.sync_detailed("nosuchmessage", client=api)
    # THEN the 404 is the generated Error model, with the API's code
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Error)
    assert missing.parsed.error.code == "message_not_found"


def test_the_generated_client_lists_the_conversation_a_customer_opened(
    stack: Stack, client: ModuleType
) -> None:
    models = module("models")
    list_conversations = module("api.conversations.list_conversations")
    api = signed_in(client, stack)
    # GIVEN a customer who writes to the default sender
    customer = fresh_number().lstrip("+")
    played = httpx.post(
        f"{stack.sandbox}/_sandbox/inbound",
        json={"from": customer, "text": "Do you have a table for two?", "name": "Bruno"},
    )
    assert played.status_code == 200 and played.json()["webhook_status"] == 200

    # WHEN the client lists the sender's conversations (once the inbound is processed)
    def opened() -> Any:
        listed = list_conversations.sync_detailed(client=api, sender="default", limit=100)
        assert listed.status_code == 200, listed.content
        return listed if any(c.contact == customer for c in listed.parsed.items) else None

    listed = until(opened)
    # THEN the page and its conversations are the generated models, the window open
    assert listed is not None
    assert isinstance(listed.parsed, models.ConversationPage)
    (conversation,) = [c for c in listed.parsed.items if c.contact == customer]
    assert isinstance(conversation, models.Conversation)
    assert conversation.window_open_until and conversation.unread >= 1
