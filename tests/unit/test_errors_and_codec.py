from decimal import Decimal

from postino.errors import field_path, from_validation_errors
from postino.store.codec import UpdateBuilder, from_item, to_item


def test_validation_locations_become_readable_field_paths() -> None:
    assert field_path(("body", "messages", 2, "to")) == "messages[2].to"
    assert field_path(("body",)) == "body"
    assert field_path(("query", "limit")) == "limit"


def test_malformed_json_is_a_400_and_field_errors_are_a_422() -> None:
    assert (
        from_validation_errors([{"type": "json_invalid", "loc": ("body", 0), "msg": "x"}]).status
        == 400
    )
    error = from_validation_errors(
        [{"type": "value_error", "loc": ("body", "to"), "msg": "Value error, must be"}]
    )
    assert (error.status, error.code) == (422, "invalid_request")
    assert error.details[0].field == "to" and error.details[0].problem == "must be"


def test_items_round_trip_through_dynamodb_types() -> None:
    value = {"n": 3, "f": 45.4333, "s": "ciao 👋", "none": None, "nested": {"l": [1, 2.5, "x"]}}
    item = to_item(value)
    assert "none" not in item and item["f"] == {"N": str(Decimal("45.4333"))}
    assert from_item(item) == {k: v for k, v in value.items() if v is not None}


def test_update_builder_sets_removes_and_appends() -> None:
    update = UpdateBuilder()
    update.set("status", "sent")
    update.set("due_pk", None)
    update.append("events", [{"phase": "sent"}])
    assert update.expression().startswith("SET #status = :v0, #events = list_append(")
    assert update.expression().endswith("REMOVE #due_pk")
