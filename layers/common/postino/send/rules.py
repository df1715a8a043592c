"""Each provider's rules, checked at the door so that a message the peer would refuse never queues.

For a WAHA sender: text and media by link only (no templates, buttons or Meta media ids), and
recipients may be groups. For a Cloud API sender, Meta's conversation rules:

- Free-form messages (anything but a template) only inside the 24-hour customer-service window,
  which the contact's last inbound message opens (unless the sender turns the check off).
- No marketing template to a contact who stopped marketing messages.
- A template Meta knows (from the cached list) must exist in that language, be APPROVED, and
  get the number of parameters each component needs (Meta's errors 132000 and 132001).
"""

from typing import Any

from postino.errors import PostinoError, Problem, invalid
from postino.messages.phone import is_group
from postino.messages.request import SendMessageRequest
from postino.providers.waha_terms import ENDPOINTS
from postino.senders.model import CloudApiSender, Sender
from postino.services import Services
from postino.store.inbox import contact_key
from postino.templates.catalog import cached_templates
from postino.templates.check import check_template_message, is_marketing

SERVICE_WINDOW_SECONDS = 24 * 3600


def check_conversation_rules(
    services: Services, sender: Sender, request: SendMessageRequest, content: dict[str, Any]
) -> None:
    if not isinstance(sender, CloudApiSender):
        _waha_can_send(request, content)
        return
    if is_group(request.to):
        raise invalid(
            "to",
            "a group (…@g.us) can receive messages only from a WAHA sender",
            code="group_needs_waha",
        )
    now = services.clock.now()
    if request.type != "template":
        if sender.enforce_service_window:
            _inside_window(services, sender, request.to, now)
        return
    known = cached_templates(services, sender)
    if not known:
        return  # nothing cached to check against: Meta's own answer will tell
    problems = check_template_message(content, known)
    if problems:
        first = problems[0]
        raise PostinoError(
            first.code,
            f"The template cannot be sent as asked: {first.problem}",
            422,
            [Problem(p.field, p.problem) for p in problems],
        )
    if is_marketing(content, known):
        contact = services.inbox.get(contact_key(sender.name, request.to))
        if contact and contact.get("marketing_opt_out"):
            raise PostinoError(
                "marketing_opt_out",
                "This contact asked WhatsApp to stop marketing messages; send a utility template "
                "or wait until they resume them.",
                422,
                [Problem("to", "opted out of marketing messages")],
            )


def _waha_can_send(request: SendMessageRequest, content: dict[str, Any]) -> None:
    if request.type not in ENDPOINTS:
        raise invalid(
            "type",
            f"a WAHA sender sends {', '.join(ENDPOINTS)}; not '{request.type}' (that needs the "
            "Cloud API)",
            code="unsupported_by_provider",
        )
    if request.type != "text" and not content.get("link"):
        raise invalid(
            f"{request.type}.link",
            "a WAHA sender sends media from a link; a media id belongs to Meta's Cloud API",
            code="unsupported_by_provider",
        )


def _inside_window(services: Services, sender: CloudApiSender, to: str, now: float) -> None:
    contact = services.inbox.get(contact_key(sender.name, to))
    last = float(contact.get("last_inbound_at") or 0) if contact else 0.0
    if now - last <= SERVICE_WINDOW_SECONDS:
        return
    raise PostinoError(
        "outside_customer_service_window",
        "This contact has not written to this sender in the last 24 hours, so WhatsApp only "
        "accepts a template message; send an approved template instead.",
        422,
        [Problem("type", "free-form messages need an open 24-hour window; use a template")],
    )
