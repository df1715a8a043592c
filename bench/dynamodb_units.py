"""DynamoDB's request units for one request, from item sizes and the table's indexes.

Items are DynamoDB JSON (`{"id": {"S": "m1"}, "n": {"N": "3"}}`), as moto keeps them. The rules
are AWS's (docs/performance.md cites them): an item's size is its attribute names and values; a
write costs a unit per started KB of the larger of the item before and after, at least one, and
also when its condition fails; each global secondary index whose entry the write changes costs
its own units; a read costs a unit per started 4 KB, half for an eventually consistent one.
"""

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096

Item = Mapping[str, Any]  # attribute name -> DynamoDB JSON value


def number_size(text: str) -> int:
    """A number's bytes: one per two significant digits, and one more."""
    digits = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The bytes of one DynamoDB JSON value, as DynamoDB counts them for capacity."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return number_size(str(inner))
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: element}) for element in inner)
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"not a DynamoDB type: {kind}")


def item_size(item: Item | None) -> int:
    """An item's bytes: each attribute's name (UTF-8) and value; an absent item is 0."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units_of(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units_of(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """A read of `size` bytes (one item, or a query's whole response): at least one 4 KB."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units * (2.0 if transactional else 1.0 if consistent else 0.5)


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str = "KEYS_ONLY"  # KEYS_ONLY, INCLUDE or ALL
    non_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    def index(self, name: str) -> Index:
        return next(i for i in self.indexes if i.name == name)


def index_entry(table: Table, index: Index, item: Item | None) -> dict[str, Any] | None:
    """What the index holds for `item`: nothing unless the item has every index key."""
    if not item or any(key not in item for key in index.keys):
        return None
    if index.projection == "ALL":
        return dict(item)
    kept = {*table.keys, *index.keys}
    if index.projection == "INCLUDE":
        kept |= set(index.non_key)
    return {name: value for name, value in item.items() if name in kept}


@dataclass(frozen=True)
class IndexWrite:
    index: str
    puts: int = 0
    deletes: int = 0
    updates: int = 0
    units: int = 0


def index_write(table: Table, index: Index, before: Item | None, after: Item | None) -> IndexWrite:
    """What one item's change costs an index: an entry put, deleted, replaced or updated."""
    old, new = index_entry(table, index, before), index_entry(table, index, after)
    if old == new:
        return IndexWrite(index.name)
    if old is None:
        return IndexWrite(index.name, puts=1, units=write_units_of(item_size(new)))
    if new is None:
        return IndexWrite(index.name, deletes=1, units=write_units_of(item_size(old)))
    if any(old[key] != new[key] for key in index.keys):
        # A new index key is a new entry: the old one deleted, the new one put.
        units = write_units_of(item_size(old)) + write_units_of(item_size(new))
        return IndexWrite(index.name, puts=1, deletes=1, units=units)
    units = write_units_of(max(item_size(old), item_size(new)))
    return IndexWrite(index.name, updates=1, units=units)


@dataclass(frozen=True)
class WriteCost:
    table_units: int
    indexes: tuple[IndexWrite, ...]

    @property
    def units(self) -> int:
        return self.table_units + sum(i.units for i in self.indexes)


def write_cost(
    table: Table,
    before: Item | None,
    after: Item | None,
    requested: Item | None = None,
    *,
    transactional: bool = False,
) -> WriteCost:
    """One item's write: the larger of its sizes before, after and as requested (a PutItem's
    item, which counts even when its condition fails and nothing changes), and its indexes."""
    size = max(item_size(before), item_size(after), item_size(requested))
    table_units = write_units_of(size) * (2 if transactional else 1)
    writes = tuple(index_write(table, index, before, after) for index in table.indexes)
    return WriteCost(table_units, tuple(w for w in writes if w.units))


def table_specs(template: Mapping[str, Any]) -> dict[str, Table]:
    """Every AWS::DynamoDB::Table of the template by logical id, with its indexes."""
    tables = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        properties = resource["Properties"]
        indexes = tuple(
            Index(
                name=index["IndexName"],
                keys=tuple(k["AttributeName"] for k in index["KeySchema"]),
                projection=index["Projection"]["ProjectionType"],
                non_key=tuple(index["Projection"].get("NonKeyAttributes", ())),
            )
            for index in properties.get("GlobalSecondaryIndexes", ())
        )
        keys = tuple(k["AttributeName"] for k in properties["KeySchema"])
        tables[name] = Table(name, keys, indexes)
    return tables
