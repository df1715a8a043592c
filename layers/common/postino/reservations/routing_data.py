"""The user's routing data: reservation codes, operators and experience bindings (each an
item of the inbox table, listed by kind), as the API reads and writes them. What a reservation
does with them is postino/reservations/service.py's."""

from typing import Any

from postino.clock import iso
from postino.errors import PostinoError, invalid, not_found
from postino.observability import logger
from postino.reservations.detect import find_codes
from postino.reservations.model import (
    Binding,
    BindingSettings,
    CodeRegistration,
    CodeSettings,
    Operator,
    OperatorSettings,
    Target,
)
from postino.senders.chats import in_group
from postino.senders.model import WahaSender
from postino.services import Services
from postino.store.inbox import binding_key, code_key, operator_key


def put_code(
    services: Services, code: str, settings: CodeSettings, *, api_key_id: str | None
) -> CodeRegistration:
    normalised = normalise_code(services, code)
    registration = CodeRegistration(
        code=normalised,
        updated_at=iso(services.clock.now()),
        updated_by=api_key_id,
        **settings.model_dump(),
    )
    services.inbox.put_listed(
        code_key(normalised), "code", normalised, registration.model_dump(mode="json")
    )
    return registration


def get_code(services: Services, code: str) -> CodeRegistration:
    key = code_key(normalise_code(services, code))
    return CodeRegistration.model_validate(stored(services, key, "reservation_code"))


def normalise_code(services: Services, code: str) -> str:
    """A code as detection finds it: the whole text must match the pattern, upper-cased."""
    found = find_codes([code], services.settings.reservation_code_pattern)
    if found != [code.upper()]:
        raise invalid("code", "not a reservation code (like RES-AB12CD)", code="invalid_code")
    return found[0]


def put_operator(
    services: Services, operator_id: str, settings: OperatorSettings, *, api_key_id: str | None
) -> Operator:
    check_group_target(services, "default_target", settings.default_target)
    operator = Operator(
        id=operator_id,
        updated_at=iso(services.clock.now()),
        updated_by=api_key_id,
        **settings.model_dump(),
    )
    services.inbox.put_listed(
        operator_key(operator_id), "operator", operator_id, operator.model_dump(mode="json")
    )
    return operator


def get_operator(services: Services, operator_id: str) -> Operator:
    return Operator.model_validate(stored(services, operator_key(operator_id), "operator"))


def put_binding(
    services: Services, experience_id: str, settings: BindingSettings, *, api_key_id: str | None
) -> Binding:
    if services.inbox.get(operator_key(settings.operator_id)) is None:
        raise invalid(
            "operator_id", f"no operator '{settings.operator_id}'", code="unknown_operator"
        )
    if settings.is_override and settings.target is None:
        raise invalid("target", "an override needs a target")
    check_group_target(services, "target", settings.target)
    binding = Binding(
        experience_id=experience_id,
        updated_at=iso(services.clock.now()),
        updated_by=api_key_id,
        **settings.model_dump(),
    )
    services.inbox.put_listed(
        binding_key(experience_id), "binding", experience_id, binding.model_dump(mode="json")
    )
    return binding


def check_group_target(services: Services, field: str, target: Target | None) -> None:
    """A WAHA sender's group target must be a group its phone is in: refused when it is set,
    not found out at the first reservation. Other targets are checked when a message goes."""
    if target is None or not target.to.endswith("@g.us"):
        return
    sender = services.senders.get(target.sender)
    if not isinstance(sender, WahaSender) or in_group(services, sender, target.to):
        return
    raise invalid(
        f"{field}.to",
        f"the sender '{sender.name}' is in no WhatsApp group '{target.to}' "
        f"(GET /v1/senders/{sender.name}/groups lists its groups)",
        code="unknown_group",
    )


def get_binding(services: Services, experience_id: str) -> Binding:
    return Binding.model_validate(stored(services, binding_key(experience_id), "binding"))


def delete_binding(services: Services, experience_id: str, *, api_key_id: str | None) -> Binding:
    deleted = services.inbox.delete(binding_key(experience_id))
    if deleted is None:
        raise not_found("binding", experience_id)
    # No item is left to carry who removed it: the log line does.
    logger.info("binding removed", extra={"experience_id": experience_id, "api_key_id": api_key_id})
    return Binding.model_validate(deleted)


def list_codes(services: Services) -> list[CodeRegistration]:
    return [CodeRegistration.model_validate(item) for item in services.inbox.listed("code")]


def list_operators(services: Services) -> list[Operator]:
    return [Operator.model_validate(item) for item in services.inbox.listed("operator")]


def list_bindings(services: Services) -> list[Binding]:
    return [Binding.model_validate(item) for item in services.inbox.listed("binding")]


def delete_code(services: Services, code: str, *, api_key_id: str | None) -> CodeRegistration:
    normalised = normalise_code(services, code)
    deleted = services.inbox.delete(code_key(normalised))
    if deleted is None:
        raise not_found("reservation_code", normalised)
    logger.info("reservation code removed", extra={"code": normalised, "api_key_id": api_key_id})
    return CodeRegistration.model_validate(deleted)


def delete_operator(services: Services, operator_id: str, *, api_key_id: str | None) -> Operator:
    """Refused while an experience is bound to the operator: its requests would route nowhere.
    (A binding written between this check and the delete names a gone operator; routing then
    leaves its requests unrouted, as for an unknown experience.)"""
    bound = [b.experience_id for b in list_bindings(services) if b.operator_id == operator_id]
    if bound:
        raise PostinoError(
            "operator_in_use",
            f"The operator '{operator_id}' is bound to {', '.join(sorted(bound))}: "
            "bind them to another operator or remove their bindings first.",
            409,
        )
    deleted = services.inbox.delete(operator_key(operator_id))
    if deleted is None:
        raise not_found("operator", operator_id)
    logger.info("operator removed", extra={"operator_id": operator_id, "api_key_id": api_key_id})
    return Operator.model_validate(deleted)


def stored(services: Services, key: str, what: str) -> dict[str, Any]:
    """The item at `key`, or a 404 naming what was asked for (the id is the key's last part)."""
    item = services.inbox.get(key)
    if item is None:
        raise not_found(what, key.split("#", 1)[1])
    return item
