"""The JSNA feed through the gateway (issue 21 item 3): the real processes, tokens from the
gateway, the demo clients. Every JSON answer is checked against the OpenAPI document by the
suite's conformance hook; the CSV is parsed against the columns the document describes.

The stack runs on the real clock, so a referral made here falls in the current month, which
the feed leaves out until it ends: the test shows that too.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from services.referrals.jsna import CSV_COLUMNS
from tests.e2e.test_referrals import MASH, SCHOOL_A, request_for_support, unique_name

pytestmark = pytest.mark.e2e

EARLY_HELP = "demo-early-help"


def test_the_jsna_feed_through_the_gateway(api):
    made = api.post(SCHOOL_A, "/v1/referrals", json=request_for_support(unique_name()))
    assert made.status_code == 201, made.text

    resp = api.get(MASH, "/v1/reports/jsna", params={"period": "quarter"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["period"] == "quarter" and body["threshold"] >= 3
    assert "parental_mental_health" in body["needs"] and "domestic_abuse" in body["needs"]
    assert "substance_misuse" in body["needs"]
    # Whole quarters that have ended: the last ends before today.
    assert date.fromisoformat(body["to"]) < date.today()
    assert all(
        c["count"] is None or c["count"] == 0 or c["count"] >= body["threshold"] for c in body["cells"]
    )
    assert all(c["suppressed"] == (c["count"] is None) for c in body["cells"])

    as_csv = api.get(EARLY_HELP, "/v1/reports/jsna", params={"period": "month", "format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len({r["period"] for r in rows}) == 12
    assert {r["kind"] for r in rows} >= {"need_total", "period_total"}
    this_month = date.today().strftime("%Y-%m")
    assert this_month not in {r["period"] for r in rows}

    bad = api.get(MASH, "/v1/reports/jsna", params={"period": "week"})
    assert bad.status_code == 422 and "period" in bad.text
    # A school holds no reports:read: the gateway refuses it.
    assert api.get(SCHOOL_A, "/v1/reports/jsna").status_code == 403
