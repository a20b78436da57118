"""The Supporting Families claims export written by PostgreSQL (`sf_repository.claims_lines`)
is byte for byte the one Python writes (`claims_csv_python`): hand-built facts with awkward text
(commas, quotes, CR and LF, non-ASCII), a family without evidence, a headline outside the ten.
On SQLite the endpoint is the Python path, so the test checks the rows only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert

from services.assessments.context import Context
from services.assessments.models import Episode, SfEvidenceFact, SfHeadline
from services.assessments.supporting_families import _scope, claims_csv_python
from services.assessments.tests.conftest import EH, h
from services.assessments.tests.test_supporting_families import SF

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ODD_ID = 'a,"1"\r\né'
ODD_REF = 'EH,"ré"\nx'
ODD_HEADLINE = 'zz "odd", 1'


def _episode(eid: str, reference: str, opened: datetime, closed: datetime | None) -> dict[str, Any]:
    return {
        "id": eid,
        "reference": reference,
        "origin": "referral",
        "level_of_need": "partnership_plus",
        "status": "closed" if closed else "open",
        "opened_at": opened,
        "updated_at": opened,
        "first_contact_due_at": opened,
        "assessment_start_due_at": opened,
        "assessment_complete_due_at": opened,
        "social_care_involved": False,
        "closed_at": closed,
        "version": 1,
    }


def _headline(
    eid: str, headline: str, opened: datetime, met: date | None, at_start: int = 1
) -> dict[str, Any]:
    return {
        "episode_id": eid,
        "headline": headline,
        "opened_at": opened,
        "at_start": at_start,
        "from_needs": at_start,
        "from_plan": 0,
        "met_on": met,
        "re_referral_after_on": None,
        "review_below_after_on": None,
    }


def _evidence(eid: str, headline: str, kind: str, outcome: str, on: date, review: str = "") -> dict[str, Any]:
    scored = kind == "review"
    return {
        "episode_id": eid,
        "headline": headline,
        "kind": kind,
        "review_id": review,
        "outcome_id": outcome,
        "evidenced_on": on,
        "score": 8 if scored else None,
        "target_score": 7 if scored else None,
    }


async def _load(svc) -> None:
    """Written on the connection, past the session listeners that would recompute the facts."""
    a_open = datetime(2025, 1, 2, 23, 30, tzinfo=UTC)
    b_open = datetime(2025, 1, 2, 23, 30, tzinfo=UTC)  # the same moment: ordered by id
    c_open = datetime(2025, 3, 1, 9, tzinfo=UTC)
    met = date(2025, 2, 10)
    episodes = [
        _episode(ODD_ID, ODD_REF, a_open, datetime(2025, 9, 30, 23, 59, tzinfo=UTC)),
        _episode("b-plain", "EH,2", b_open, None),
        _episode("d-lines", "EH\r4", c_open, None),
        _episode("c-blocked", "EH-3", c_open, None),
    ]
    headlines = [
        _headline(ODD_ID, "secure_housing", a_open, met),
        _headline(ODD_ID, "good_education", a_open, date(2025, 3, 31)),
        _headline(ODD_ID, ODD_HEADLINE, a_open, met),
        _headline(ODD_ID, "better_health", a_open, date(2025, 8, 31), at_start=0),  # the latest
        _headline("b-plain", "good_education", b_open, met),
        _headline("b-plain", "secure_housing", b_open, met),
        _headline("d-lines", "good_education", c_open, met),
        _headline("d-lines", "secure_housing", c_open, met),
        _headline("c-blocked", "good_education", c_open, met),
        _headline("c-blocked", "secure_housing", c_open, None),
    ]
    evidence = [
        _evidence(ODD_ID, "secure_housing", "review", 'o,"é"', met, review='r"1\r\n'),
        _evidence(ODD_ID, "secure_housing", "closure_outcome", "o2", met),
        _evidence(ODD_ID, "secure_housing", "review", "o1", met, review="r-0"),
        _evidence(ODD_ID, "good_education", "review", "o3", date(2025, 3, 31), review="r-2"),
        _evidence(ODD_ID, ODD_HEADLINE, "closure_outcome", "ö4", met),
        _evidence(ODD_ID, "better_health", "closure_outcome", "o5", date(2025, 8, 31)),
        _evidence("c-blocked", "good_education", "closure_outcome", "o6", met),
        _evidence("d-lines", "good_education", "closure_outcome", "o,8", met),
    ]
    async with svc.runtime.db.session() as s:
        conn = await s.connection()
        await conn.execute(insert(Episode), episodes)
        await conn.execute(insert(SfHeadline), headlines)
        await conn.execute(insert(SfEvidenceFact), evidence)


async def test_the_database_writes_the_claims_csv_python_writes(svc, clock):
    await _load(svc)
    clock.set(NOW)
    for params in ({}, {"from": "2025-01-02", "to": "2025-01-02"}, {"from": "2025-03-01"}):
        r = await svc.client.get(f"{SF}/claims", params=params, headers=h(svc, EH))
        assert r.status_code == 200, r.text
        async with svc.runtime.db.session(write=False) as s:
            scope = _scope(*(date.fromisoformat(params[k]) if k in params else None for k in ("from", "to")))
            expected = await claims_csv_python(Context.for_system(s, svc.runtime, NOW), scope)
        assert r.content == expected.encode(), params
    r = await svc.client.get(f"{SF}/claims", headers=h(svc, EH))
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    assert [row[:4] for row in rows[1:]] == [
        [ODD_ID, ODD_REF, "2025-01-02", "2025-09-30"],
        ["b-plain", "EH,2", "2025-01-02", ""],
        ["d-lines", "EH\r4", "2025-03-01", ""],
    ]
    odd, plain = rows[1], rows[2]
    assert odd[4:7] == [f"good_education;secure_housing;{ODD_HEADLINE}", "3", "2026-02-28"]
    assert odd[8].split(";") == [
        "good_education@2025-09-30",
        "secure_housing@2025-08-10",
        f"{ODD_HEADLINE}@2025-08-10",
    ]
    assert odd[9].split(";")[:4] == [
        "better_health=closure_outcome:o5@2025-08-31",
        "good_education=review:r-2:o3:8/7@2025-03-31",
        "secure_housing=closure_outcome:o2@2025-02-10",
        'secure_housing=review:r"1\r\n:o,"é":8/7@2025-02-10',
    ]
    assert plain[9] == "" and rows[3][9] == "good_education=closure_outcome:o,8@2025-02-10"
    assert r.text.endswith("\r\n")
