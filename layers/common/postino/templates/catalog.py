"""A WABA's templates, cached in the inbox table: read at each template send, refreshed on demand
(GET /v1/templates?refresh=true) and kept current by Meta's template status webhooks."""

from postino import aws
from postino.errors import PostinoError, invalid
from postino.senders.model import CloudApiSender, Sender
from postino.services import Services
from postino.store.inbox import templates_key
from postino.templates.model import Template


def cached_templates(services: Services, sender: CloudApiSender) -> list[Template]:
    """What the cache holds for the sender's WABA; [] when nothing was fetched yet."""
    if not sender.waba_id:
        return []
    cached = services.inbox.get(templates_key(sender.waba_id))
    return [Template.model_validate(t) for t in (cached or {}).get("templates", [])]


def templates_for(services: Services, sender: Sender, *, refresh: bool) -> list[Template]:
    if not isinstance(sender, CloudApiSender):
        raise invalid(
            "sender",
            f"the sender '{sender.name}' uses WAHA, which has no templates",
            code="unsupported_by_provider",
        )
    if not sender.waba_id:
        raise invalid(
            "sender", f"the sender '{sender.name}' has no waba_id", code="sender_without_waba"
        )
    cached = None if refresh else services.inbox.get(templates_key(sender.waba_id))
    if cached is not None:
        return [Template.model_validate(t) for t in cached.get("templates", [])]
    # Only a refresh calls Meta: the module with httpx loads then, not for each template send.
    from postino.templates.meta import TemplateFetchError, fetch_templates, http_client

    settings = services.settings
    token: str = aws.secret(sender.access_token_secret, max_age=300)
    try:
        templates = fetch_templates(
            http_client(),
            settings.graph_api_base_url,
            settings.graph_api_version,
            sender.waba_id,
            token,
        )
    except TemplateFetchError as error:
        raise PostinoError(
            "templates_unavailable", f"The templates could not be read: {error}", 502
        ) from None
    services.inbox.put(
        templates_key(sender.waba_id),
        {
            "templates": [t.model_dump(mode="json") for t in templates],
            "fetched_at": services.clock.now(),
        },
    )
    return templates
