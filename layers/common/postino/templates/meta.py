"""Reading a WABA's templates from Meta's Graph API (GET /{waba-id}/message_templates)."""

from functools import cache

import httpx

from postino.templates.model import Template

FIELDS = "name,language,status,category,components,id"
MAX_PAGES = 20


@cache
def http_client() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


class TemplateFetchError(Exception):
    """Meta did not give us the list; the message says why, never with the token."""


def fetch_templates(
    http: httpx.Client, base_url: str, version: str, waba_id: str, token: str
) -> list[Template]:
    url: str | None = f"{base_url.rstrip('/')}/{version}/{waba_id}/message_templates"
    params: dict[str, str] | None = {"fields": FIELDS, "limit": "100"}
    templates: list[Template] = []
    for _ in range(MAX_PAGES):
        if url is None:
            break
        try:
            response = http.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError as error:
            raise TemplateFetchError(
                f"Meta could not be reached ({type(error).__name__})"
            ) from None
        if not response.is_success:
            reason = _reason(response).replace(token, "***")  # Meta may quote a bad token
            raise TemplateFetchError(f"Meta answered {response.status_code}: {reason}")
        page = response.json()
        templates += [Template.model_validate(t) for t in page.get("data", [])]
        url, params = page.get("paging", {}).get("next"), None  # `next` carries its own query
    return templates


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return "no readable error"
