"""/v1/reservations: the requests customers made with a code, and their status.

Their routing (codes, operators, bindings) is in routing_routes.py."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from caller import api_key_id
from openapi_errors import BODY_ERRORS, OK, error_responses

from postino.model import Model
from postino.reservations import service
from postino.reservations.model import Reservation, ReservationStatus, StatusChange
from postino.services import get_services

router = Router()

ERRORS = BODY_ERRORS | error_responses(_404="Not found")
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
    responses=OK | ERRORS | error_responses(_409="Not allowed from its status"),
    tags=["reservations"],
    operation_id="changeReservationStatus",
)
def change_status(
    reservation_id: ReservationId, body: Annotated[StatusChange, Body()]
) -> Reservation:
    return service.change_status(
        get_services(), reservation_id, body.status, api_key_id=api_key_id(router)
    )
