"""Variables fill a message's texts; what cannot be filled is refused, naming the placeholder."""

from typing import Any

import pytest

from postino.errors import PostinoError
from postino.messages.personalise import personalise
from postino.messages.request import SendMessageRequest


def request(**fields: Any) -> SendMessageRequest:
    return SendMessageRequest.model_validate({"to": "+39 333 123 4567"} | fields)


def no_link(_: SendMessageRequest) -> str:
    raise AssertionError("no link was asked for")


def test_a_text_is_filled_and_literal_braces_stay() -> None:
    asked = request(
        type="text",
        text={"body": "Ciao {name}, {{tavolo}} {table} 💍"},
        variables={"name": "Giulia", "table": "7"},
    )
    filled = personalise(asked, no_link)
    assert filled.text is not None and filled.text.body == "Ciao Giulia, {tavolo} 7 💍"
    assert filled.variables is None and filled.to == "393331234567"


def test_template_parameters_and_the_signed_link_are_filled() -> None:
    asked = request(
        type="template",
        template={
            "name": "wedding_invitation",
            "language": {"code": "it"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "{name}"},
                        {"type": "text", "text": "{table}"},
                        {"type": "text", "text": "{signed_link}"},
                    ],
                }
            ],
        },
        variables={"name": "Giulia", "table": "7"},
        link={"url": "https://sara-e-marco.it/rsvp"},
        reference="wedding",
    )
    filled = personalise(asked, lambda r: f"{r.link.url}?pt=for-{r.to}")  # type: ignore[union-attr]
    assert filled.template is not None and filled.template.components is not None
    texts = [p.text for p in filled.template.components[0].parameters]
    assert texts == ["Giulia", "7", "https://sara-e-marco.it/rsvp?pt=for-393331234567"]
    assert filled.link is None and filled.reference == "wedding"


def test_a_caption_is_filled() -> None:
    asked = request(
        type="image",
        image={"link": "https://example.com/a.jpg", "caption": "Per {name}"},
        variables={"name": "Anna"},
    )
    assert personalise(asked, no_link).image.caption == "Per Anna"  # type: ignore[union-attr]


def test_a_message_without_variables_keeps_its_braces() -> None:
    asked = request(type="text", text={"body": "JSON: {name}"})
    assert personalise(asked, no_link) is asked


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"text": {"body": "Ciao {name}"}, "variables": {}}, "missing_variable", "{name}"),
        (
            {"text": {"body": "Ciao {signed_link}"}, "variables": {}},
            "missing_variable",
            "{signed_link}",
        ),
        (
            {"text": {"body": "Ciao"}, "link": {"url": "https://a.it/x"}},
            "invalid_field",
            "no {signed_link}",
        ),
        (
            {"text": {"body": "{long}" * 5}, "variables": {"long": "x" * 1000}},
            "invalid_field",
            "once its placeholders are filled",
        ),
    ],
)
def test_what_cannot_be_filled_is_refused(
    fields: dict[str, Any], code: str, words: str | None
) -> None:
    with pytest.raises(PostinoError) as raised:
        personalise(request(type="text", **fields), lambda _: "https://a.it/x?pt=t")
    assert raised.value.status == 422 and raised.value.code == code
    assert words is None or words in raised.value.message


@pytest.mark.parametrize(
    "variables",
    [{"signed_link": "x"}, {"Name": "x"}, {"name": "x" * 1025}, {f"v{i}": "x" for i in range(51)}],
)
def test_variables_are_checked_at_the_edge(variables: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="variables"):
        request(type="text", text={"body": "hi"}, variables=variables)
