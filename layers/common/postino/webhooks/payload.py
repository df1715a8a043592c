"""Meta's webhook notification, as far as Postino reads it.

Every model allows unknown fields (Meta adds them without notice) and no field we do not use is
required, so a new kind of message or change is stored or skipped, never a crash.
"""

from typing import Any

from pydantic import ConfigDict, Field

from postino.model import Model

Open = ConfigDict(extra="allow")


class Metadata(Model):
    model_config = Open
    display_phone_number: str | None = None
    phone_number_id: str | None = None


class Profile(Model):
    model_config = Open
    name: str | None = None


class Contact(Model):
    model_config = Open
    wa_id: str | None = None
    user_id: str | None = None
    profile: Profile | None = None


class WebhookError(Model):
    model_config = Open
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: dict[str, Any] | None = None
    href: str | None = None


class StatusUpdate(Model):
    model_config = Open
    id: str
    status: str
    timestamp: str
    recipient_id: str | None = None
    biz_opaque_callback_data: str | None = None
    conversation: dict[str, Any] | None = None
    pricing: dict[str, Any] | None = None
    errors: list[WebhookError] = Field(default_factory=list)


class InboundMessage(Model):
    model_config = Open
    id: str
    from_: str = Field(alias="from")
    timestamp: str
    type: str = "unsupported"
    context: dict[str, Any] | None = None
    errors: list[WebhookError] = Field(default_factory=list)

    def part(self, name: str) -> dict[str, Any]:
        """The object named like the type (text, image, button, ...), {} when absent."""
        value = (self.model_extra or {}).get(name)
        return value if isinstance(value, dict) else {}


class Value(Model):
    model_config = Open
    metadata: Metadata | None = None
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[InboundMessage] = Field(default_factory=list)
    statuses: list[StatusUpdate] = Field(default_factory=list)
    errors: list[WebhookError] = Field(default_factory=list)


class Change(Model):
    model_config = Open
    field: str
    value: dict[str, Any] = Field(default_factory=dict)


class Entry(Model):
    model_config = Open
    id: str
    changes: list[Change] = Field(default_factory=list)


class Notification(Model):
    model_config = Open
    object: str
    entry: list[Entry] = Field(default_factory=list)


def epoch(timestamp: str | int | float | None, default: float) -> float:
    """Meta's timestamps are epoch seconds as strings; a bad one falls back to `default`."""
    try:
        return float(timestamp) if timestamp is not None else default
    except ValueError:
        return default
