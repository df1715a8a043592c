"""Who hears about a reservation request: the seed's rule, made general.

An experience's own binding with is_override wins; else the operator's default target; else
nobody (the request still exists, flagged unrouted). A binding's target without is_override is
kept but not used: the operator's own choice comes first.
"""

from dataclasses import dataclass

from postino.reservations.model import Binding, Operator, Target


@dataclass(frozen=True)
class Route:
    operator_id: str | None
    target: Target | None


def route(binding: Binding | None, operator: Operator | None) -> Route:
    if binding is None:
        return Route(None, None)
    if binding.is_override and binding.target is not None:
        return Route(binding.operator_id, binding.target)
    if operator is not None and operator.default_target is not None:
        return Route(binding.operator_id, operator.default_target)
    return Route(binding.operator_id, None)
