"""Message content in Meta's Cloud API shape, checked against Meta's limits before we queue it.

Each model mirrors the object of the same name in Meta's `sendMessage` request, so what we
store is exactly what we send. Limits are Meta's documented ones; a message Meta would
refuse for its shape is refused here, at the edge, with a 422.
"""

from typing import Annotated, Any, Literal, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from postino.model import Model

MessageType = Literal[
    "text",
    "template",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "interactive",
    "location",
    "reaction",
]
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class MetaShape(Model):
    """Meta refuses unknown fields, so do we: a typo fails here, not at 3 a.m. in the drain."""

    model_config = ConfigDict(extra="forbid")


class Text(MetaShape):
    body: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    preview_url: bool = False


class Media(MetaShape):
    """image, document, audio, video, sticker: exactly one of a public https link or a media id."""

    link: AnyHttpUrl | None = None
    id: NonEmpty | None = None
    caption: Annotated[str, StringConstraints(max_length=1024)] | None = None
    filename: Annotated[str, StringConstraints(min_length=1, max_length=240)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.link is None) == (self.id is None):
            raise ValueError("give exactly one of 'link' (an https URL) or 'id' (a media id)")
        if self.link is not None and self.link.scheme != "https":
            raise ValueError("'link' must be an https URL: Meta fetches media over HTTPS only")
        return self


class TemplateLanguage(MetaShape):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")]
    policy: Literal["deterministic"] | None = None


class TemplateParameter(Model):
    """One parameter of a template component; Meta has many kinds, so unknown keys pass through."""

    model_config = ConfigDict(extra="allow")

    type: Literal[
        "text",
        "currency",
        "date_time",
        "image",
        "document",
        "video",
        "location",
        "payload",
        "action",
        "coupon_code",
        "limited_time_offer",
        "order_status",
        "product",
        "tap_target_configuration",
    ]
    text: Annotated[str, StringConstraints(min_length=1, max_length=32768)] | None = None
    parameter_name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")] | None = None

    @model_validator(mode="after")
    def _text_has_text(self) -> Self:
        if self.type == "text" and self.text is None:
            raise ValueError("a parameter of type 'text' needs 'text'")
        return self


class TemplateComponent(Model):
    model_config = ConfigDict(extra="allow")

    type: Literal["header", "body", "button", "carousel", "limited_time_offer", "order_status"]
    sub_type: (
        Literal["quick_reply", "url", "copy_code", "flow", "catalog", "mpm", "voice_call"] | None
    ) = None
    index: Annotated[int, Field(ge=0, le=9)] | None = None
    parameters: list[TemplateParameter] = Field(default_factory=list, max_length=100)

    @field_validator("index", mode="before")
    @classmethod
    def _index_as_number(cls, value: Any) -> Any:
        # Meta takes the button index as a string ("0") or a number; we store a number.
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @model_validator(mode="after")
    def _buttons_are_addressed(self) -> Self:
        if self.type == "button" and (self.sub_type is None or self.index is None):
            raise ValueError("a 'button' component needs 'sub_type' and 'index'")
        return self


class Template(MetaShape):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]
    language: TemplateLanguage
    components: list[TemplateComponent] | None = Field(default=None, max_length=20)


class InteractiveText(MetaShape):
    text: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class InteractiveFooter(MetaShape):
    text: Annotated[str, StringConstraints(min_length=1, max_length=60)]


class InteractiveHeader(MetaShape):
    type: Literal["text", "image", "video", "document"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    image: Media | None = None
    video: Media | None = None
    document: Media | None = None

    @model_validator(mode="after")
    def _matches_type(self) -> Self:
        if getattr(self, self.type) is None:
            raise ValueError(f"a header of type '{self.type}' needs '{self.type}'")
        return self


class ReplyButtonReply(MetaShape):
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class ReplyButton(MetaShape):
    type: Literal["reply"] = "reply"
    reply: ReplyButtonReply


class ListRow(MetaShape):
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=24)]
    description: Annotated[str, StringConstraints(max_length=72)] | None = None


class ListSection(MetaShape):
    title: Annotated[str, StringConstraints(max_length=24)] | None = None
    rows: list[ListRow] = Field(min_length=1, max_length=10)


class InteractiveAction(Model):
    """The action of button, list and cta_url messages is checked; other kinds pass through."""

    model_config = ConfigDict(extra="allow")

    buttons: list[ReplyButton] | None = Field(default=None, min_length=1, max_length=3)
    button: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    sections: list[ListSection] | None = Field(default=None, min_length=1, max_length=10)


class Interactive(MetaShape):
    type: Literal[
        "button",
        "list",
        "cta_url",
        "product",
        "product_list",
        "catalog_message",
        "flow",
        "location_request_message",
        "voice_call",
    ]
    header: InteractiveHeader | None = None
    body: InteractiveText | None = None
    footer: InteractiveFooter | None = None
    action: InteractiveAction

    @model_validator(mode="after")
    def _action_fits_type(self) -> Self:
        if self.type in ("button", "list", "cta_url") and self.body is None:
            raise ValueError(f"an interactive '{self.type}' message needs a 'body'")
        if self.type == "button" and not self.action.buttons:
            raise ValueError("an interactive 'button' message needs 1 to 3 'action.buttons'")
        if self.type == "list":
            if not self.action.sections or not self.action.button:
                raise ValueError(
                    "an interactive 'list' needs 'action.button' and 'action.sections'"
                )
            if sum(len(section.rows) for section in self.action.sections) > 10:
                raise ValueError("an interactive 'list' holds at most 10 rows in all")
        return self


class Location(MetaShape):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    name: Annotated[str, StringConstraints(max_length=1000)] | None = None
    address: Annotated[str, StringConstraints(max_length=1000)] | None = None


class Reaction(MetaShape):
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    # An empty emoji removes an earlier reaction, as Meta defines it.
    emoji: Annotated[str, StringConstraints(max_length=16)]


CONTENT_MODELS: dict[str, type[BaseModel]] = {
    "text": Text,
    "template": Template,
    "interactive": Interactive,
    "location": Location,
    "reaction": Reaction,
    **dict.fromkeys(MEDIA_TYPES, Media),
}


def check_media_fields(message_type: str, media: Media) -> None:
    """Meta takes a caption on image, video and document only, and a filename on documents only."""
    if media.caption is not None and message_type not in ("image", "video", "document"):
        raise ValueError(f"a {message_type} takes no 'caption'")
    if media.filename is not None and message_type != "document":
        raise ValueError(f"a {message_type} takes no 'filename'; only a document has one")


def to_meta(content: BaseModel) -> dict[str, Any]:
    """The content as Meta's request wants it: no nulls, URLs as strings."""
    return content.model_dump(mode="json", exclude_none=True)
