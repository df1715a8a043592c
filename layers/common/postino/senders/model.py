"""A sender profile and its limits."""

from functools import cache
from typing import Annotated, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    model_validator,
)

from postino.model import Model

SenderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Limit(Model):
    """At most `max` sends started in any interval of `per_seconds`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max: Annotated[int, Field(ge=1, le=1000)]
    per_seconds: Annotated[int, Field(ge=1, le=86_400)]


# A sender needs at least one limit, and a handful is plenty.
Limits = Annotated[list[Limit], Field(min_length=1, max_length=5)]

# Meta's Cloud API: 80 messages per second per number by default, and one message per
# 6 seconds to the same user (error 131056 beyond that).
CLOUD_API_LIMITS = (Limit(max=80, per_seconds=1),)
CLOUD_API_PAIR_LIMIT = Limit(max=1, per_seconds=6)


class CloudApiSettings(Model):
    """A sender on Meta's Cloud API (the body of PUT /v1/senders/{name})."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["cloud_api"] = "cloud_api"
    phone_number_id: Annotated[str, StringConstraints(pattern=r"^\d{5,20}$")]
    waba_id: Annotated[str, StringConstraints(pattern=r"^\d{5,20}$")] | None = None
    access_token_secret: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            description="Secrets Manager name or ARN of the access token (under the stack's prefix)",
        ),
    ]
    limits: Limits = Field(default_factory=lambda: list(CLOUD_API_LIMITS))
    pair_limit: Limit = CLOUD_API_PAIR_LIMIT
    enforce_service_window: bool = Field(
        default=True,
        description="Refuse free-form messages to contacts who have not written in 24 hours",
    )
    auto_mark_read: bool = Field(
        default=False, description="Send read receipts for inbound messages"
    )


# A number on WhatsApp Web is banned for looking like a bot: these defaults err on its side.
WAHA_LIMITS = (Limit(max=10, per_seconds=3600), Limit(max=50, per_seconds=86_400))
WAHA_PER_CONTACT_LIMIT = Limit(max=4, per_seconds=3600)
# The longest human-like flow (think + typing) a sender may ask for: the drain keeps this much
# time in hand before its function's timeout (drain_margin_seconds), so no flow is cut short.
LONGEST_HUMAN_FLOW_SECONDS = 15.0


class SecondsRange(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: Annotated[float, Field(ge=0, le=3600)]
    max: Annotated[float, Field(ge=0, le=3600)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class HumanLike(Model):
    """How a WAHA sender behaves before each send: read the chat, think, type for a while."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    send_seen: bool = Field(default=True, description="Mark the chat read first (sendSeen)")
    typing: bool = Field(default=True, description="Show 'typing…' before sending")
    typing_chars_per_second: Annotated[float, Field(gt=0, le=1000)] = 12.0
    typing_max_seconds: Annotated[float, Field(ge=0, le=LONGEST_HUMAN_FLOW_SECONDS)] = 8.0
    think_seconds: SecondsRange = SecondsRange(min=2, max=4)

    @model_validator(mode="after")
    def _fits_a_drain(self) -> Self:
        longest = self.think_seconds.max + (self.typing_max_seconds if self.typing else 0)
        if longest > LONGEST_HUMAN_FLOW_SECONDS:
            raise ValueError(
                f"think_seconds.max + typing_max_seconds must be at most "
                f"{LONGEST_HUMAN_FLOW_SECONDS:g} s (a drain must not stop mid-flow)"
            )
        return self


class WahaSettings(Model):
    """A sender on a WAHA server (WhatsApp Web): a phone paired by QR code."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["waha"]
    base_url: Annotated[
        str,
        StringConstraints(pattern=r"^https?://[^\s/]+(/[^\s]*)?$", max_length=2048),
        Field(description="WAHA's base URL, e.g. http://waha.postino.internal:3000"),
    ]
    api_key_secret: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            description="Secrets Manager name or ARN of WAHA's API key (under the stack's prefix)",
        ),
    ]
    session: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "default"
    limits: Limits = Field(default_factory=lambda: list(WAHA_LIMITS))
    per_contact_limit: Limit = WAHA_PER_CONTACT_LIMIT
    gap_seconds: SecondsRange = Field(
        default=SecondsRange(min=30, max=60),
        description="A random pause between two sends of this sender",
    )
    human_like: HumanLike = HumanLike()
    auto_mark_read: bool = Field(
        default=False, description="Mark inbound messages read (sendSeen) as they arrive"
    )


def _provider(value: Any) -> str:
    """The tag of a sender's settings: Cloud API unless it says otherwise (it did before WAHA)."""
    found = value.get("provider") if isinstance(value, dict) else getattr(value, "provider", None)
    return str(found or "cloud_api")


SenderSettings = Annotated[
    Annotated[CloudApiSettings, Tag("cloud_api")] | Annotated[WahaSettings, Tag("waha")],
    Discriminator(_provider),
]


class SenderState(Model):
    """What a stored sender has beyond its settings: its name and its pause."""

    name: SenderName
    paused: bool = False
    paused_reason: str | None = None
    # Why, as a code: `waha_session` pauses lift themselves when the session works again.
    paused_code: str | None = None
    # A pause with an end (Meta's spam rate limit) lifts itself; None means until resumed.
    paused_until: float | None = None
    updated_at: float = 0.0
    # The API key whose call last changed it; Postino's own changes (pauses) leave it.
    updated_by: str | None = None

    def is_paused(self, now: float) -> bool:
        return self.paused and (self.paused_until is None or now < self.paused_until)


class CloudApiSender(CloudApiSettings, SenderState):
    pass


class WahaSender(WahaSettings, SenderState):
    # The session's status as WAHA last told us (its webhooks, or a session call), and when.
    session_status: str | None = None
    session_status_at: float | None = None

    @property
    def pair_limit(self) -> Limit:
        return self.per_contact_limit


Sender = CloudApiSender | WahaSender


@cache
def _sender_adapter() -> TypeAdapter[Sender]:
    """Built on first use, as the models are (postino/model.py)."""
    return TypeAdapter(
        Annotated[
            Annotated[CloudApiSender, Tag("cloud_api")] | Annotated[WahaSender, Tag("waha")],
            Discriminator(_provider),
        ]
    )


def sender_from(data: dict[str, Any]) -> Sender:
    """A stored sender (items written before WAHA existed have no provider: Cloud API)."""
    return _sender_adapter().validate_python(data)


class LimitWindow(Model):
    max: int
    per_seconds: int
    used: int
    next_slot_at: str


class SenderResource(Model):
    """A sender as the API shows it; the fields of the other provider are null."""

    name: str
    provider: str
    limits: list[Limit]
    pair_limit: Limit = Field(description="Per recipient (a WAHA sender's per_contact_limit)")
    auto_mark_read: bool
    paused: bool
    paused_reason: str | None
    paused_until: str | None
    phone_number_id: str | None = None
    waba_id: str | None = None
    access_token_secret: str | None = None
    enforce_service_window: bool | None = None
    base_url: str | None = None
    api_key_secret: str | None = None
    session: str | None = None
    session_status: str | None = None
    gap_seconds: SecondsRange | None = None
    human_like: HumanLike | None = None
    windows: list[LimitWindow] | None = Field(
        default=None, description="The live rate window of each limit (GET of one sender)"
    )
    updated_by: str | None = Field(
        default=None,
        description="The id of the API key whose call last changed this sender (PUT, resume, "
        "a session action); Postino's own changes (a pause, WAHA's session status) leave it",
    )
