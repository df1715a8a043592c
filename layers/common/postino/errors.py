"""Domain errors. Each carries what the API's one error shape needs; the API maps them to HTTP."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from postino.model import Model


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str


@dataclass
class PostinoError(Exception):
    """An error a user can act on: a snake_case code, a sentence, and the fields at fault."""

    code: str
    message: str
    status: int = 400
    details: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def invalid(field_name: str, problem: str, code: str = "invalid_field") -> PostinoError:
    return PostinoError(
        code,
        f"The field '{field_name}' is not valid: {problem}.",
        422,
        [Problem(field_name, problem)],
    )


def not_found(what: str, identifier: str) -> PostinoError:
    return PostinoError(f"{what}_not_found", f"No {what} with id '{identifier}'.", 404)


def wrong_state(what: str, identifier: str, status: str, action: str) -> PostinoError:
    return PostinoError(
        "wrong_state",
        f"The {what} '{identifier}' is {status}; it cannot be {action} from that state.",
        409,
        [Problem("status", status)],
    )


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'messages', 2, 'to') → 'messages[2].to'; where the request put it is implied."""
    path = ""
    for part in location:
        if part in ("body", "query", "path", "header") and not path:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif not path:
            path = str(part)
        elif str(part).startswith(("function-after", "function-before", "tagged-union")):
            continue
        else:
            path += f".{part}"
    return path or "body"


def from_validation_errors(errors: Sequence[Any]) -> PostinoError:
    """Pydantic's (or Powertools') validation errors as our one error shape."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return PostinoError(
            "malformed_json",
            "The request body is not valid JSON.",
            400,
            [Problem("body", "not JSON")],
        )
    problems = [
        Problem(
            field_path(e.get("loc", ())),
            str(e.get("msg", "is invalid")).removeprefix("Value error, "),
        )
        for e in errors
    ]
    summary = "; ".join(f"{p.field}: {p.problem}" for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return PostinoError(
        "invalid_request", f"The request is not valid: {summary}{more}.", 422, problems
    )


class ProblemBody(Model):
    field: str
    problem: str


class ErrorDetail(Model):
    code: str
    message: str
    details: list[ProblemBody] = Field(default_factory=list)


class ErrorBody(Model):
    """The one error shape of the API."""

    error: ErrorDetail


def error_body(error: PostinoError) -> ErrorBody:
    return ErrorBody(
        error=ErrorDetail(
            code=error.code,
            message=error.message,
            details=[ProblemBody(field=p.field, problem=p.problem) for p in error.details],
        )
    )
