"""The disclosure log as a file a council can hand to a family (subject access request)."""

from __future__ import annotations

import csv
import io

from services.consent.schemas import DisclosureRead

CSV_COLUMNS = (
    "disclosed_at",
    "agency_id",
    "resource_type",
    "resource_id",
    "basis",
    "reference_id",
    "request_id",
    "id",
    # Added after the first release: appended, so readers of the columns by position still work.
    "practitioner_id",
)
# How the file is declared in the OpenAPI document (GET /v1/people/{person_id}/disclosures/export).
CSV_SCHEMA: dict[str, object] = {
    "type": "string",
    "description": "CSV (comma-separated, CRLF line ends, first line the header), one row per "
    "disclosure, oldest first as in the JSON. Columns, in this order: "
    + ", ".join(f"`{c}`" for c in CSV_COLUMNS)
    + " - each the disclosure's JSON field (date-times as ISO 8601, an empty cell for null). A "
    "cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'` so a "
    "spreadsheet does not run it as a formula.",
}
# Spreadsheet programs run cells starting with these as formulas (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def disclosures_csv(items: list[DisclosureRead]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow([_cell(getattr(item, col)) for col in CSV_COLUMNS])
    return out.getvalue()
