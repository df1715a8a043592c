"""Reservation requests, the code registry, operators and experience bindings."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from postino.model import Model
from postino.senders.model import SenderName

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
UPDATED_BY = "The id of the API key whose call last changed it (none: no call has)"


class ReservationStatus(StrEnum):
    NEW = "new"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


# What an operator may do next (POST /v1/reservations/{id}/status); anything else is a 409.
TRANSITIONS: dict[ReservationStatus, tuple[ReservationStatus, ...]] = {
    ReservationStatus.NEW: (
        ReservationStatus.ACKNOWLEDGED,
        ReservationStatus.CONFIRMED,
        ReservationStatus.REJECTED,
    ),
    ReservationStatus.NOTIFIED: (
        ReservationStatus.ACKNOWLEDGED,
        ReservationStatus.CONFIRMED,
        ReservationStatus.REJECTED,
    ),
    ReservationStatus.ACKNOWLEDGED: (ReservationStatus.CONFIRMED, ReservationStatus.REJECTED),
    ReservationStatus.CONFIRMED: (),
    ReservationStatus.REJECTED: (),
}


class Target(Model):
    """Where a notification goes: a sender and a phone number (or, for WAHA senders, a group)."""

    model_config = ConfigDict(extra="forbid")

    sender: SenderName = "default"
    to: Annotated[str, StringConstraints(min_length=3, max_length=128)]


class OperatorSettings(Model):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    default_target: Target | None = None


class Operator(OperatorSettings):
    model_config = ConfigDict(extra="ignore")  # as stored: with the table's own keys

    id: Identifier
    updated_at: str
    updated_by: str | None = Field(default=None, description=UPDATED_BY)


class BindingSettings(Model):
    model_config = ConfigDict(extra="forbid")

    operator_id: Identifier
    target: Target | None = None
    is_override: bool = False


class Binding(BindingSettings):
    model_config = ConfigDict(extra="ignore")  # as stored: with the table's own keys

    experience_id: Identifier
    updated_at: str
    updated_by: str | None = Field(default=None, description=UPDATED_BY)


class CodeSettings(Model):
    model_config = ConfigDict(extra="forbid")

    experience_id: Identifier
    details: dict[str, Any] | None = Field(default=None, description="Anything your system needs")


class CodeRegistration(CodeSettings):
    model_config = ConfigDict(extra="ignore")  # as stored: with the table's own keys

    code: str
    updated_at: str
    updated_by: str | None = Field(default=None, description=UPDATED_BY)


class Reservation(Model):
    id: str
    code: str
    from_: str = Field(alias="from", serialization_alias="from")
    profile_name: str | None = None
    text: str | None = None
    sender: str
    inbound_message_id: str
    experience_id: str | None = None
    operator_id: str | None = None
    target: Target | None = None
    matched: bool = False
    routed: bool = False
    notification_message_id: str | None = None
    notification_error: str | None = None
    announced_at: str | None = None
    status: ReservationStatus = ReservationStatus.NEW
    created_at: str
    updated_at: str
    updated_by: str | None = Field(default=None, description=UPDATED_BY)

    model_config = ConfigDict(populate_by_name=True)


class StatusChange(Model):
    model_config = ConfigDict(extra="forbid")

    status: ReservationStatus
