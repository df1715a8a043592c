"""Meta's published OpenAPI description of the Cloud API, as a checker of our requests.

The spec lives beside the project (../shared/contracts/meta/, read-only). A plain JSON Schema
validator refuses all of Meta's own examples, for the defects listed in that folder's README;
each is corrected here, one by one, with the reason, rather than loosening the whole check.
"""

import copy
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

SPEC_PATH = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "contracts"
    / "meta"
    / "business-messaging-api_v23.0.yaml"
)
SEND_MESSAGE_PATH = "/{Version}/{Phone-Number-ID}/messages"
TEMPLATES_PATH = "/{Version}/{WABA-ID}/message_templates"

# Slip: the spec's BaseMessageProperties leaves out biz_opaque_callback_data, which Meta's Cloud
# API takes on every message and echoes in status webhooks (the same spec's webhook examples
# carry it). Meta documents at most 512 characters.
_CALLBACK_DATA = {"type": "string", "maxLength": 512}
# Slip: the button `index` pattern "^[2-6, 11-14]$" refuses "0", and Meta's examples give the
# index as a number: Meta takes a button position 0-9 as a string or a number.
_BUTTON_INDEX = {
    "anyOf": [
        {"type": "string", "pattern": "^[0-9]$"},
        {"type": "integer", "minimum": 0, "maximum": 9},
    ]
}
# Slip: latitude/longitude are typed as strings but Meta's examples (and API) use numbers.
_COORDINATE = {"type": ["number", "string"]}
# Slip: order_details and order_status are interactive types Meta's own examples send.
_EXTRA_INTERACTIVE_TYPES = ["order_details", "order_status"]


def spec_path() -> Path:
    return Path(os.environ.get("POSTINO_META_SPEC", str(SPEC_PATH)))


class MetaContract:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        operation = spec["paths"][SEND_MESSAGE_PATH]["post"]
        content = operation["requestBody"]["content"]["application/json"]
        self._examples: dict[str, Any] = {
            name: example["value"] for name, example in content.get("examples", {}).items()
        }
        message = self._inline(content["schema"], frozenset())
        self._by_type: dict[str, Draft202012Validator] = {}
        for variant in message["oneOf"]:
            merged = _corrected(_merge_all_of(variant))
            message_type = merged["properties"]["type"]["enum"][0]
            self._by_type[message_type] = Draft202012Validator(merged)
        self._error = Draft202012Validator(self._inline(self._schema("GraphAPIError"), frozenset()))
        # Marking an inbound message read is a POST to the same /messages path, another body.
        self._mark_read = Draft202012Validator(
            self._inline(self._schema("MarkMessageRequestPayload"), frozenset())
        )
        templates = spec["paths"][TEMPLATES_PATH]["get"]["responses"]["200"]["content"]
        self._templates = Draft202012Validator(
            self._inline(templates["application/json"]["schema"], frozenset())
        )

    @classmethod
    def load(cls, path: Path | None = None) -> "MetaContract":
        return _load(path or spec_path())

    def _schema(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.spec["components"]["schemas"][name]
        return schema

    def _inline(self, node: Any, seen: frozenset[str]) -> Any:
        """Resolve every $ref in place (a ref already on the path stays open: no recursion)."""
        if isinstance(node, list):
            return [self._inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            if name in seen:
                return {}
            return self._inline(self._schema(name), seen | {name})
        return {
            key: self._inline(value, seen)
            for key, value in node.items()
            if key not in ("discriminator", "example", "examples")
        }

    def check_send_message(self, body: object) -> list[str]:
        """What Meta's schema finds wrong with a sendMessage request body; [] when valid."""
        if not isinstance(body, dict):
            return ["body: must be a JSON object"]
        if "type" not in body:
            # Slip: Meta defaults `type` to text, and so do its examples that leave it out.
            body = {**body, "type": "text"}
        message_type = body["type"]
        validator = self._by_type.get(message_type) if isinstance(message_type, str) else None
        if validator is None:
            return [f"type: '{message_type}' is not a message type Meta knows"]
        return _problems(validator, body)

    def check_mark_read(self, body: object) -> list[str]:
        """A read receipt: the spec's MarkMessageRequestPayload, whose `status` can only be read."""
        problems = _problems(self._mark_read, body)
        if isinstance(body, dict) and body.get("status") != "read":
            problems.append("status: must be 'read'")
        return problems

    def check_templates_page(self, body: object) -> list[str]:
        """A page of GET /{waba-id}/message_templates as the peer serves it."""
        return _problems(self._templates, body)

    def check_error_body(self, body: object) -> list[str]:
        return _problems(self._error, body)

    def send_message_examples(self) -> dict[str, Any]:
        return copy.deepcopy(self._examples)


@cache
def _load(path: Path) -> MetaContract:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as stream:
        return MetaContract(yaml.load(stream, Loader=loader))  # noqa: S506 - a safe loader


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """allOf parts each saying additionalProperties: false refuse each other's properties:
    merge them into one object schema first, then forbid what none of them allows."""
    if "allOf" not in schema:
        return schema
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    closed = False
    for part in schema["allOf"]:
        part = _merge_all_of(part)
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += [r for r in part.get("required", []) if r not in merged["required"]]
        closed = closed or part.get("additionalProperties") is False
    if closed:
        merged["additionalProperties"] = False
    return merged


def _corrected(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    schema["properties"]["biz_opaque_callback_data"] = _CALLBACK_DATA
    # Slip: recipient_type and template.language.policy are marked required, yet Meta's own
    # examples and its API do without them.
    schema["required"] = [r for r in schema["required"] if r != "recipient_type"]
    _walk(schema)
    return schema


def _walk(node: Any, name: str = "") -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, name)
        return
    if not isinstance(node, dict):
        return
    if name == "language" and "required" in node:
        node["required"] = [r for r in node["required"] if r != "policy"]
    properties = node.get("properties", {})
    if isinstance(properties, dict):
        for key in list(properties):
            if key == "index" and "pattern" in properties[key]:
                properties[key] = copy.deepcopy(_BUTTON_INDEX)
            elif key in ("latitude", "longitude") and properties[key].get("type") == "string":
                properties[key] = dict(_COORDINATE)
            elif key == "sub_type" and "enum" in properties[key]:
                # Slips: Meta's catalog example says "CATALOG" (Meta matches sub_type case-blind),
                # and its flow template example uses a "flow" button the enum leaves out.
                enum = [*properties[key]["enum"], "flow"]
                properties[key]["enum"] = enum + [v.upper() for v in enum if v.upper() not in enum]
            elif key == "type" and name == "interactive" and "enum" in properties[key]:
                enum = properties[key]["enum"]
                properties[key]["enum"] = enum + [
                    t for t in _EXTRA_INTERACTIVE_TYPES if t not in enum
                ]
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            for child, schema in value.items():
                _walk(schema, child)
        else:
            _walk(value, name)


def _problems(validator: Draft202012Validator, body: object) -> list[str]:
    problems = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "body"
        message = re.sub(r"\s+", " ", error.message)[:300]
        problems.append(f"{path}: {message}")
    return problems
