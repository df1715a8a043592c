"""Template checks both ways: what Meta would take passes, what it would refuse is named."""

from typing import Any

import pytest

from postino.templates.check import check_template_message, is_marketing
from postino.templates.model import Template

ORDER_UPDATE = Template(
    name="order_update",
    language="en_US",
    status="APPROVED",
    category="UTILITY",
    components=[
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} ships {{3}}. Again: {{2}}."},
        {"type": "FOOTER", "text": "Thanks"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Stop"},
                {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"},
            ],
        },
    ],
)
KNOWN = [
    ORDER_UPDATE,
    ORDER_UPDATE.model_copy(update={"language": "it"}),
    Template(
        name="promo",
        language="en_US",
        status="APPROVED",
        category="MARKETING",
        components=[
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{first_name}}, {{code}} gets you 10% off"},
        ],
    ),
    Template(name="draft", language="en_US", status="PENDING", components=[]),
]


def params(n: int) -> list[dict[str, str]]:
    return [{"type": "text", "text": f"p{i}"} for i in range(n)]


def order_update(header: int = 1, body: int = 3, button: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": params(header)},
            {"type": "body", "parameters": params(body)},
            {"type": "button", "sub_type": "url", "index": "1", "parameters": params(button)},
        ],
    } | over


def test_buttons_need_parameters_only_where_meta_requires_them() -> None:
    coupon = Template(
        name="coupon",
        language="en_US",
        status="APPROVED",
        components=[
            {"type": "HEADER", "format": "LOCATION"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Stop"},
                    {"type": "COPY_CODE", "example": "SAVE10"},
                ],
            },
        ],
    )
    assert coupon.needs() == {"header": 1, "button[1]": 1}
    send: dict[str, Any] = {
        "name": "coupon",
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [{"type": "location", "location": {}}]},
            # a quick reply may carry its optional payload
            {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": params(1)},
            {"type": "button", "sub_type": "copy_code", "index": 1, "parameters": params(1)},
        ],
    }
    assert check_template_message(send, [coupon]) == []
    send["components"] = send["components"][:2]
    (problem,) = check_template_message(send, [coupon])
    assert problem.problem == "button[1] needs 1 parameter, got 0"


def test_a_send_that_matches_the_template_passes() -> None:
    assert ORDER_UPDATE.needs() == {"header": 1, "body": 3, "button[1]": 1}
    assert check_template_message(order_update(), KNOWN) == []
    promo = {
        "name": "promo",
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/y"}}]},
            {"type": "body", "parameters": params(2)},
        ],
    }
    assert check_template_message(promo, KNOWN) == []
    assert is_marketing(promo, KNOWN) and not is_marketing(order_update(), KNOWN)


@pytest.mark.parametrize(
    ("template", "code", "field", "words"),
    [
        (order_update(name="order_updat"), "template_not_found", "template.name", "no template"),
        (
            order_update(language={"code": "de"}),
            "template_language_not_found",
            "template.language.code",
            "en_US, it",
        ),
        (
            {"name": "draft", "language": {"code": "en_US"}},
            "template_not_approved",
            "template.name",
            "PENDING",
        ),
        (
            order_update(body=2),
            "template_parameter_mismatch",
            "template.components[1].parameters",
            "body needs 3 parameters, got 2",
        ),
        (
            order_update(button=0),
            "template_parameter_mismatch",
            "template.components",
            "button[1] needs 1 parameter, got 0",
        ),
        (
            {"name": "promo", "language": {"code": "en_US"}},
            "template_parameter_mismatch",
            "template.components",
            "header needs 1 parameter, got 0",
        ),
    ],
)
def test_what_meta_would_refuse_is_named_with_its_field(
    template: dict[str, Any], code: str, field: str, words: str
) -> None:
    problems = check_template_message(template, KNOWN)
    assert problems, "the check must find a problem"
    assert problems[0].code == code and problems[0].field == field
    assert words in problems[0].problem
