"""A message template as Meta lists it, and how many parameters each component needs."""

import re
from typing import Any

from pydantic import ConfigDict, Field

from postino.model import Model

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# Headers whose one parameter is an object (media, or a location), not text.
OBJECT_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
# Buttons whose send must carry exactly one parameter (the code to copy, the one-time password).
ONE_PARAMETER_BUTTONS = ("COPY_CODE", "OTP")


class Template(Model):
    model_config = ConfigDict(extra="ignore")

    name: str
    language: str
    status: str
    category: str | None = None
    id: str | None = None
    components: list[dict[str, Any]] = Field(default_factory=list)

    def needs(self) -> dict[str, int]:
        """Parameters each component of a send must carry: "header", "body", "button[i]".

        Buttons not listed take optional parameters (a quick reply's payload): not checked.
        """
        needed: dict[str, int] = {}
        for component in self.components:
            kind = str(component.get("type", "")).upper()
            if kind == "HEADER":
                header_object = str(component.get("format", "")).upper() in OBJECT_HEADER_FORMATS
                needed["header"] = 1 if header_object else _placeholders(component.get("text"))
            elif kind == "BODY":
                needed["body"] = _placeholders(component.get("text"))
            elif kind == "BUTTONS":
                for index, button in enumerate(component.get("buttons") or []):
                    kind = str(button.get("type", "")).upper()
                    count = 1 if kind in ONE_PARAMETER_BUTTONS else _placeholders(button.get("url"))
                    if count:
                        needed[f"button[{index}]"] = count
        return {k: v for k, v in needed.items() if v}


def _placeholders(text: Any) -> int:
    """Distinct {{1}} or {{first_name}} placeholders in a text."""
    return len(set(PLACEHOLDER.findall(text))) if isinstance(text, str) else 0
