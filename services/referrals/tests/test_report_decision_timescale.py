"""Decisions within the decision timescale (issue 21, item 4): the referral report names the
council's `decision_working_days`, and counts against it."""

from __future__ import annotations

import csv
import io

import pytest

from services.referrals.reports import decision_timescale_label
from services.referrals.tests.conftest import child, london, rfs


async def _two_decisions(svc):
    """Received Monday 10:00; one decided Wednesday 09:00, one Thursday 09:00 (London)."""
    for i, decided_on in enumerate((3, 4)):
        svc.now = london(2027, 3, 1, 10)
        body = rfs(children=[child("Ada", f"Day{i}", "2015-01-01")])
        out = await svc.create("school_a", body)
        svc.now = london(2027, 3, decided_on, 9)
        assert (await svc.decide(out["id"])).status_code == 200


async def _report(svc, accept: str = "application/json"):
    resp = await svc.client.get(
        "/v1/reports/referrals",
        params={"from": "2027-03-01", "to": "2027-03-31"},
        headers={**svc.as_("mash"), "Accept": accept},
    )
    assert resp.status_code == 200, resp.text
    return resp


@pytest.mark.parametrize(
    ("days", "label", "within"),
    [(1, "within_1_working_day", 0), (2, "within_2_working_days", 1), (3, "within_3_working_days", 2)],
)
async def test_the_label_and_the_count_follow_the_setting(make_referrals, days, label, within):
    svc = await make_referrals(decision_working_days=days)
    await _two_decisions(svc)
    figure = (await _report(svc)).json()["decided_within_timescale"]
    assert figure == {
        "decided": 2,
        "within_timescale": within,
        "share": within / 2,
        "timescale": label,
        "working_days": days,
    }
    rows = list(csv.reader(io.StringIO((await _report(svc, "text/csv")).text)))
    figures = {(s, k, m): v for s, k, m, v in rows[1:]}
    assert figures[("decided_within_timescale", "", "timescale")] == label
    assert figures[("decided_within_timescale", "", "within_timescale")] == str(within)


def test_label_names():
    assert decision_timescale_label(1) == "within_1_working_day"
    assert decision_timescale_label(0) == "within_0_working_days"
