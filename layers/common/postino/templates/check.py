"""Checking a template send against the template Meta knows (its errors 132000 and 132001)."""

from dataclasses import dataclass
from typing import Any

from postino.templates.model import Template


@dataclass(frozen=True)
class TemplateProblem:
    field: str
    problem: str
    code: str


def find(template: dict[str, Any], known: list[Template]) -> Template | None:
    language = (template.get("language") or {}).get("code")
    return next(
        (t for t in known if t.name == template.get("name") and t.language == language), None
    )


def check_template_message(
    template: dict[str, Any], known: list[Template]
) -> list[TemplateProblem]:
    """What Meta would refuse about `template` (the send's template object); [] when fine."""
    name = template.get("name")
    language = (template.get("language") or {}).get("code")
    same_name = [t for t in known if t.name == name]
    if not same_name:
        return [
            TemplateProblem(
                "template.name", f"there is no template named '{name}'", "template_not_found"
            )
        ]
    found = find(template, known)
    if found is None:
        languages = ", ".join(sorted(t.language for t in same_name))
        return [
            TemplateProblem(
                "template.language.code",
                f"'{name}' exists in {languages}, not in '{language}'",
                "template_language_not_found",
            )
        ]
    if found.status.upper() != "APPROVED":
        return [
            TemplateProblem(
                "template.name",
                f"'{name}' ({language}) is {found.status}, and only APPROVED templates can be sent",
                "template_not_approved",
            )
        ]
    needs = found.needs()
    # A button the template does not require parameters for may carry optional ones.
    given = {k: v for k, v in _given(template).items() if not k.startswith("button") or k in needs}
    problems = []
    for part in sorted(set(needs) | set(given), key=_in_message_order):
        need, got = needs.get(part, 0), given.get(part, (0, ""))[0]
        if need != got:
            field = given.get(part, (0, "template.components"))[1]
            problems.append(
                TemplateProblem(
                    field,
                    f"{part} needs {need} parameter{'s' if need != 1 else ''}, got {got}",
                    "template_parameter_mismatch",
                )
            )
    return problems


def is_marketing(template: dict[str, Any], known: list[Template]) -> bool:
    found = find(template, known)
    return found is not None and (found.category or "").upper() == "MARKETING"


def _given(template: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """Parameters the send carries per component, with where they are."""
    given: dict[str, tuple[int, str]] = {}
    for i, component in enumerate(template.get("components") or []):
        kind = str(component.get("type", "")).lower()
        part = f"button[{component.get('index', 0)}]" if kind == "button" else kind
        count = len(component.get("parameters") or [])
        given[part] = (count, f"template.components[{i}].parameters")
    return {k: v for k, v in given.items() if v[0]}


def _in_message_order(part: str) -> tuple[int, str]:
    return {"header": 0, "body": 1}.get(part, 2), part
