"""What the commands print: aligned tables for people, JSON for scripts."""

import json
from collections.abc import Sequence
from typing import Any


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; None shows as an empty cell."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = [columns, *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def event_line(event: dict[str, Any]) -> str:
    """One timeline event: time, phase, detail."""
    detail = " ".join(f"{k}={_cell(v)}" for k, v in (event.get("detail") or {}).items())
    return f"{event['at']}  {event['phase']:<17} {detail}".rstrip()
