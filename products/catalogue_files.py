"""Catalogue CSV import and export (the web app's; the API has its own JSON).

Import checks every row with the API's own serializer before anything is written, plus what one
row cannot know: a SKU twice in the file, or already in the catalogue. Any problem: a report per
row and nothing written. No problem: ``services.create_products`` (one transaction per batch).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Sequence

from .models import Product, ProductSku, public_product
from .serializers import ProductSerializer

COLUMNS = ("sku", "name", "description", "price", "currency", "stock", "category")
REQUIRED = ("sku", "name", "price", "currency")
MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024


@dataclass
class ImportCheck:
    rows: list[dict] = field(default_factory=list)  # validated fields, in file order
    problems: list[dict] = field(default_factory=list)  # {"row": n, "sku": ..., "messages": [...]}
    file_problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.file_problem and bool(self.rows)


def check_import(data: bytes) -> ImportCheck:
    result = ImportCheck()
    if len(data) > MAX_BYTES:
        result.file_problem = f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."
        return result
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        result.file_problem = "The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."
        return result
    reader = csv.DictReader(io.StringIO(text))
    result.file_problem = _header_problem(reader.fieldnames or [])
    if result.file_problem:
        return result
    _check_rows(reader, result)
    _check_taken(result)
    return result


def _header_problem(fieldnames: Sequence[str]) -> str:
    header = [name.strip().lower() for name in fieldnames]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name and name not in COLUMNS]
    if not missing and not unknown:
        return ""
    parts = ([f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"] if missing else []) + \
            ([f"unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"] if unknown else [])
    return "The first line must name the columns (" + ", ".join(COLUMNS) + "); " + "; ".join(parts) + "."


def _row_messages(row: dict) -> tuple[list[str], dict | None]:
    """The API serializer's verdict on one line: (problems, validated fields)."""
    data_row = {name: row[name] for name in COLUMNS if row.get(name, "") != "" or name in REQUIRED}
    if "stock" in data_row:
        data_row["stock"] = int(data_row["stock"]) if data_row["stock"].lstrip("-").isdigit() else data_row["stock"]
    serializer = ProductSerializer(data=data_row)
    if not serializer.is_valid():
        return [f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in serializer.errors.items()], None
    fields = dict(serializer.validated_data)
    fields.pop("version", None)
    return [], fields


def _check_rows(reader: csv.DictReader, result: ImportCheck) -> None:
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):  # line 1 is the header
        if number - 1 > MAX_ROWS:
            result.file_problem = f"At most {MAX_ROWS} products per file; split it."
            return
        row = {key.strip().lower(): (value or "").strip() for key, value in raw.items() if key}
        if not any(row.values()):
            continue
        messages, fields = _row_messages(row)
        sku = fields["sku"] if fields else row.get("sku", "")
        if sku and sku in seen:
            messages.append(f"sku: also on line {seen[sku]} of this file.")
        seen.setdefault(sku, number)
        if messages:
            result.problems.append({"row": number, "sku": row.get("sku", ""), "messages": messages})
        elif fields is not None:  # no message: the serializer validated the line
            result.rows.append({**fields, "_line": number})


def _check_taken(result: ImportCheck) -> None:
    """SKUs already in the catalogue (one batch read of the SKU records), then the final report."""
    taken = ProductSku.objects.batch_get(r["sku"] for r in result.rows) if result.rows else {}
    for row in [r for r in result.rows if r["sku"] in taken]:
        result.rows.remove(row)
        result.problems.append({"row": row["_line"], "sku": row["sku"],
                                "messages": ["sku: a product with this SKU is already in the catalogue."]})
    result.problems.sort(key=lambda p: p["row"])
    if not result.rows and not result.problems:
        result.file_problem = "The file has no products in it."
    for row in result.rows:
        row.pop("_line")


def export_rows():
    """The catalogue as CSV rows (header first), read page by page (the caller sets the context)."""
    yield COLUMNS
    for item in Product.objects.every():
        product = public_product(item)
        yield tuple("" if product[name] is None else product[name] for name in COLUMNS)
