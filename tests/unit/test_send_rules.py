"""Each provider's rules at the door: the 24-hour window, opt-outs, templates, WAHA's limits."""

from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

import pytest

from postino.clock import FakeClock
from postino.errors import PostinoError, Problem
from postino.messages.content import to_meta
from postino.messages.request import SendMessageRequest
from postino.send.rules import check_conversation_rules
from postino.senders.model import CloudApiSender, Sender, WahaSender
from postino.services import Services
from postino.store.inbox import contact_key, templates_key

CUSTOMER = "393331234567"
GROUP = "120363025246125486@g.us"
WABA_ID = "102290129340398"
DAY = 24 * 3600  # Meta's customer-service window
WROTE_AT = 1_800_000_000  # when the customer last wrote, in the tests that need it
WINDOW_CLOSED = PostinoError(
    "outside_customer_service_window",
    "This contact has not written to this sender in the last 24 hours, so WhatsApp only "
    "accepts a template message; send an approved template instead.",
    422,
    [Problem("type", "free-form messages need an open 24-hour window; use a template")],
)


class InMemoryInbox:
    """The inbox table's reads, from a dict of items by key."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items

    def get(self, key: str) -> dict[str, Any] | None:
        return self.items.get(key)


def cloud_api_sender(*, enforce_service_window: bool = True) -> CloudApiSender:
    return CloudApiSender(
        name="default",
        phone_number_id="106540352242922",
        waba_id=WABA_ID,
        access_token_secret="postino/meta/access-token",
        enforce_service_window=enforce_service_window,
    )


def waha_sender() -> WahaSender:
    return WahaSender(
        name="phone",
        provider="waha",
        base_url="http://waha.postino.internal:3000",
        api_key_secret="postino/waha/api-key",
    )


def services(now: float, items: dict[str, dict[str, Any]] | None = None) -> Services:
    return cast(Services, SimpleNamespace(clock=FakeClock(now), inbox=InMemoryInbox(items or {})))


def wrote_at(at: float | None, sender: str = "default", **more: Any) -> dict[str, dict[str, Any]]:
    contact: dict[str, Any] = {"wa_id": CUSTOMER, **more}
    if at is not None:
        contact["last_inbound_at"] = Decimal(at)
    return {contact_key(sender, CUSTOMER): contact}


def request(to: str = CUSTOMER, **message: Any) -> SendMessageRequest:
    return SendMessageRequest.model_validate(
        {"to": to, **(message or {"type": "text", "text": {"body": "Ciao"}})}
    )


def check(services: Services, sender: Sender, asked: SendMessageRequest) -> None:
    check_conversation_rules(services, sender, asked, to_meta(asked.content))


def refusal(services: Services, sender: Sender, asked: SendMessageRequest) -> PostinoError:
    with pytest.raises(PostinoError) as refused:
        check(services, sender, asked)
    return refused.value


# The 24-hour customer-service window


def test_free_text_is_accepted_until_the_last_second_of_the_window() -> None:
    # GIVEN a customer who wrote exactly 24 hours ago
    inbox = wrote_at(WROTE_AT)
    # WHEN free text is sent to them now THEN it passes: the window includes its last second
    check(services(WROTE_AT + DAY, inbox), cloud_api_sender(), request())
    # AND half a second later the window is closed
    later = services(WROTE_AT + DAY + 0.5, inbox)
    assert refusal(later, cloud_api_sender(), request()) == WINDOW_CLOSED


def test_free_text_soon_after_an_inbound_message_is_accepted() -> None:
    check(services(WROTE_AT + 60, wrote_at(WROTE_AT)), cloud_api_sender(), request())


def test_the_window_is_per_sender() -> None:
    # GIVEN a customer who wrote (just now) to another sender only
    inbox = wrote_at(WROTE_AT, sender="other")
    # WHEN the default sender sends free text THEN it is refused
    assert refusal(services(WROTE_AT, inbox), cloud_api_sender(), request()) == WINDOW_CLOSED


@pytest.mark.parametrize("inbox", [{}, wrote_at(None)], ids=["no contact", "never wrote"])
def test_a_contact_who_never_wrote_has_no_window_even_at_the_start_of_time(
    inbox: dict[str, dict[str, Any]],
) -> None:
    # GIVEN a clock half a second past 24 hours after the epoch, and a contact with no inbound
    # message (no record at all, or a record without one)
    early = services(DAY + 0.5, inbox)
    # WHEN free text is sent THEN the window is closed: no inbound time counts as time zero
    assert refusal(early, cloud_api_sender(), request()) == WINDOW_CLOSED


def test_a_sender_that_turns_the_check_off_sends_free_text_to_anyone() -> None:
    check(services(WROTE_AT), cloud_api_sender(enforce_service_window=False), request())


def test_a_template_needs_no_open_window() -> None:
    # GIVEN no templates cached, a customer who never wrote
    asked = request(type="template", template={"name": "reminder", "language": {"code": "en_US"}})
    # WHEN a template is sent THEN it passes (Meta's own answer will tell about the template)
    check(services(WROTE_AT), cloud_api_sender(), asked)


def test_a_group_needs_a_waha_sender() -> None:
    refused = refusal(services(WROTE_AT), cloud_api_sender(), request(to=GROUP))
    assert refused == PostinoError(
        "group_needs_waha",
        "The field 'to' is not valid: a group (…@g.us) can receive messages only from a WAHA "
        "sender.",
        422,
        [Problem("to", "a group (…@g.us) can receive messages only from a WAHA sender")],
    )


# Templates Meta knows, and marketing opt-outs


def template(name: str, category: str = "UTILITY") -> dict[str, Any]:
    return {
        "name": name,
        "language": "en_US",
        "status": "APPROVED",
        "category": category,
        "components": [{"type": "BODY", "text": "Hi {{1}}, see you at {{2}}."}],
    }


def template_send(name: str, parameters: int = 2) -> SendMessageRequest:
    body = {"type": "body", "parameters": [{"type": "text", "text": "x"}] * parameters}
    return request(
        type="template",
        template={"name": name, "language": {"code": "en_US"}, "components": [body]},
    )


def with_templates(items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cached = [template("reminder"), template("offer", "MARKETING")]
    return {templates_key(WABA_ID): {"templates": cached}} | items


def test_a_template_send_meta_would_refuse_is_refused_with_every_problem() -> None:
    refused = refusal(
        services(WROTE_AT, with_templates({})), cloud_api_sender(), template_send("reminder", 1)
    )
    assert refused == PostinoError(
        "template_parameter_mismatch",
        "The template cannot be sent as asked: body needs 2 parameters, got 1",
        422,
        [Problem("template.components[0].parameters", "body needs 2 parameters, got 1")],
    )


def test_a_known_template_sent_right_passes() -> None:
    check(services(WROTE_AT, with_templates({})), cloud_api_sender(), template_send("reminder"))


def test_no_marketing_template_to_a_contact_who_opted_out() -> None:
    # GIVEN a contact who stopped marketing messages (and wrote just now)
    inbox = with_templates(wrote_at(WROTE_AT, marketing_opt_out=True))
    # WHEN a marketing template is sent THEN it is refused
    refused = refusal(services(WROTE_AT, inbox), cloud_api_sender(), template_send("offer"))
    assert refused == PostinoError(
        "marketing_opt_out",
        "This contact asked WhatsApp to stop marketing messages; send a utility template "
        "or wait until they resume them.",
        422,
        [Problem("to", "opted out of marketing messages")],
    )
    # AND a utility template still goes
    check(services(WROTE_AT, inbox), cloud_api_sender(), template_send("reminder"))


def test_a_marketing_template_goes_to_a_contact_who_did_not_opt_out() -> None:
    inbox = with_templates(wrote_at(WROTE_AT, marketing_opt_out=False))
    check(services(WROTE_AT, inbox), cloud_api_sender(), template_send("offer"))
    check(services(WROTE_AT, with_templates({})), cloud_api_sender(), template_send("offer"))


# A WAHA sender: text, and media from a link


def test_a_waha_sender_sends_text_to_anyone_and_to_groups() -> None:
    # no window for WhatsApp Web: nobody wrote, and it still goes
    check(services(WROTE_AT), waha_sender(), request())
    check(services(WROTE_AT), waha_sender(), request(to=GROUP))


def test_a_waha_sender_sends_media_from_a_link() -> None:
    asked = request(type="image", image={"link": "https://example.com/boat.jpg"})
    check(services(WROTE_AT), waha_sender(), asked)


def test_a_waha_sender_cannot_send_a_meta_media_id() -> None:
    refused = refusal(
        services(WROTE_AT), waha_sender(), request(type="image", image={"id": "1234"})
    )
    problem = "a WAHA sender sends media from a link; a media id belongs to Meta's Cloud API"
    assert refused == PostinoError(
        "unsupported_by_provider",
        f"The field 'image.link' is not valid: {problem}.",
        422,
        [Problem("image.link", problem)],
    )


def test_a_waha_sender_cannot_send_a_template() -> None:
    refused = refusal(services(WROTE_AT), waha_sender(), template_send("reminder"))
    problem = (
        "a WAHA sender sends text, image, document, audio, video; not 'template' "
        "(that needs the Cloud API)"
    )
    assert refused == PostinoError(
        "unsupported_by_provider",
        f"The field 'type' is not valid: {problem}.",
        422,
        [Problem("type", problem)],
    )
