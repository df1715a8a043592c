"""A CSV of recipients as batch items: check every row first, then keys that make re-runs safe."""

import csv
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BATCH_SIZE = 100  # POST /v1/messages/batch takes at most 100 items
PHONE = re.compile(r"^\+?[0-9 ().-]+$")
# The server fills {column} placeholders from `variables`, whose names must look like this.
VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SIGNED_LINK = "signed_link"  # filled by the server from the item's `link`, never from a column
CAMPAIGN_CHARACTERS = 64  # the API's limit for a message's `campaign`


@dataclass(frozen=True)
class CsvFile:
    name: str
    sha256: str
    rows: list[dict[str, str]]

    @property
    def reference(self) -> str:
        """One reference per file content: `messages --reference` follows the whole run."""
        return f"bulk-{self.sha256[:12]}"


@dataclass(frozen=True)
class Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    values: dict[str, str]


@dataclass(frozen=True)
class Problem:
    row: int
    problem: str


@dataclass(frozen=True)
class Content:
    """What each row's message says: a template with parameters taken from columns, or a text."""

    template: str | None
    language: str
    columns: dict[int, str]  # body parameter number → column
    fixed: Sequence[str]  # values for the parameter numbers no column takes, in order
    text: str | None
    link: str | None = None  # the user's page, signed per recipient into {signed_link}


def read_csv(path: Path) -> CsvFile:
    raw = path.read_bytes()
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    return CsvFile(path.name, hashlib.sha256(raw).hexdigest(), rows)


def numbered(csv_file: CsvFile) -> list[Row]:
    return [Row(number, values) for number, values in enumerate(csv_file.rows, start=2)]


def plausible_phone(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return bool(PHONE.match(value)) and 8 <= len(digits) <= 15


def check_rows(rows: Sequence[Row], to_column: str, content: Content) -> list[Problem]:
    """Every problem of every row, so one report shows all that needs fixing."""
    needed = sorted(set(content.columns.values()) | set(_placeholders(content.text)))
    if content.link:
        needed = [name for name in needed if name != SIGNED_LINK]  # the server fills it
    problems = []
    for row in rows:
        phone = row.values.get(to_column, "")
        if not phone:
            problems.append(Problem(row.number, f"no phone in column '{to_column}'"))
        elif not plausible_phone(phone):
            problems.append(Problem(row.number, f"'{phone}' does not look like a phone number"))
        problems.extend(
            Problem(row.number, f"column '{column}' is empty or missing")
            for column in needed
            if not row.values.get(column)
        )
    return problems


def _placeholders(text: str | None) -> list[str]:
    return re.findall(r"\{([^{}]+)\}", text or "")


def idempotency_key(csv_file: CsvFile, row: Row) -> str:
    """The same file and row give the same key: a re-run is answered with the first message."""
    seed = f"{csv_file.name}\0{csv_file.sha256}\0{row.number}".encode()
    return f"bulk-{hashlib.sha256(seed).hexdigest()[:40]}"


def campaign_problem(campaign: str | None) -> str | None:
    """What is wrong with a --campaign name, checked before any row is sent."""
    if campaign is None or 0 < len(campaign) <= CAMPAIGN_CHARACTERS:
        return None
    if not campaign:
        return "--campaign needs a name."
    return (
        f"--campaign is at most {CAMPAIGN_CHARACTERS} characters; "
        f"'{campaign[:20]}…' has {len(campaign)}."
    )


def batch_item(
    csv_file: CsvFile,
    row: Row,
    to_column: str,
    content: Content,
    sender: str | None = None,
    campaign: str | None = None,
) -> dict[str, Any]:
    variables = {
        k: v for k, v in row.values.items() if VARIABLE_NAME.match(k) and v and k != SIGNED_LINK
    }
    item: dict[str, Any] = {
        "to": row.values[to_column],
        "reference": csv_file.reference,
        "idempotency_key": idempotency_key(csv_file, row),
    }
    if content.template:
        item["type"] = "template"
        item["template"] = template_object(
            content.template, content.language, parameters(content, row)
        )
    else:
        item["type"] = "text"
        item["text"] = {"body": content.text or ""}
    item["variables"] = variables
    if content.link:
        item["link"] = {"url": content.link}
    if sender:
        item["sender"] = sender
    if campaign:
        item["campaign"] = campaign  # every row: the run is one campaign in `postino report`
    return item


def parameters(content: Content, row: Row) -> list[str]:
    """Body parameters 1..n: a mapped column's value, else the next fixed value."""
    fixed = iter(content.fixed)
    count = len(content.columns) + len(content.fixed)
    return [
        row.values[content.columns[n]] if n in content.columns else next(fixed)
        for n in range(1, count + 1)
    ]


def template_object(name: str, language: str, body_parameters: Sequence[str]) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if body_parameters:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in body_parameters]}
        ]
    return template


def chunks(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def parse_map(values: Sequence[str]) -> dict[int, str]:
    """`name=1` → {1: "name"}: body parameter 1 takes the column `name`."""
    columns = {}
    for value in values:
        column, _, number = value.rpartition("=")
        if not column or not number.isdigit() or int(number) < 1:
            raise ValueError(f"--map {value}: expected column=N with N ≥ 1")
        columns[int(number)] = column
    return columns


def check_numbering(columns: dict[int, str], fixed: Sequence[str]) -> str | None:
    """Mapped numbers must leave no gap once the fixed values fill the rest."""
    count = len(columns) + len(fixed)
    beyond = [n for n in columns if n > count]
    if beyond:
        return f"parameter {beyond[0]} is mapped but there are only {count} parameters"
    return None
