"""Python values ↔ DynamoDB attribute values (numbers travel as Decimal, None is left out)."""

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def serialise(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value."""
    return dict(_serializer.serialize(_to_dynamo(value)))


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: serialise(v) for k, v in values.items() if v is not None}


# The attribute that holds the token of the write an item last took (postino/store/own_writes.py):
# the store's bookkeeping, never part of what an item says.
WRITER_MARK = "wt"


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items() if k != WRITER_MARK
    }


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def failed_condition_item(error: ClientError) -> dict[str, Any] | None:
    """The item as it was when our condition failed (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    item: Any = error.response.get("Item")
    return from_item(item) if item else None


class UpdateBuilder:
    """Builds one UpdateItem expression: SET for values, REMOVE for None, append for lists, ADD
    for counters."""

    def __init__(self) -> None:
        self._sets: list[str] = []
        self._removes: list[str] = []
        self._adds: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def _name(self, attribute: str) -> str:
        placeholder = f"#{attribute}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = serialise(value)
        return placeholder

    def set(self, attribute: str, value: Any) -> None:
        if value is None:
            self._removes.append(self._name(attribute))
        else:
            self._sets.append(f"{self._name(attribute)} = {self.value(value)}")

    def append(self, attribute: str, items: list[Any]) -> None:
        name = self._name(attribute)
        empty = self.value([])
        self._sets.append(
            f"{name} = list_append(if_not_exists({name}, {empty}), {self.value(items)})"
        )

    def add(self, attribute: str, amount: int) -> None:
        """A counter: DynamoDB adds to it where it is stored (a missing one counts from 0)."""
        self._adds.append(f"{self._name(attribute)} {self.value(amount)}")

    def expression(self) -> str:
        parts = []
        if self._sets:
            parts.append("SET " + ", ".join(self._sets))
        if self._removes:
            parts.append("REMOVE " + ", ".join(self._removes))
        if self._adds:
            parts.append("ADD " + ", ".join(self._adds))
        return " ".join(parts)

    def condition_equals(self, attribute: str, value: Any) -> str:
        if value is None:
            return f"attribute_not_exists({self._name(attribute)})"
        return f"{self._name(attribute)} = {self.value(value)}"

    def condition_in(self, attribute: str, values: list[Any]) -> str:
        placeholders = ", ".join(self.value(v) for v in values)
        return f"{self._name(attribute)} IN ({placeholders})"
