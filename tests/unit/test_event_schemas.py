"""The events' JSON Schemas in docs/events/ are what the models say, so the two never drift.

Write them again from the models with `.venv/bin/python -m tests.unit.test_event_schemas`.
"""

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "docs" / "events"


def as_written(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def test_each_detail_types_schema_is_committed_as_its_model_generates_it() -> None:
    from postino.events import schemas

    generated = schemas()
    assert set(generated) == {"ReservationRequested", "MessageReceived", "MessageStatusChanged"}
    for name, schema in generated.items():
        path = FOLDER / f"{name}.schema.json"
        assert path.exists(), f"{path} is missing: python -m tests.unit.test_event_schemas"
        assert path.read_text() == as_written(schema), (
            f"{path} differs from the model: python -m tests.unit.test_event_schemas"
        )
    written = {p.name.removesuffix(".schema.json") for p in FOLDER.glob("*.schema.json")}
    assert written == set(generated), "a schema in docs/events/ is of no detail type"


def test_the_schemas_are_valid_json_schemas() -> None:
    from jsonschema import Draft202012Validator

    from postino.events import schemas

    for schema in schemas().values():
        Draft202012Validator.check_schema(schema)


def write() -> None:
    sys.path.insert(0, str(ROOT / "layers" / "common"))
    from postino.events import schemas

    FOLDER.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        (FOLDER / f"{name}.schema.json").write_text(as_written(schema))


if __name__ == "__main__":
    write()
