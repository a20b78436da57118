"""Bulk import of open cases from the council's incumbent case system (issue 22 item 2).

    python -m devtools.case_import import [--dry-run] [--report ERRORS.csv] FILE

FILE is CSV (a header row) or JSON lines (`.jsonl`), one record a row, its kind in
`record_type`: `person`, `relationship`, `referral`, `episode`, `taf_member`, `plan`,
`plan_outcome`, `plan_action`, `consent` (docs/import.md has every column). The command talks to the gateway like any client (`EH_IMPORT_GATEWAY_URL`,
the council admin client's `EH_IMPORT_CLIENT_ID` / `EH_IMPORT_CLIENT_SECRET`, scope
`imports:write`) and sends batches to each owning service's import endpoint:
people, relationships and referrals to `POST /v1/imports/referrals`, then open episodes with
their lead professional and TAF to `POST /v1/imports/episodes`, then the episodes' plans to
`POST /v1/imports/plans` and consents to `POST /v1/imports/consents`.

- `--dry-run` checks every row - here (columns, dates, references between rows) and then by the
  services' own rules with `dry_run: true` (they roll back) - and writes the row-by-row error
  report (line, record type, source id, column, message). Nothing is stored.
- A real run checks the file first (any error: the report, and nothing is sent), then imports
  with a progress bar. Each batch is one transaction at its service and every row is recorded
  there by its source id, so running the same file again creates nothing twice, and a run
  that was killed is resumed by running it again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

SCOPE = "imports:write"
BATCH = 500
# The most rows of a kind in one request, whatever --batch-size says: a batch must finish well
# inside the gateway's upstream timeout (10 s by default) on a busy machine.
MOST = {"referral": 200, "episode": 100}
LIST_SEPARATOR = ";"
RETRIES = 5
DRY_RUN_ROUNDS = 4

PEOPLE_URL = "/v1/imports/referrals"
EPISODES_URL = "/v1/imports/episodes"

# Each record type's columns: required first, then optional. `record_type` and `source_id`
# are every row's.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "person": (
        ("kind", "family_name"),
        ("given_name", "date_of_birth", "unborn_expected_on", "gender", "nhs_number", "upn", "postcode"),
    ),
    "relationship": (("person", "type", "related_person"), ("from_on",)),
    "referral": (
        (
            "referral_type",
            "source_agency_id",
            "source_agency_type",
            "referrer_name",
            "referrer_role",
            "children",
            "needs",
            "summary",
            "received_at",
        ),
        (
            "referrer_email",
            "referrer_phone",
            "adults",
            "address_line1",
            "address_town",
            "postcode",
            *(
                DECISION := (
                    "level_of_need",
                    "outcome",
                    "rationale",
                    "decided_by_name",
                    "decided_by_role",
                    "decided_at",
                )
            ),
            "rag",
        ),
    ),
    "episode": (
        ("children", "opened_at"),
        (
            "referral",
            "adults",
            "level_of_need",
            *(LEAD := ("lead_name", "lead_agency_id", "lead_email")),
            "lead_phone",
            "lead_practitioner_id",
            "family_agreed",
        ),
    ),
    "taf_member": (
        ("episode", "agency_id", "agency_type", "name", "role"),
        ("practitioner_id", "family_agreed"),
    ),
}
KINDS = ("child", "unborn", "adult")
DATES = {"date_of_birth", "unborn_expected_on", "from_on"}
MOMENTS = {"received_at", "decided_at", "opened_at"}
LISTS = {"children", "adults", "needs"}
BOOLEANS = {"family_agreed"}
# Which rows a row names, by column: the record type they must be in the file as.
REFERENCES = {
    "person": "person",
    "related_person": "person",
    "children": "person",
    "adults": "person",
    "referral": "referral",
    "episode": "episode",
}

# Plans and consents (docs/import.md): a `plan` row names its episode; its outcomes and actions
# are rows of their own naming the plan (as TAF members name their episode); a `consent` row
# names its person.
PLAN_KINDS = ("plan", "plan_outcome", "plan_action")
COLUMNS.update(
    {
        "plan": (("episode", "agreed_at"), ()),
        "plan_outcome": (
            ("plan", "headline", "description", "measure", "baseline", "target", "target_on"),
            (),
        ),
        "plan_action": (
            ("plan", "description", "owner_agency_id", "owner_name", "due_on"),
            ("owner_practitioner_id", "outcomes", "status", "progress_notes", "completed_at"),
        ),
        "consent": (
            (
                "person",
                "given_by_name",
                "given_by_relationship",
                "competence",
                "purposes",
                "agencies",
                "method",
                "obtained_at",
            ),
            ("expires_on", "person_date_of_birth", *(WITHDRAWAL := ("withdrawn_at", "withdrawal_reason"))),
        ),
    }
)
DATES.update({"target_on", "due_on", "expires_on", "person_date_of_birth"})
MOMENTS.update({"agreed_at", "completed_at", "withdrawn_at"})
LISTS.update({"outcomes", "purposes", "agencies"})
REFERENCES.update({"plan": "plan", "outcomes": "plan_outcome"})
ACTION_STATUSES = ("open", "in_progress", "completed")
MOST.update({"plan": 100})
PLANS_URL = "/v1/imports/plans"
CONSENTS_URL = "/v1/imports/consents"


@dataclass
class Row:
    line: int
    record_type: str
    source_id: str
    data: dict[str, Any]


@dataclass
class RowError:
    line: int
    record_type: str
    source_id: str
    column: str
    message: str


@dataclass
class Outcome:
    created: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    batches: int = 0
    stopped: bool = False
    linked: int = 0  # people rows matched to a person the index already held
    seconds: dict[str, float] = field(default_factory=dict)  # time spent waiting, per record type
    # (record type, source id) -> the id the service gave (a dry run's are stand-ins).
    ids: dict[tuple[str, str], str] = field(default_factory=dict)


class Stop(Exception):
    """`stop_after` batches were sent (a kill, for the resume test and the bench)."""


# ---- reading and checking the file ---------------------------------------------------------


def read_rows(path: Path) -> tuple[list[Row], list[RowError]]:
    """Every record of a CSV or JSON lines file, with its line number."""
    rows: list[Row] = []
    errors: list[RowError] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            records: Iterable[tuple[int, Any]] = _json_lines(f, errors)
        else:
            reader = csv.DictReader(f)
            records = ((reader.line_num, r) for r in reader)
        for line, record in records:
            if not isinstance(record, dict):
                errors.append(RowError(line, "", "", "", "not an object"))
                continue
            data = {str(k).strip(): _blank_is_none(v) for k, v in record.items() if k is not None}
            rows.append(
                Row(
                    line,
                    str(data.pop("record_type", None) or ""),
                    str(data.pop("source_id", None) or ""),
                    data,
                )
            )
    return rows, errors


def _json_lines(f: Any, errors: list[RowError]) -> Generator[tuple[int, Any], None, None]:
    for line, text in enumerate(f, start=1):
        if text.strip():
            try:
                yield line, json.loads(text)
            except ValueError as exc:
                errors.append(RowError(line, "", "", "", f"not JSON: {exc}"))


def _blank_is_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(LIST_SEPARATOR) if v.strip()]


def as_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "y", "1"):
        return True
    if text in ("false", "no", "n", "0"):
        return False
    raise ValueError("must be true or false")


def check(rows: list[Row]) -> list[RowError]:
    """Everything that can be checked without the services: record types, columns, dates,
    booleans, repeated source ids, and references to rows the file does not hold."""
    errors: list[RowError] = []
    ids: dict[str, set[str]] = {t: set() for t in COLUMNS}

    def error(row: Row, column: str, message: str) -> None:
        errors.append(RowError(row.line, row.record_type, row.source_id, column, message))

    for row in rows:
        if row.record_type not in COLUMNS:
            error(row, "record_type", f"must be one of {', '.join(COLUMNS)}")
            continue
        if not row.source_id:
            error(row, "source_id", "required")
        elif row.source_id in ids[row.record_type]:
            error(row, "source_id", f"a second {row.record_type} with this source id")
        ids[row.record_type].add(row.source_id)
        required, optional = COLUMNS[row.record_type]
        for column in required:
            if row.data.get(column) in (None, []):
                error(row, column, "required")
        for column, value in row.data.items():
            if value is not None and column not in required and column not in optional:
                error(row, column, f"not a column of a {row.record_type} row")
        _check_values(row, error)
    for row in rows:
        for column, kind in REFERENCES.items():
            if row.record_type not in COLUMNS or column not in (
                *COLUMNS[row.record_type][0],
                *COLUMNS[row.record_type][1],
            ):
                continue
            for ref in _references(row, column):
                if ref not in ids[kind]:
                    error(row, column, f"no {kind} with source id {ref!r} in the file")
    return errors + _check_plans(rows)


def _check_values(row: Row, error: Callable[[Row, str, str], None]) -> None:
    data = row.data
    for column, value in data.items():
        if value is None:
            continue
        try:
            if column in DATES:
                date.fromisoformat(str(value))
            elif column in MOMENTS:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    raise ValueError("needs its UTC offset (e.g. 2026-06-01T09:00:00Z)")
            elif column in BOOLEANS:
                as_bool(value)
        except ValueError as exc:
            error(row, column, str(exc) if "offset" in str(exc) else f"not a valid {_what(column)}")
    _check_plan_and_consent(row, error)
    if row.record_type == "person" and data.get("kind") not in (None, *KINDS):
        error(row, "kind", f"must be one of {', '.join(KINDS)}")
    if row.record_type == "person" and data.get("kind") == "adult":
        for column in ("date_of_birth", "unborn_expected_on", "nhs_number", "upn", "gender"):
            if data.get(column) is not None:
                error(row, column, "not kept for an adult")
    for group, name in (("referral", DECISION), ("episode", LEAD)):
        if row.record_type == group and any(data.get(c) is not None for c in name):
            for column in name:
                if data.get(column) is None:
                    error(
                        row,
                        column,
                        f"required with the rest of {'the decision' if group == 'referral' else 'the lead professional'}",
                    )


def _check_plan_and_consent(row: Row, error: Callable[[Row, str, str], None]) -> None:
    data = row.data
    if row.record_type == "plan_action" and data.get("status") not in (None, *ACTION_STATUSES):
        error(row, "status", f"must be one of {', '.join(ACTION_STATUSES)}")
    if row.record_type == "plan_action" and (data.get("status") == "completed") != (
        data.get("completed_at") is not None
    ):
        error(row, "completed_at", "required with status completed, and only then")
    if row.record_type == "consent" and any(data.get(c) is not None for c in WITHDRAWAL):
        for column in WITHDRAWAL:
            if data.get(column) is None:
                error(row, column, "required with the rest of the withdrawal")


def _check_plans(rows: list[Row]) -> list[RowError]:
    """Each plan has an outcome and an action; an episode has one plan; an action serves
    outcomes of its own plan."""
    errors: list[RowError] = []
    parts: dict[tuple[str, str], int] = Counter(
        (r.record_type, str(r.data.get("plan"))) for r in rows if r.record_type in PLAN_KINDS[1:]
    )
    outcome_plan = {r.source_id: str(r.data.get("plan")) for r in rows if r.record_type == "plan_outcome"}
    episodes: set[str] = set()
    for r in rows:
        if r.record_type == "plan":
            for kind in PLAN_KINDS[1:]:
                if not parts[(kind, r.source_id)]:
                    errors.append(
                        RowError(
                            r.line, r.record_type, r.source_id, "source_id", f"a plan needs a {kind} row"
                        )
                    )
            episode = str(r.data.get("episode"))
            if episode in episodes:
                errors.append(
                    RowError(r.line, r.record_type, r.source_id, "episode", "a second plan of this episode")
                )
            episodes.add(episode)
        elif r.record_type == "plan_action":
            for ref in as_list(r.data.get("outcomes")):
                if ref in outcome_plan and outcome_plan[ref] != str(r.data.get("plan")):
                    errors.append(
                        RowError(
                            r.line,
                            r.record_type,
                            r.source_id,
                            "outcomes",
                            f"{ref!r} is an outcome of another plan",
                        )
                    )
    return errors


def _what(column: str) -> str:
    return {"date": "date (YYYY-MM-DD)", "moment": "date and time (ISO 8601)", "bool": "true or false"}[
        "date" if column in DATES else "moment" if column in MOMENTS else "bool"
    ]


def _references(row: Row, column: str) -> list[str]:
    value = row.data.get(column)
    if column == "adults" and row.record_type == "referral":
        return [a.split(":", 1)[0].strip() for a in as_list(value)]
    return as_list(value) if column in LISTS else ([str(value)] if value is not None else [])


# ---- the services' payloads ----------------------------------------------------------------


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def person_payload(row: Row) -> tuple[str, dict[str, Any]]:
    d = row.data
    if d.get("kind") == "adult":
        return "adults", _present(
            source_id=row.source_id,
            given_name=d.get("given_name"),
            family_name=d.get("family_name"),
            postcode=d.get("postcode"),
        )
    return "children", _present(
        source_id=row.source_id,
        **{
            c: d.get(c)
            for c in ("given_name", "family_name", "date_of_birth", "unborn_expected_on", "gender")
        },
        **{c: d.get(c) for c in ("nhs_number", "upn", "postcode")},
    )


def relationship_payload(row: Row) -> dict[str, Any]:
    d = row.data
    return _present(
        source_id=row.source_id,
        person=d.get("person"),
        type=d.get("type"),
        related_person=d.get("related_person"),
        from_on=d.get("from_on"),
    )


def referral_payload(row: Row) -> dict[str, Any]:
    d = row.data
    adults = []
    for item in as_list(d.get("adults")):
        person, _, relationship = item.partition(":")
        adults.append({"person": person.strip(), "relationship": relationship.strip() or "not known"})
    out = _present(
        source_id=row.source_id,
        referral_type=d.get("referral_type"),
        source_agency_id=d.get("source_agency_id"),
        source_agency_type=d.get("source_agency_type"),
        referrer=_present(
            name=d.get("referrer_name"),
            role=d.get("referrer_role"),
            email=d.get("referrer_email"),
            phone=d.get("referrer_phone"),
        ),
        children=as_list(d.get("children")),
        adults=adults,
        needs=as_list(d.get("needs")),
        summary=d.get("summary"),
        received_at=d.get("received_at"),
    )
    if d.get("address_line1") or d.get("postcode"):
        out["address"] = _present(
            line1=d.get("address_line1"), town=d.get("address_town"), postcode=d.get("postcode")
        )
    if d.get("outcome") is not None:
        out["decision"] = _present(
            level_of_need=d.get("level_of_need"),
            outcome=d.get("outcome"),
            rag=d.get("rag"),
            rationale=d.get("rationale"),
            decided_by=_present(name=d.get("decided_by_name"), role=d.get("decided_by_role")),
            decided_at=d.get("decided_at"),
        )
    return out


def episode_payload(
    row: Row, members: list[Row], ids: dict[tuple[str, str], str], referrals: dict[str, Row]
) -> dict[str, Any]:
    """`ids`: (record type, source id) -> the id the referrals service gave."""
    d = row.data
    referral = d.get("referral")
    out = _present(
        source_id=row.source_id,
        referral_id=ids.get(("referral", referral)) if referral else None,
        referral_received_at=referrals[referral].data.get("received_at") if referral in referrals else None,
        person_ids=[ids.get(("person", c), c) for c in as_list(d.get("children"))],
        adult_person_ids=[ids.get(("person", a), a) for a in as_list(d.get("adults"))],
        level_of_need=d.get("level_of_need"),
        opened_at=d.get("opened_at"),
    )
    if d.get("lead_name") is not None:
        out["lead_professional"] = _present(
            name=d.get("lead_name"),
            agency_id=d.get("lead_agency_id"),
            email=d.get("lead_email"),
            phone=d.get("lead_phone"),
            practitioner_id=d.get("lead_practitioner_id"),
            family_agreed=_safe_bool(d.get("family_agreed"), default=True),
        )
    out["taf"] = [
        _present(
            agency_id=m.data.get("agency_id"),
            agency_type=m.data.get("agency_type"),
            name=m.data.get("name"),
            role=m.data.get("role"),
            practitioner_id=m.data.get("practitioner_id"),
            family_agreed=_safe_bool(m.data.get("family_agreed"), default=False),
        )
        for m in members
    ]
    return out


def _safe_bool(value: Any, *, default: bool) -> bool:
    try:
        answer = as_bool(value)
    except ValueError:
        return default  # reported by `check`
    return default if answer is None else answer


def plan_payload(
    row: Row, outcomes: list[Row], actions: list[Row], ids: dict[tuple[str, str], str]
) -> dict[str, Any]:
    """`ids`: (record type, source id) -> the id the services gave (the episode's)."""
    episode = str(row.data.get("episode"))
    return _present(
        source_id=row.source_id,
        episode_id=ids.get(("episode", episode), episode),
        agreed_at=row.data.get("agreed_at"),
        outcomes=[
            _present(
                source_id=o.source_id,
                **{
                    c: o.data.get(c)
                    for c in ("headline", "description", "measure", "baseline", "target", "target_on")
                },
            )
            for o in outcomes
        ],
        actions=[
            _present(
                source_id=a.source_id,
                description=a.data.get("description"),
                owner=_present(
                    agency_id=a.data.get("owner_agency_id"),
                    name=a.data.get("owner_name"),
                    practitioner_id=a.data.get("owner_practitioner_id"),
                ),
                due_on=a.data.get("due_on"),
                outcomes=as_list(a.data.get("outcomes")),
                status=a.data.get("status"),
                progress_notes=a.data.get("progress_notes"),
                completed_at=a.data.get("completed_at"),
            )
            for a in actions
        ],
    )


def consent_payload(row: Row, ids: dict[tuple[str, str], str]) -> dict[str, Any]:
    d = row.data
    person = str(d.get("person"))
    out = _present(
        source_id=row.source_id,
        person_id=ids.get(("person", person), person),
        given_by=_present(name=d.get("given_by_name"), relationship=d.get("given_by_relationship")),
        competence=d.get("competence"),
        purposes=as_list(d.get("purposes")),
        agencies=as_list(d.get("agencies")),
        method=d.get("method"),
        obtained_at=d.get("obtained_at"),
        expires_on=d.get("expires_on"),
        person_date_of_birth=d.get("person_date_of_birth"),
    )
    if d.get("withdrawn_at") is not None:
        out["withdrawal"] = _present(withdrawn_at=d.get("withdrawn_at"), reason=d.get("withdrawal_reason"))
    return out


# Where a service's 422 field (after `<list>.<index>.`) lands in the file.
COLUMN_OF = {
    "referrer.name": "referrer_name",
    "referrer.role": "referrer_role",
    "referrer.email": "referrer_email",
    "referrer.phone": "referrer_phone",
    "address.line1": "address_line1",
    "address.town": "address_town",
    "address.postcode": "postcode",
    "address": "address_line1",
    "decision.decided_by.name": "decided_by_name",
    "decision.decided_by.role": "decided_by_role",
    "person_ids": "children",
    "adult_person_ids": "adults",
    "referral_id": "referral",
    "referral_received_at": "referral",
    "lead_professional": "lead_name",
}


COLUMN_OF.update(
    {
        "episode_id": "episode",
        "owner.agency_id": "owner_agency_id",
        "owner.name": "owner_name",
        "owner.practitioner_id": "owner_practitioner_id",
        "owner": "owner_agency_id",
        "person_id": "person",
        "given_by.name": "given_by_name",
        "given_by.relationship": "given_by_relationship",
        "withdrawal.withdrawn_at": "withdrawn_at",
        "withdrawal.reason": "withdrawal_reason",
        "withdrawal": "withdrawn_at",
    }
)


def column_of(rest: list[str]) -> str:
    """`decision.level_of_need` -> `level_of_need`; `children.0` -> `children`."""
    path = [p for p in rest if not p.isdigit()]
    text = ".".join(path)
    if path[:1] == ["lead_professional"] and len(path) > 1:
        return "family_agreed" if path[-1] == "family_agreed" else f"lead_{path[-1]}"
    for prefix in sorted(COLUMN_OF, key=len, reverse=True):
        if text == prefix or text.startswith(prefix + "."):
            return COLUMN_OF[prefix]
    return path[-1] if path else "source_id"


# ---- the run -------------------------------------------------------------------------------


@dataclass
class Sent:
    """One request: its body and, per list, which file row each item came from."""

    url: str
    body: dict[str, Any]
    rows: dict[str, list[Row]]
    counts: int
    # Rows attached only to make a dry run's references resolvable: their errors are reported once.
    attached: frozenset[str] = frozenset()

    def first(self) -> Row:
        return next(r for key, rows in self.rows.items() if key not in self.attached for r in rows)

    def without(self, failed: set[tuple[str, int]]) -> Sent:
        body = {k: [x for i, x in enumerate(v) if (k, i) not in failed] for k, v in self.body.items()}
        rows = {k: [x for i, x in enumerate(v) if (k, i) not in failed] for k, v in self.rows.items()}
        return Sent(self.url, body, rows, self.counts, self.attached)


class Importer:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        batch_size: int = BATCH,
        dry_run: bool = False,
        stop_after: int | None = None,
        on_progress: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.client = client
        self.batch_size = max(1, min(batch_size, BATCH))
        self.dry_run = dry_run
        self.stop_after = stop_after
        self.on_progress = on_progress
        self.outcome = Outcome()
        self.ids = self.outcome.ids
        self.reported: set[tuple[int, str, str]] = set()
        self._members: dict[str, list[Row]] = {}
        self._plan_parts: dict[tuple[str, str], list[Row]] = {}
        self._referral_rows: dict[str, Row] | None = None

    async def run(self, rows: list[Row]) -> Outcome:
        by_type: dict[str, list[Row]] = {t: [r for r in rows if r.record_type == t] for t in COLUMNS}
        try:
            if self.dry_run:
                for sent in self._referral_batches(by_type):
                    await self._send(sent)
                for sent in self._episode_batches(by_type):
                    await self._send(sent)
            else:
                await self._pipelined(by_type)
            await self._plans_and_consents(by_type)
        except Stop:
            self.outcome.stopped = True
        return self.outcome

    async def _pipelined(self, by_type: dict[str, list[Row]]) -> None:
        """The referrals service's batches in order; beside them, each batch of episodes as
        soon as the referrals and people it names are imported (the two services work at once)."""
        changed = asyncio.Event()

        async def referrals_lane() -> None:
            try:
                for sent in self._referral_batches(by_type):
                    await self._send(sent)
                    changed.set()
            finally:
                changed.set()

        lane = asyncio.create_task(referrals_lane())
        try:
            for chunk in self._episode_chunks(by_type):
                while not lane.done() and not self._ready(chunk):
                    changed.clear()
                    await changed.wait()
                if lane.done():
                    lane.result()  # a Stop or a failure of the lane ends the run here
                if self.outcome.errors:
                    break
                await self._send(self._episode_sent(chunk, by_type))
            await lane
        finally:
            if not lane.done():
                lane.cancel()
                with contextlib.suppress(asyncio.CancelledError, Stop):
                    await lane

    def _ready(self, chunk: list[Row]) -> bool:
        for r in chunk:
            refs = [("person", p) for p in (*as_list(r.data.get("children")), *as_list(r.data.get("adults")))]
            if r.data.get("referral"):
                refs.append(("referral", str(r.data["referral"])))
            if any(ref not in self.ids for ref in refs):
                return False
        return True

    def _chunks(self, rows: list[Row]) -> Iterable[list[Row]]:
        size = min(self.batch_size, MOST.get(rows[0].record_type, BATCH)) if rows else 1
        for start in range(0, len(rows), size):
            yield rows[start : start + size]

    def _referral_batches(self, by_type: dict[str, list[Row]]) -> Generator[Sent, None, None]:
        people = {r.source_id: r for r in by_type["person"]}
        for chunk in self._chunks(by_type["person"]):
            yield self._people_batch(chunk, len(chunk))
        for kind, key, make in (
            ("relationship", "relationships", relationship_payload),
            ("referral", "referrals", referral_payload),
        ):
            for chunk in self._chunks(by_type[kind]):
                if self.dry_run:  # nothing was stored: the people they name go along
                    named = {
                        ref
                        for r in chunk
                        for col in ("person", "related_person", "children", "adults")
                        for ref in _references(r, col)
                    }
                    sent = self._people_batch([people[s] for s in sorted(named) if s in people], 0)
                    sent.attached = frozenset({"children", "adults"})
                else:
                    sent = Sent(PEOPLE_URL, {}, {}, 0)
                sent.body[key] = [make(r) for r in chunk]
                sent.rows[key] = chunk
                sent.counts = len(chunk)
                yield sent

    def _people_batch(self, chunk: list[Row], counts: int) -> Sent:
        body: dict[str, list[dict[str, Any]]] = {"children": [], "adults": []}
        rows: dict[str, list[Row]] = {"children": [], "adults": []}
        for r in chunk:
            key, payload = person_payload(r)
            body[key].append(payload)
            rows[key].append(r)
        return Sent(PEOPLE_URL, dict(body), rows, counts)

    def _episode_batches(self, by_type: dict[str, list[Row]]) -> Generator[Sent, None, None]:
        for chunk in self._episode_chunks(by_type):
            yield self._episode_sent(chunk, by_type)

    def _episode_chunks(self, by_type: dict[str, list[Row]]) -> Iterable[list[Row]]:
        self._members = {}
        for m in by_type["taf_member"]:
            self._members.setdefault(str(m.data.get("episode")), []).append(m)
        if self.dry_run:  # stand-in ids: the people and referrals were not stored
            for kind in ("person", "referral"):
                for r in by_type[kind]:
                    self.ids[(kind, r.source_id)] = str(
                        uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:{r.source_id}")
                    )
        return list(self._chunks(by_type["episode"]))

    def _episode_sent(self, chunk: list[Row], by_type: dict[str, list[Row]]) -> Sent:
        if self._referral_rows is None:
            self._referral_rows = {r.source_id: r for r in by_type["referral"]}
        body = [episode_payload(r, self._members_of(r), self.ids, self._referral_rows) for r in chunk]
        taf = sum(len(self._members_of(r)) for r in chunk)
        return Sent(EPISODES_URL, {"episodes": body}, {"episodes": chunk}, len(chunk) + taf)

    async def _send(self, sent: Sent) -> None:
        if self.stop_after is not None and self.outcome.batches >= self.stop_after:
            raise Stop()
        self.outcome.batches += 1
        counts = sent.counts
        # A dry run checks every row: the rows a 422 named are taken out and the rest sent
        # again (a request's schema errors hide its rule errors until they are gone).
        for _ in range(DRY_RUN_ROUNDS if self.dry_run else 1):
            body = {**sent.body, "dry_run": True} if self.dry_run else sent.body
            started = time.perf_counter()
            resp = await self._post(sent.url, body)
            kind = sent.first().record_type
            self.outcome.seconds[kind] = self.outcome.seconds.get(kind, 0.0) + time.perf_counter() - started
            if resp.status_code == 200:
                self._note(sent, resp.json())
                break
            if resp.status_code != 422:
                raise RuntimeError(f"{sent.url} answered {resp.status_code}: {resp.text[:500]}")
            failed = self._report(sent, resp.json().get("errors") or [])
            if not failed:
                break
            sent = sent.without(failed)
            if not any(sent.rows.get(k) for k in sent.rows if k not in sent.attached):
                break
        self.on_progress(counts)

    async def _post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        """Retried on a lost connection, 429 and 5xx: a batch is idempotent by its source ids."""
        for attempt in range(RETRIES):
            try:
                resp = await self.client.post(url, json=body)
            except httpx.TransportError:
                if attempt == RETRIES - 1:
                    raise
            else:
                if resp.status_code not in (429, 500, 502, 503, 504) or attempt == RETRIES - 1:
                    return resp
            await asyncio.sleep(min(2**attempt * 0.5, 8))
        raise AssertionError("unreachable")

    def _note(self, sent: Sent, answer: dict[str, Any]) -> None:
        kind_of = {
            "children": "person",
            "adults": "person",
            "relationships": "relationship",
            "referrals": "referral",
            "episodes": "episode",
            "plans": "plan",
            "consents": "consent",
        }
        for key, items in answer.items():
            if key in sent.attached:
                continue
            for item in items:
                kind = kind_of[key]
                self.ids[(kind, item["source_id"])] = item["id"]
                self.outcome.linked += item.get("match") == "certain" and item["created"]
                (self.outcome.created if item["created"] else self.outcome.skipped)[kind] += 1
        if sent.url == EPISODES_URL:  # a TAF member is created with its episode
            made = {e["source_id"] for e in answer["episodes"] if e["created"]}
            for r in sent.rows["episodes"]:
                tally = self.outcome.created if r.source_id in made else self.outcome.skipped
                tally["taf_member"] += len(self._members_of(r))
        if sent.url == PLANS_URL:  # a plan's outcomes and actions are created with it
            made = {p["source_id"] for p in answer["plans"] if p["created"]}
            for r in sent.rows["plans"]:
                tally = self.outcome.created if r.source_id in made else self.outcome.skipped
                for kind in PLAN_KINDS[1:]:
                    tally[kind] += len(self._plan_parts.get((kind, r.source_id), []))

    def _report(self, sent: Sent, errors: list[dict[str, Any]]) -> set[tuple[str, int]]:
        """Each error at its file row; returns the (list, index) of the items named."""
        failed: set[tuple[str, int]] = set()
        for e in errors:
            parts = str(e.get("field", "")).split(".")
            if parts and parts[0] == "body":
                parts = parts[1:]
            key = parts[0] if parts else ""
            rows = sent.rows.get(key)
            if rows is None or len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(rows):
                first = sent.first()
                self._add(
                    RowError(
                        first.line, first.record_type, first.source_id, ".".join(parts), str(e.get("message"))
                    )
                )
                continue
            row = rows[int(parts[1])]
            failed.add((key, int(parts[1])))
            rest = parts[2:]
            part = self._part_row(key, row, rest)
            if part is not None:  # a TAF member, a plan's outcome or action: a row of its own
                self._add(
                    RowError(
                        part.line,
                        part.record_type,
                        part.source_id,
                        column_of(rest[2:]),
                        str(e.get("message")),
                    )
                )
                continue
            self._add(
                RowError(row.line, row.record_type, row.source_id, column_of(rest), str(e.get("message")))
            )
        return failed

    def _members_of(self, episode: Row) -> list[Row]:
        return self._members.get(episode.source_id, [])

    def _add(self, error: RowError) -> None:
        key = (error.line, error.column, error.message)
        if key not in self.reported:
            self.reported.add(key)
            self.outcome.errors.append(error)

    # ---- plans and consents: a lane after the episodes (they name episodes and people) ----

    async def _plans_and_consents(self, by_type: dict[str, list[Row]]) -> None:
        for kind in PLAN_KINDS[1:]:
            for r in by_type[kind]:
                self._plan_parts.setdefault((kind, str(r.data.get("plan"))), []).append(r)
        for kind, url, key in (("plan", PLANS_URL, "plans"), ("consent", CONSENTS_URL, "consents")):
            refer = ("episode", "episode") if kind == "plan" else ("person", "person")
            ready = []
            for r in by_type[kind]:
                if (refer[0], str(r.data.get(refer[1]))) in self.ids:
                    ready.append(r)
                else:  # its episode or person row failed (a dry run: a real run stops first)
                    self._add(
                        RowError(
                            r.line,
                            r.record_type,
                            r.source_id,
                            refer[1],
                            f"no {refer[0]} with source id {r.data.get(refer[1])!r} was imported",
                        )
                    )
                    self.on_progress(
                        1 + sum(len(self._plan_parts.get((k, r.source_id), [])) for k in PLAN_KINDS[1:])
                    )
            for chunk in self._chunks(ready):
                if self.outcome.errors and not self.dry_run:
                    return
                await self._send(self._plan_or_consent_sent(url, key, chunk))

    def _plan_or_consent_sent(self, url: str, key: str, chunk: list[Row]) -> Sent:
        if key == "consents":
            return Sent(url, {key: [consent_payload(r, self.ids) for r in chunk]}, {key: chunk}, len(chunk))
        body = []
        counts = len(chunk)
        for r in chunk:
            outcomes = self._plan_parts.get(("plan_outcome", r.source_id), [])
            actions = self._plan_parts.get(("plan_action", r.source_id), [])
            body.append(plan_payload(r, outcomes, actions, self.ids))
            counts += len(outcomes) + len(actions)
        return Sent(url, {key: body}, {key: chunk}, counts)

    def _part_row(self, key: str, row: Row, rest: list[str]) -> Row | None:
        """The TAF member (`episodes.0.taf.1.role`), plan outcome or action
        (`plans.0.actions.1.due_on`) row a 422 names."""
        if len(rest) < 2 or not rest[1].isdigit():
            return None
        if key == "episodes" and rest[0] == "taf":
            return self._members_of(row)[int(rest[1])]
        if key != "plans" or rest[0] not in ("outcomes", "actions"):
            return None
        kind = "plan_outcome" if rest[0] == "outcomes" else "plan_action"
        parts = self._plan_parts.get((kind, row.source_id), [])
        return parts[int(rest[1])] if int(rest[1]) < len(parts) else None


def write_report(path: Path, errors: list[RowError]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["line", "record_type", "source_id", "column", "message"])
        for e in sorted(errors, key=lambda e: (e.line, e.column)):
            out.writerow([e.line, e.record_type, e.source_id, e.column, e.message])


async def import_file(
    path: Path,
    client: httpx.AsyncClient,
    *,
    dry_run: bool,
    report: Path,
    batch_size: int = BATCH,
    stop_after: int | None = None,
    progress: bool = False,
) -> Outcome:
    """Check the file, then (dry run: check by the services; else: import) and write the
    report. Nothing is sent when the file itself has errors."""
    rows, errors = read_rows(path)
    errors += check(rows)
    if errors:
        outcome = Outcome(errors=errors)
    else:
        total = len(rows)
        async with _progress(progress, total, "Checking" if dry_run else "Importing") as advance:
            importer = Importer(
                client, batch_size=batch_size, dry_run=dry_run, stop_after=stop_after, on_progress=advance
            )
            outcome = await importer.run(rows)
    write_report(report, outcome.errors)
    return outcome


class _progress:
    """A rich progress bar over the file's rows (or nothing, for tests and pipes)."""

    def __init__(self, shown: bool, total: int, label: str) -> None:
        self.shown, self.total, self.label = shown, total, label
        self.bar: Any = None

    async def __aenter__(self) -> Callable[[int], None]:
        if not self.shown:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda n: self.bar.advance(task, n)

    async def __aexit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


class ClientCredentials(httpx.Auth):
    """A gateway access token (client credentials, scope imports:write), renewed on a 401."""

    def __init__(self, token_url: str, client_id: str, secret: str) -> None:
        self.token_url, self.client_id, self.secret = token_url, client_id, secret
        self.token: str | None = None

    async def _fetch(self) -> str:
        async with httpx.AsyncClient(timeout=30) as c:
            resp = await c.post(
                self.token_url,
                data={"grant_type": "client_credentials", "scope": SCOPE},
                auth=(self.client_id, self.secret),
            )
        if resp.status_code != 200:
            raise RuntimeError(
                f"the gateway refused the import client's token: {resp.status_code} {resp.text[:300]}"
            )
        return str(resp.json()["access_token"])

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.token is None:
            self.token = await self._fetch()
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self.token = await self._fetch()
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


def gateway_client(gateway_url: str, client_id: str, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=gateway_url,
        auth=ClientCredentials(f"{gateway_url.rstrip('/')}/oauth/token", client_id, secret),
        timeout=httpx.Timeout(120, connect=10),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.case_import", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("import", help="import (or with --dry-run, check) a CSV or JSON lines file")
    run.add_argument("file", type=Path)
    run.add_argument("--dry-run", action="store_true", help="check every row and store nothing")
    run.add_argument("--report", type=Path, help="the error report (default: FILE.errors.csv)")
    run.add_argument("--batch-size", type=int, default=BATCH, help=f"rows a request (at most {BATCH})")
    run.add_argument("--gateway", default=os.environ.get("EH_IMPORT_GATEWAY_URL", "http://127.0.0.1:8000"))
    run.add_argument("--no-progress", action="store_true", help="no progress bar (logs, pipes)")
    run.add_argument("--stop-after", type=int, help=argparse.SUPPRESS)  # a kill after N batches (tests)
    args = parser.parse_args(argv)
    client_id = os.environ.get("EH_IMPORT_CLIENT_ID")
    secret = os.environ.get("EH_IMPORT_CLIENT_SECRET")
    if not client_id or not secret:
        parser.error("set EH_IMPORT_CLIENT_ID and EH_IMPORT_CLIENT_SECRET (the council's admin client)")
    report = args.report or args.file.with_name(args.file.name + ".errors.csv")

    async def go() -> Outcome:
        async with gateway_client(args.gateway, client_id, secret) as client:
            return await import_file(
                args.file,
                client,
                dry_run=args.dry_run,
                report=report,
                batch_size=args.batch_size,
                stop_after=args.stop_after,
                progress=not args.no_progress,
            )

    outcome = asyncio.run(go())
    done = ", ".join(f"{k} {v}" for k, v in sorted(outcome.created.items()) if v) or "nothing"
    again = ", ".join(f"{k} {v}" for k, v in sorted(outcome.skipped.items()) if v) or "nothing"
    verb = "checked" if args.dry_run else "created"
    print(f"{verb}: {done}; already imported: {again}; errors: {len(outcome.errors)} (report: {report})")
    if outcome.stopped:
        print("stopped before the end: run the same command again to resume")
    return 1 if outcome.errors or outcome.stopped else 0


if __name__ == "__main__":
    raise SystemExit(main())
