"""WAHA's published OpenAPI description (2026.7.1), as a checker of our requests and its webhooks.

The spec lives beside the project (../shared/contracts/waha/, read-only). It says OpenAPI 3.1
(JSON Schema 2020-12) yet keeps 3.0's `nullable`, which is honoured. The corrections, each
deliberate:
- A tightening: WAHA's request schemas do not say `additionalProperties: false`, so a misspelt
  field (`chatID`) would pass and WAHA would silently drop it (its validation pipe whitelists;
  only WAHA_HTTP_STRICT_MODE refuses). Every object schema that lists its properties is treated
  as closed: what we send must be what WAHA reads.
- Its webhook schemas declare `event` as `"type": "object"` with an enum of strings: a slip
  (WAHA sends a string, and its own examples say "message"). Checked as a string enum.
- A few fields it types as strings are null when they do not apply (NULLABLE below): a
  participant outside a group, a media URL without media, the browser of an engine that runs
  none. They may be null.
"""

import copy
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "waha" / "openapi.json"
NULLABLE = {
    ("WAMessage", "participant"),
    ("WAMessage", "mediaUrl"),
    ("WAMessageAckBody", "participant"),
    ("WAHAEnvironment", "browser"),
}
WEBHOOK_SCHEMAS = {
    "message": "WAHAWebhookMessage",
    "message.ack": "WAHAWebhookMessageAck",
    "session.status": "WAHAWebhookSessionStatus",
}


def spec_path() -> Path:
    return Path(os.environ.get("POSTINO_WAHA_SPEC", str(SPEC_PATH)))


class WahaContract:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.schemas: dict[str, Any] = copy.deepcopy(spec["components"]["schemas"])
        for schema, field in NULLABLE:
            self.schemas[schema]["properties"][field]["nullable"] = True
        # Path templates as regexes, literal segments first (/api/sessions/start before
        # /api/sessions/{session}).
        self._paths = sorted(
            ((_path_pattern(path), path) for path in spec["paths"]),
            key=lambda found: found[1].count("{"),
        )
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> "WahaContract":
        return _load(path or spec_path())

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        route = path.split("?", 1)[0]
        for pattern, template in self._paths:
            operation = self.spec["paths"][template].get(method.lower())
            if operation is not None and pattern.fullmatch(route):
                return template, operation
        return None

    def needs_key(self, method: str, path: str) -> bool:
        found = self.operation(method, path)
        return found is not None and bool(found[1].get("security"))

    def check_request(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> list[str]:
        """What is wrong with a request, by WAHA's description; [] when nothing is."""
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path.split('?', 1)[0]}: no such operation in WAHA's API"]
        template, operation = found
        problems = self._query_problems(f"{method} {template}", operation, path)
        if operation.get("security") and not headers.get("x-api-key"):
            problems.append(f"{method} {template}: the X-Api-Key header is missing")
        content = (operation.get("requestBody") or {}).get("content", {})
        schema = (content.get("application/json") or {}).get("schema")
        if schema is None:
            return problems
        if body is None:
            return [*problems, f"{method} {template}: a JSON body is required"]
        name = schema["$ref"].rsplit("/", 1)[1]
        return problems + self._problems(name, body, f"{method} {template}")

    def _query_problems(self, where: str, operation: dict[str, Any], path: str) -> list[str]:
        """Query parameters the operation does not declare, lacks, or gets out of its enum."""
        given = parse_qs(urlsplit(path).query, keep_blank_values=True)
        declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        problems = [
            f"{where}: unknown query parameter {name!r}" for name in given if name not in declared
        ]
        for name, parameter in declared.items():
            if name not in given:
                if parameter.get("required"):
                    problems.append(f"{where}: the query parameter {name!r} is required")
                continue
            allowed = parameter.get("schema", {}).get("enum")
            if allowed is not None and given[name][-1] not in allowed:
                problems.append(f"{where}: {name}={given[name][-1]!r} is not one of {allowed}")
        return problems

    def check_webhook(self, event: str, envelope: dict[str, Any]) -> list[str]:
        name = WEBHOOK_SCHEMAS.get(event)
        if name is None:
            return [f"the fake has no schema for the event {event!r}"]
        return self._problems(name, envelope, f"webhook {event}")

    def _problems(self, name: str, value: Any, where: str) -> list[str]:
        validator = self._validators.get(name)
        if validator is None:
            schema = {
                **_closed(self._resolved(self.schemas[name], frozenset())),
                "$schema": "https://json-schema.org/draft/2020-12/schema",
            }
            validator = self._validators[name] = Draft202012Validator(schema)
        problems = []
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.path)):
            # A oneOf (file: RemoteFile or BinaryFile) only says "not valid under any": name
            # the nearest miss too, so `link` instead of `url` reads as such.
            nearest = best_match(error.context) if error.context else None
            because = f" ({nearest.message})" if nearest is not None else ""
            at = ".".join(map(str, error.absolute_path)) or "body"
            problems.append(f"{where}: {at}: {error.message}{because}")
        return problems

    def _resolved(self, schema: Any, seen: frozenset[str]) -> Any:
        """Inline the $refs (the schemas are acyclic where we use them) and OpenAPI 3.0's
        `nullable`, which JSON Schema spells as a type."""
        if isinstance(schema, list):
            return [self._resolved(item, seen) for item in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name in seen:
                return {}
            return self._resolved(self.schemas[name], seen | {name})
        resolved = {k: self._resolved(v, seen) for k, v in schema.items() if k != "nullable"}
        if resolved.get("type") == "object" and "enum" in resolved:
            # Slip: `event` is declared an object with an enum of strings.
            resolved["type"] = "string"
        # `required: true` on a property (a Swagger 2 habit in WAHA's spec) means nothing here.
        if isinstance(resolved.get("required"), bool):
            del resolved["required"]
        if schema.get("nullable") is True:
            resolved = {"anyOf": [resolved, {"type": "null"}]}
        return resolved


@cache
def _load(path: Path) -> WahaContract:
    return WahaContract(json.loads(path.read_text()))


def _closed(schema: Any) -> Any:
    """Every object that lists its properties takes no others (see the module's docstring)."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {k: _closed(v) for k, v in copy.copy(schema).items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))
