"""/v1/reservations and their routing: codes, operators, experience bindings."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from caller import api_key_id
from openapi_errors import OK, error_responses

from postino.model import Model
from postino.reservations import service
from postino.reservations.model import (
    Binding,
    BindingSettings,
    CodeRegistration,
    CodeSettings,
    Identifier,
    Operator,
    OperatorSettings,
    Reservation,
    ReservationStatus,
    StatusChange,
)
from postino.services import get_services

router = Router()

ERRORS = error_responses(
    _400="Malformed JSON",
    _404="Not found",
    _413="Body too large",
    _415="The body is not JSON",
    _422="A field is invalid",
)
# A WAHA group target is checked against the sender's groups, which may mean asking WAHA.
TARGET_ERRORS = ERRORS | error_responses(
    _409="The target's WAHA session is not working",
    _502="WAHA refused the call (its answer is in the message)",
    _503="WAHA did not answer",
)
Code = Annotated[str, Path(description="A reservation code, e.g. RES-AB12CD", max_length=64)]
OperatorId = Annotated[Identifier, Path(description="Your id for the operator")]
ExperienceId = Annotated[Identifier, Path(description="Your id for the experience")]
ReservationId = Annotated[str, Path(description="The reservation request's id", max_length=64)]


class ReservationList(Model):
    items: list[Reservation]


@router.get(
    "/v1/reservations",
    summary="Reservation requests, newest first",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="listReservations",
)
def list_reservations(
    status: Annotated[ReservationStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ReservationList:
    return ReservationList(items=service.list_reservations(get_services(), status, limit))


@router.get(
    "/v1/reservations/<reservation_id>",
    summary="A reservation request",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="getReservation",
)
def read_reservation(reservation_id: ReservationId) -> Reservation:
    return service.get_reservation(get_services(), reservation_id)


@router.post(
    "/v1/reservations/<reservation_id>/status",
    summary="Acknowledge, confirm or reject a reservation request",
    description="new/notified → acknowledged → confirmed or rejected; anything else is a 409.",
    responses=OK
    | error_responses(
        _400="Malformed JSON",
        _404="Not found",
        _409="Not allowed from its status",
        _413="Body too large",
        _415="The body is not JSON",
        _422="Invalid",
    ),
    tags=["reservations"],
    operation_id="changeReservationStatus",
)
def change_status(
    reservation_id: ReservationId, body: Annotated[StatusChange, Body()]
) -> Reservation:
    return service.change_status(
        get_services(), reservation_id, body.status, api_key_id=api_key_id(router)
    )


@router.put(
    "/v1/reservation-codes/<code>",
    summary="Register a reservation code for an experience",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="putReservationCode",
)
def write_code(code: Code, body: Annotated[CodeSettings, Body()]) -> CodeRegistration:
    return service.put_code(get_services(), code, body, api_key_id=api_key_id(router))


@router.get(
    "/v1/reservation-codes/<code>",
    summary="A registered reservation code",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="getReservationCode",
)
def read_code(code: Code) -> CodeRegistration:
    return service.get_code(get_services(), code)


@router.put(
    "/v1/operators/<operator_id>",
    summary="Create or replace an operator",
    responses=OK | TARGET_ERRORS,
    tags=["reservations"],
    operation_id="putOperator",
)
def write_operator(operator_id: OperatorId, body: Annotated[OperatorSettings, Body()]) -> Operator:
    return service.put_operator(get_services(), operator_id, body, api_key_id=api_key_id(router))


@router.get(
    "/v1/operators/<operator_id>",
    summary="An operator",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="getOperator",
)
def read_operator(operator_id: OperatorId) -> Operator:
    return service.get_operator(get_services(), operator_id)


@router.put(
    "/v1/experiences/<experience_id>/binding",
    summary="Bind an experience to an operator",
    description="With is_override, the binding's target wins over the operator's default.",
    responses=OK | TARGET_ERRORS,
    tags=["reservations"],
    operation_id="putBinding",
)
def write_binding(experience_id: ExperienceId, body: Annotated[BindingSettings, Body()]) -> Binding:
    return service.put_binding(get_services(), experience_id, body, api_key_id=api_key_id(router))


@router.get(
    "/v1/experiences/<experience_id>/binding",
    summary="An experience's binding",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="getBinding",
)
def read_binding(experience_id: ExperienceId) -> Binding:
    return service.get_binding(get_services(), experience_id)


@router.delete(
    "/v1/experiences/<experience_id>/binding",
    summary="Remove an experience's binding",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="deleteBinding",
)
def remove_binding(experience_id: ExperienceId) -> Binding:
    """Answers with the binding as it was."""
    return service.delete_binding(get_services(), experience_id, api_key_id=api_key_id(router))
