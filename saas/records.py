"""Typed records: the fields code reads from a store item, as a frozen, slotted dataclass.

The store hands items back as dicts (whole numbers already ``int``, money ``Decimal``). An app
declares, next to its model in ``models.py``, a record of the fields its code reads, so services
say ``product.stock`` instead of ``item["stock"]`` and a type checker knows what that is::

    @dataclass(frozen=True, slots=True)
    class ProductRecord(Record):
        id: str
        stock: int
        category: str | None = None   # optional attribute: absent from the item -> the default

Records are for reading. A write still passes the item it read (a dict) to the manager, which
needs every stored attribute (``update_op(current=...)`` recomputes index keys from them).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from typing import Any, Mapping, Self


@dataclass(frozen=True, slots=True)
class Record:
    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        """The record's fields taken from ``item``: attributes it does not declare are ignored, an
        absent optional field takes its default, an absent required one is a ``TypeError`` (a bug:
        the item is not what the record says it stores)."""
        names = _field_names(cls)  # type: ignore[arg-type]  # a class is hashable; mypy does not see it through Self
        return cls(**{name: item[name] for name in names if name in item})


@cache
def _field_names(record: type[Record]) -> tuple[str, ...]:
    return tuple(field.name for field in fields(record))
