"""Who hears about a reservation: an override binding, else the operator's default, else nobody."""

from postino.reservations.model import Binding, Operator, Target
from postino.reservations.routing import Route, route

EXPERIENCE_TARGET = Target(to="393330000001")
OPERATOR_TARGET = Target(to="393330000002")


def binding(*, target: Target | None = None, is_override: bool = False) -> Binding:
    return Binding(
        experience_id="boat-tour",
        operator_id="marina",
        target=target,
        is_override=is_override,
        updated_at="2026-01-01T00:00:00Z",
    )


def operator(default_target: Target | None) -> Operator:
    return Operator(
        id="marina", name="Marina", default_target=default_target, updated_at="2026-01-01T00:00:00Z"
    )


def test_an_override_binding_routes_to_its_own_target_for_its_operator() -> None:
    # GIVEN an experience bound to an operator with its own target, marked as the override
    # WHEN a reservation for it is routed
    found = route(binding(target=EXPERIENCE_TARGET, is_override=True), operator(OPERATOR_TARGET))
    # THEN the binding's target hears of it, on behalf of the binding's operator
    assert found == Route("marina", EXPERIENCE_TARGET)


def test_without_an_override_the_operators_default_target_wins() -> None:
    found = route(binding(target=EXPERIENCE_TARGET), operator(OPERATOR_TARGET))
    assert found == Route("marina", OPERATOR_TARGET)


def test_a_binding_whose_operator_is_gone_keeps_the_operator_but_has_no_target() -> None:
    # GIVEN a binding (not an override) whose operator no longer exists
    # WHEN routed
    found = route(binding(target=EXPERIENCE_TARGET), None)
    # THEN the request is flagged for that operator, with nobody to notify
    assert found == Route("marina", None)


def test_an_operator_without_a_default_target_leaves_the_request_unrouted() -> None:
    assert route(binding(), operator(None)) == Route("marina", None)


def test_an_experience_without_a_binding_belongs_to_nobody() -> None:
    assert route(None, operator(OPERATOR_TARGET)) == Route(None, None)
