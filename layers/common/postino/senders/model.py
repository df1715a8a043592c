"""A sender profile and its limits."""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SenderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Limit(BaseModel):
    """At most `max` sends started in any interval of `per_seconds`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max: Annotated[int, Field(ge=1, le=1000)]
    per_seconds: Annotated[int, Field(ge=1, le=86_400)]


# Meta's Cloud API: 80 messages per second per number by default, and one message per
# 6 seconds to the same user (error 131056 beyond that).
CLOUD_API_LIMITS = (Limit(max=80, per_seconds=1),)
CLOUD_API_PAIR_LIMIT = Limit(max=1, per_seconds=6)


class SenderSettings(BaseModel):
    """What a user may set on a sender (the body of PUT /v1/senders/{name})."""

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
    limits: list[Limit] = Field(default_factory=lambda: list(CLOUD_API_LIMITS), max_length=5)
    pair_limit: Limit = CLOUD_API_PAIR_LIMIT
    enforce_service_window: bool = Field(
        default=True,
        description="Refuse free-form messages to contacts who have not written in 24 hours",
    )
    auto_mark_read: bool = Field(
        default=False, description="Send read receipts for inbound messages"
    )

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if not self.limits:
            raise ValueError("a sender needs at least one limit")
        return self


class Sender(SenderSettings):
    """A sender profile as stored: its settings, its name and its pause."""

    name: SenderName
    paused: bool = False
    paused_reason: str | None = None
    # A pause with an end (Meta's spam rate limit) lifts itself; None means until resumed.
    paused_until: float | None = None
    updated_at: float = 0.0

    def is_paused(self, now: float) -> bool:
        return self.paused and (self.paused_until is None or now < self.paused_until)


class LimitWindow(BaseModel):
    max: int
    per_seconds: int
    used: int
    next_slot_at: str


class SenderResource(BaseModel):
    name: str
    provider: str
    phone_number_id: str
    waba_id: str | None
    access_token_secret: str
    limits: list[Limit]
    pair_limit: Limit
    enforce_service_window: bool
    auto_mark_read: bool
    paused: bool
    paused_reason: str | None
    paused_until: str | None
    windows: list[LimitWindow] | None = Field(
        default=None, description="The live rate window of each limit (GET of one sender)"
    )
