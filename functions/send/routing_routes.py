"""The routing of reservation requests, as the user sets it up: reservation codes (each names an
experience), operators (who gets a request), and bindings (an experience's operator)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from caller import api_key_id
from openapi_errors import BODY_ERRORS, OK, error_responses

from postino.model import Model
from postino.reservations import routing_data
from postino.reservations.model import (
    Binding,
    BindingSettings,
    CodeRegistration,
    CodeSettings,
    Identifier,
    Operator,
    OperatorSettings,
)
from postino.services import get_services

router = Router()

ERRORS = BODY_ERRORS | error_responses(_404="Not found")
# A WAHA group target is checked against the sender's groups, which may mean asking WAHA.
TARGET_ERRORS = ERRORS | error_responses(
    _409="The target's WAHA session is not working",
    _502="WAHA refused the call (its answer is in the message)",
    _503="WAHA did not answer",
)
IN_USE_ERRORS = ERRORS | error_responses(_409="An experience is bound to the operator")
Code = Annotated[str, Path(description="A reservation code, e.g. RES-AB12CD", max_length=64)]
OperatorId = Annotated[Identifier, Path(description="Your id for the operator")]
ExperienceId = Annotated[Identifier, Path(description="Your id for the experience")]


class CodeList(Model):
    items: list[CodeRegistration]


class OperatorList(Model):
    items: list[Operator]


class BindingList(Model):
    items: list[Binding]


@router.get(
    "/v1/reservation-codes",
    summary="Every registered reservation code, in order",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="listReservationCodes",
)
def codes() -> CodeList:
    return CodeList(items=routing_data.list_codes(get_services()))


@router.delete(
    "/v1/reservation-codes/<code>",
    summary="Remove a reservation code",
    description="A request that later quotes it is still recorded, unmatched and unrouted.",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="deleteReservationCode",
)
def remove_code(code: Code) -> CodeRegistration:
    """Answers with the code as it was."""
    return routing_data.delete_code(get_services(), code, api_key_id=api_key_id(router))


@router.get(
    "/v1/operators",
    summary="Every operator, in order of their ids",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="listOperators",
)
def operators() -> OperatorList:
    return OperatorList(items=routing_data.list_operators(get_services()))


@router.delete(
    "/v1/operators/<operator_id>",
    summary="Remove an operator no experience is bound to",
    responses=OK | IN_USE_ERRORS,
    tags=["reservations"],
    operation_id="deleteOperator",
)
def remove_operator(operator_id: OperatorId) -> Operator:
    """Answers with the operator as it was."""
    return routing_data.delete_operator(get_services(), operator_id, api_key_id=api_key_id(router))


@router.get(
    "/v1/bindings",
    summary="Every experience's binding, in order of the experiences' ids",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="listBindings",
)
def bindings() -> BindingList:
    return BindingList(items=routing_data.list_bindings(get_services()))


@router.put(
    "/v1/reservation-codes/<code>",
    summary="Register a reservation code for an experience",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="putReservationCode",
)
def write_code(code: Code, body: Annotated[CodeSettings, Body()]) -> CodeRegistration:
    return routing_data.put_code(get_services(), code, body, api_key_id=api_key_id(router))


@router.get(
    "/v1/reservation-codes/<code>",
    summary="A registered reservation code",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="getReservationCode",
)
def read_code(code: Code) -> CodeRegistration:
    return routing_data.get_code(get_services(), code)


@router.put(
    "/v1/operators/<operator_id>",
    summary="Create or replace an operator",
    responses=OK | TARGET_ERRORS,
    tags=["reservations"],
    operation_id="putOperator",
)
def write_operator(operator_id: OperatorId, body: Annotated[OperatorSettings, Body()]) -> Operator:
    return routing_data.put_operator(
        get_services(), operator_id, body, api_key_id=api_key_id(router)
    )


@router.get(
    "/v1/operators/<operator_id>",
    summary="An operator",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="getOperator",
)
def read_operator(operator_id: OperatorId) -> Operator:
    return routing_data.get_operator(get_services(), operator_id)


@router.put(
    "/v1/experiences/<experience_id>/binding",
    summary="Bind an experience to an operator",
    description="With is_override, the binding's target wins over the operator's default.",
    responses=OK | TARGET_ERRORS,
    tags=["reservations"],
    operation_id="putBinding",
)
def write_binding(experience_id: ExperienceId, body: Annotated[BindingSettings, Body()]) -> Binding:
    return routing_data.put_binding(
        get_services(), experience_id, body, api_key_id=api_key_id(router)
    )


@router.get(
    "/v1/experiences/<experience_id>/binding",
    summary="An experience's binding",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="getBinding",
)
def read_binding(experience_id: ExperienceId) -> Binding:
    return routing_data.get_binding(get_services(), experience_id)


@router.delete(
    "/v1/experiences/<experience_id>/binding",
    summary="Remove an experience's binding",
    responses=OK | ERRORS,
    tags=["reservations"],
    operation_id="deleteBinding",
)
def remove_binding(experience_id: ExperienceId) -> Binding:
    """Answers with the binding as it was."""
    return routing_data.delete_binding(get_services(), experience_id, api_key_id=api_key_id(router))
