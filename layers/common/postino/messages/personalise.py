"""Per-recipient variables: `{name}` in a message's texts, filled before it is validated and stored.

Filled: the text's body, a media caption, template parameters' text, an interactive message's
texts. `{{` and `}}` stand for literal braces. `{signed_link}` is the message's `link`, signed
for its recipient (postino.links). A message without variables or link is left as it is, braces
and all.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from postino.errors import invalid
from postino.messages.request import SIGNED_LINK, SendMessageRequest

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z][a-z0-9_]{0,31})\}")
FILLED_KEYS = frozenset({"body", "caption", "text"})


def personalise(
    request: SendMessageRequest, signed_link: Callable[[SendMessageRequest], str]
) -> SendMessageRequest:
    """The request with its placeholders filled; `signed_link` makes the link when it is used."""
    if request.variables is None and request.link is None:
        return request
    values: dict[str, str] = dict(request.variables or {})
    content = request.content.model_dump(mode="json", exclude_none=True)
    used: set[str] = set()
    if request.link is not None:
        values[SIGNED_LINK] = signed_link(request)
    filled = _fill(content, values, used)
    if request.link is not None and SIGNED_LINK not in used:
        raise invalid("link", "the message has a link but no {signed_link} placeholder to put it")
    fields = request.model_dump(mode="json", exclude_none=True, exclude={"variables", "link"})
    try:
        return SendMessageRequest.model_validate({**fields, request.type: filled})
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise invalid(
            where, f"once its placeholders are filled, {problem['msg'].lower()}"
        ) from None


def _fill(value: Any, values: Mapping[str, str], used: set[str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values, used, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(item, values, used, key) for item in value]
    if isinstance(value, str) and key in FILLED_KEYS:
        return PLACEHOLDER.sub(lambda match: _value(match, values, used), value)
    return value


def _value(match: re.Match[str], values: Mapping[str, str], used: set[str]) -> str:
    name = match.group(1)
    if name is None:
        return match.group(0)[0]  # {{ or }}: a literal brace
    if name not in values:
        raise invalid("variables", f"no value for the placeholder {{{name}}}", "missing_variable")
    used.add(name)
    return values[name]
