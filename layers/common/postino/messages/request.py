"""What a user asks us to send: the body of POST /v1/messages (and of each batch item)."""

import json
from typing import Annotated, Any, Self, get_args

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from postino.messages.content import (
    Interactive,
    Location,
    Media,
    MessageType,
    Reaction,
    Template,
    Text,
    check_media_fields,
)
from postino.messages.phone import normalise_recipient
from postino.model import Model

MAX_METADATA_BYTES = 2048
DEFAULT_VALIDITY_SECONDS = 36_000
MAX_SCHEDULE_AHEAD_SECONDS = 35 * 86_400
SIGNED_LINK = "signed_link"
DEFAULT_LINK_VALID_SECONDS = 30 * 86_400

VariableName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
VariableValue = Annotated[str, StringConstraints(max_length=1024)]


class SignedLinkRequest(Model):
    """A link to the user's own site, signed for the message's recipient (postino.links)."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="The page; its token is added to the query as `pt`")
    valid_seconds: Annotated[int, Field(ge=60, le=366 * 86_400)] = DEFAULT_LINK_VALID_SECONDS


class SendMessageRequest(Model):
    """A message to send: a recipient, a sender profile, and one object of Meta's shape."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "to": "+39 333 123 4567",
                    "type": "text",
                    "text": {"body": "Ciao Giulia, the boat leaves at 9:30 tomorrow."},
                    "reference": "booking-1042",
                }
            ]
        },
    )

    to: Annotated[
        str,
        Field(
            description="E.164 phone number ('+', spaces and dashes tolerated), or a group id "
            "(…@g.us) for a WAHA sender"
        ),
    ]
    sender: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = "default"
    type: MessageType
    text: Text | None = None
    template: Template | None = None
    image: Media | None = None
    document: Media | None = None
    audio: Media | None = None
    video: Media | None = None
    sticker: Media | None = None
    interactive: Interactive | None = None
    location: Location | None = None
    reaction: Reaction | None = None
    send_at: AwareDatetime | None = Field(
        default=None, description="ISO-8601 with a zone; in the past means now; ≤ 35 days ahead"
    )
    reference: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    campaign: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="Groups messages for a report: GET /v1/campaigns/{campaign}"
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Any object, ≤ 2 KB as JSON")
    validity_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] = DEFAULT_VALIDITY_SECONDS
    at_least_once: bool = Field(
        default=False,
        description="Resend when the outcome of a send is unknown (risks a duplicate)",
    )
    variables: dict[VariableName, VariableValue] | None = Field(
        default=None,
        max_length=50,
        description="Fill `{name}` placeholders in the message's texts (`{{` for a literal brace)",
    )
    link: SignedLinkRequest | None = Field(
        default=None, description="Fills `{signed_link}` with this link, signed for the recipient"
    )

    @field_validator("to")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_recipient(value)

    @field_validator("variables")
    @classmethod
    def _link_is_reserved(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and SIGNED_LINK in value:
            raise ValueError(f"'{SIGNED_LINK}' is filled from `link`, not from variables")
        return value

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, ensure_ascii=False).encode()) > (
            MAX_METADATA_BYTES
        ):
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return value

    @model_validator(mode="after")
    def _content_matches_type(self) -> Self:
        given = [name for name in _CONTENT_FIELDS if getattr(self, name) is not None]
        if self.type not in given:
            raise ValueError(f"a message of type '{self.type}' needs the object '{self.type}'")
        others = [name for name in given if name != self.type]
        if others:
            raise ValueError(f"a '{self.type}' message cannot also carry {', '.join(others)}")
        content = self.content
        if isinstance(content, Media):
            check_media_fields(self.type, content)
        return self

    @property
    def content(self) -> BaseModel:
        content: BaseModel = getattr(self, self.type)
        return content

    def send_at_epoch(self, now: float) -> float | None:
        """When to send, or None for now. Raises ValueError when too far ahead."""
        if self.send_at is None:
            return None
        at = self.send_at.timestamp()
        if at > now + MAX_SCHEDULE_AHEAD_SECONDS:
            raise ValueError("must be at most 35 days ahead")
        return at if at > now else None


# One object per message type, named like it.
_CONTENT_FIELDS: tuple[str, ...] = get_args(MessageType)
