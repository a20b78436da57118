"""The JSNA feed (jsna.py): referred families by need, period and postcode district, suppressed.

The families (London times; addresses make the family):
  A  1 Oak Street, S60 1AE   2026-01-05 PMH + school attendance; 2026-01-20 a sibling: PMH + DA
  B  2 Elm Road,  S60 2BB    2026-01-12 PMH
  C  3 Ash Lane,  S61 4AA    2026-03-31 23:30 BST: March (22:30 UTC)          DA
  D  4 Fir Close, S61 4AB    2026-04-01 00:30 BST: April (still 31 March UTC)  DA
  E  5 Yew Walk,  S60 1AE    2026-02-27 housing; 2026-04-02 housing (same family, two quarters)
The clock then stands at 2026-05-10: January to April are whole months that have ended.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.referrals import jsna
from services.referrals.codes import NEED_CODES
from services.referrals.models import ReferralNeed
from services.referrals.tests.conftest import child, london, rfs
from shared.testing import pg_base_url

TODAY = london(2026, 5, 10, 12)
ADDRESS = {
    "A": ("1 Oak Street", "S60 1AE"),
    "B": ("2 Elm Road", "s60 2bb"),
    "C": ("3 Ash Lane", "S61 4AA"),
    "D": ("4 Fir Close", "S614AB"),
    "E": ("5 Yew Walk", "S60 1AE"),
}


async def refer(svc, when, family, needs, given="Amira", dob="2017-03-02"):
    svc.now = when
    line1, postcode = ADDRESS[family]
    body = rfs(
        children=[child(given, f"Family{family}", dob)],
        adults=[],
        address={"line1": line1, "postcode": postcode},
        needs=needs,
        consent=consent_at(when),
    )
    return await svc.create(body=body, seen_by=None)


def consent_at(when):
    return {
        "obtained": True,
        "given_by": "Parent",
        "obtained_at": (when - timedelta(hours=1)).isoformat(),
        "method": "phone",
    }


@pytest.fixture
async def families(svc):
    await refer(svc, london(2026, 1, 5, 10), "A", ["parental_mental_health", "school_attendance"])
    await refer(
        svc, london(2026, 1, 20, 10), "A", ["parental_mental_health", "domestic_abuse"], "Zain", "2019-01-01"
    )
    await refer(svc, london(2026, 1, 12, 10), "B", ["parental_mental_health"])
    await refer(svc, london(2026, 3, 31, 23, 30), "C", ["domestic_abuse"])
    await refer(svc, london(2026, 4, 1, 0, 30), "D", ["domestic_abuse"])
    await refer(svc, london(2026, 2, 27, 10), "E", ["housing"])
    await refer(svc, london(2026, 4, 2, 10), "E", ["housing"])
    svc.now = TODAY
    return svc


async def raw_counts(svc, kind, first_month, last_month):
    async with svc.runtime.db.session(write=False) as s:
        rows = (await s.execute(jsna.counts_query(kind, first_month, last_month))).all()
    return {(jsna.period_label(r.period, kind), r.need, r.district): r.families for r in rows}


JAN, APR = 2026 * 12, 2026 * 12 + 3


def test_district_is_the_outward_code():
    assert jsna.district("S60 2AB") == "S60"
    assert jsna.district("s602ab") == "S60"
    assert jsna.district("SW1A1AA") == "SW1A"
    assert jsna.district("M1 1AE") == "M1"
    assert jsna.district("EC1A 1BB") == "EC1A"
    assert jsna.district(None) == "unknown"
    assert jsna.district("") == "unknown"
    assert jsna.district("nonsense") == "unknown"


def test_periods_are_calendar_months_and_quarters():
    assert jsna.period_label(jsna.period_of(london(2026, 3, 31).date(), "quarter"), "quarter") == "2026-Q1"
    assert jsna.period_bounds(jsna.period_of(london(2026, 5, 2).date(), "quarter"), "quarter") == (
        london(2026, 4, 1).date(),
        london(2026, 6, 30).date(),
    )
    assert jsna.period_label(jsna.period_of(london(2026, 12, 31).date(), "month"), "month") == "2026-12"
    # Whole periods that have ended: the current one is left out.
    periods = jsna.whole_periods(london(2026, 1, 15).date(), london(2026, 5, 9).date(), "month", TODAY.date())
    assert [jsna.period_label(p, "month") for p in periods] == ["2026-01", "2026-02", "2026-03", "2026-04"]


async def test_a_family_counts_once_per_cell(families):
    counts = await raw_counts(families, "month", JAN, APR)
    # Family A: two referrals in January naming PMH, one family; with B, two families.
    assert counts[("2026-01", "parental_mental_health", "S60")] == 2
    assert counts[("2026-01", "school_attendance", "S60")] == 1
    assert counts[("2026-01", "domestic_abuse", "S60")] == 1
    # Family E in February and in April: once in each month, once in each quarter.
    assert counts[("2026-02", "housing", "S60")] == 1 and counts[("2026-04", "housing", "S60")] == 1
    quarters = await raw_counts(families, "quarter", JAN, APR + 2)
    assert quarters[("2026-Q1", "housing", "S60")] == 1 and quarters[("2026-Q2", "housing", "S60")] == 1
    assert quarters[("2026-Q1", "parental_mental_health", "S60")] == 2


async def test_period_boundaries_are_london_days(families):
    counts = await raw_counts(families, "month", JAN, APR)
    # 23:30 BST on 31 March is March; 00:30 BST on 1 April (23:30 UTC on 31 March) is April.
    assert counts[("2026-03", "domestic_abuse", "S61")] == 1
    assert counts[("2026-04", "domestic_abuse", "S61")] == 1
    assert ("2026-03", "domestic_abuse", "S61") in counts and len([k for k in counts if k[2] == "S61"]) == 2


async def test_every_need_is_listed_with_zeros_and_small_cells_suppressed(families):
    resp = await families.client.get(
        "/v1/reports/jsna",
        params={"from": "2026-01-10", "to": "2026-04-03", "period": "month"},
        headers=families.as_("mash"),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # Whole months: from goes back to 1 January, to on to 30 April.
    assert (body["from"], body["to"], body["threshold"]) == ("2026-01-01", "2026-04-30", 5)
    assert body["needs"] == list(NEED_CODES)
    assert body["districts"] == ["S60", "S61"]
    assert [p["label"] for p in body["periods"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert len(body["cells"]) == 4 * len(NEED_CODES) * 2
    cell = {(c["period"], c["need"], c["district"]): c for c in body["cells"]}
    # A need no one was referred for is there, as zero, published.
    for need in ("substance_misuse", "parental_substance_misuse", "worklessness"):
        assert cell[("2026-01", need, "S60")] == {
            "period": "2026-01",
            "need": need,
            "district": "S60",
            "count": 0,
            "suppressed": False,
            "reason": None,
        }
    pmh = cell[("2026-01", "parental_mental_health", "S60")]
    assert pmh["count"] is None and pmh["suppressed"] and pmh["reason"] == "primary"
    # Nothing under the threshold shows, in cells or totals.
    assert all(c["count"] is None or c["count"] == 0 or c["count"] >= 5 for c in body["cells"])
    assert all(t["count"] is None or t["count"] == 0 or t["count"] >= 5 for t in body["totals"])


async def test_the_threshold_is_a_setting_and_secondary_suppression_protects_totals(make_referrals):
    svc = await make_referrals(jsna_suppression_threshold=3)
    # January: PMH in S60 for four families, in S61 for one; DA in S60 for three, in S61 for five.
    specs = [("S60", "parental_mental_health")] * 4 + [("S61", "parental_mental_health")]
    specs += [("S60", "domestic_abuse")] * 3 + [("S61", "domestic_abuse")] * 5
    for i, (place, need) in enumerate(specs):
        svc.now = london(2026, 1, 2 + i, 10)
        body = rfs(
            children=[child("Kid", f"Fam{i}", "2015-01-01")],
            adults=[],
            address={"line1": f"{i} High Street", "postcode": f"{place} 1AA"},
            needs=[need],
            consent=consent_at(svc.now),
        )
        await svc.create(body=body, seen_by=None)
    svc.now = TODAY
    resp = await svc.client.get(
        "/v1/reports/jsna", params={"from": "2026-01-01", "to": "2026-01-31"}, headers=svc.as_("mash")
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    cell = {(c["need"], c["district"]): c for c in body["cells"]}
    assert cell[("parental_mental_health", "S61")]["reason"] == "primary"
    # Its row and column each have a second suppressed cell: the smallest of each.
    assert cell[("parental_mental_health", "S60")]["reason"] == "secondary"
    assert cell[("domestic_abuse", "S61")]["reason"] == "secondary"
    assert cell[("domestic_abuse", "S60")]["reason"] == "secondary"
    total = {(t["need"], t["district"]): t for t in body["totals"]}
    # No total, with the published cells, pins the 1: each total over suppressed cells either
    # is withheld or spans two of them.
    for t in body["totals"]:
        hidden = [
            c
            for c in body["cells"]
            if c["suppressed"]
            and (t["need"] in (None, c["need"]))
            and (t["district"] in (None, c["district"]))
        ]
        assert t["count"] is None or len(hidden) != 1
    assert total[("housing", None)]["count"] == 0


async def test_csv_has_the_described_columns(families):
    resp = await families.client.get(
        "/v1/reports/jsna",
        params={"from": "2026-01-01", "to": "2026-06-30", "period": "quarter", "format": "csv"},
        headers=families.as_("early_help"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert list(rows[0]) == list(jsna.CSV_COLUMNS)
    # Q2 has not ended on 10 May: only Q1.
    assert {r["period"] for r in rows} == {"2026-Q1"}
    cells = [r for r in rows if r["kind"] == "cell"]
    assert len(cells) == len(NEED_CODES) * 2
    zero = next(r for r in cells if r["need"] == "worklessness" and r["district"] == "S60")
    assert (zero["count"], zero["suppressed"], zero["reason"]) == ("0", "false", "")
    pmh = next(r for r in cells if r["need"] == "parental_mental_health" and r["district"] == "S60")
    assert (pmh["count"], pmh["suppressed"], pmh["reason"]) == ("", "true", "primary")
    assert (pmh["period_start"], pmh["period_end"]) == ("2026-01-01", "2026-03-31")
    assert {r["kind"] for r in rows} == {"cell", "need_total", "district_total", "period_total"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "week"}, "period"),
        ({"format": "xlsx"}, "format"),
        ({"from": "2026-04-01", "to": "2026-01-01"}, "from"),
        ({"from": "2026-05-01", "to": "2026-05-09"}, "to"),  # May has not ended
        ({"from": "not-a-date"}, "from"),
        ({"bogus": "1"}, "bogus"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(svc, params, field):
    svc.now = TODAY
    resp = await svc.client.get("/v1/reports/jsna", params=params, headers=svc.as_("mash"))
    assert resp.status_code == 422, resp.text
    assert field in resp.text
    problem = resp.json()
    assert any(e.get("field") == field for e in problem.get("errors", [])) or field in problem.get(
        "detail", ""
    )


async def test_access_is_the_referral_reports(svc):
    svc.now = TODAY
    assert (await svc.client.get("/v1/reports/jsna", headers=svc.as_("school_a"))).status_code == 403
    assert (await svc.client.get("/v1/reports/jsna", headers=svc.as_("social_care"))).status_code == 403
    empty = await svc.client.get("/v1/reports/jsna", headers=svc.as_("early_help"))
    assert empty.status_code == 200, empty.text
    body = empty.json()
    assert body["cells"] == [] and body["districts"] == [] and len(body["periods"]) == 12
    assert {t["count"] for t in body["totals"]} == {0}


async def test_the_migration_backfills_what_intake_writes(families):
    """Migration 0008's backfill (run again over the stored referrals) writes the rows intake wrote."""
    import asyncio

    from services.referrals.tests.conftest import SERVICE_DIR
    from services.referrals.tests.test_migration import alembic_downgrade
    from shared.db import alembic_upgrade

    db = families.runtime.db

    def rows_query():
        n = ReferralNeed
        return select(n.referral_id, n.need, n.month, n.district, n.family_key, n.received_at).order_by(
            n.referral_id, n.need
        )

    async with db.session(write=False) as s:
        kept = (await s.execute(rows_query())).all()
    assert len(kept) == 9
    for engine in {db.write_engine, db.read_engine}:
        await engine.dispose()
    await asyncio.to_thread(alembic_downgrade, db.url, "0008")
    await db.write_engine.dispose()
    await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, db.url, "head")
    async with db.session(write=False) as s:
        assert (await s.execute(rows_query())).all() == kept


@pytest.mark.skipif(not pg_base_url(), reason="PostgreSQL: the same SQL on the other dialect")
async def test_counts_on_postgresql_match(families):
    counts = await raw_counts(families, "quarter", JAN, APR + 2)
    assert counts[("2026-Q1", "parental_mental_health", "S60")] == 2
    assert counts[("2026-Q2", "domestic_abuse", "S61")] == 1
