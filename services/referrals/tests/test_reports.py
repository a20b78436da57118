"""The referral report against a hand-built year of referrals, figure by figure.

Follow-ups are counted per child named, as the Children in Need census counts referrals.

The data set (London times; P, T, B, K, M, C, S, I are eight children):
  R1  2025-06-10  2A  P  NFA                          (before the period: makes R2 a re-referral)
  R2  2026-02-02  2A  P  NFA, in time                  re-referral; later R10 (escalated)
  R3  2026-03-02  6   T  TAF, decided late             episode opened
  R4  2026-04-01  3F  B  NFA, in time                  later R5 (escalated) and an episode for B
  R5  2026-05-05  2A  B  social care assessment        re-referral
  R6  2026-06-01  6   K  withdrawn
  R7  2026-07-01  3F  M  awaiting decision
  R8  2026-07-02  6   M  linked to R7                  re-referral
  R9  2026-08-03  2A  C+S single-agency early help     two children: C and a sibling S
  R10 2026-09-01  6   P  safeguarding, strategy discussion (urgent)   re-referral
  R12 2026-10-01  8   I  NFA, in time                  later R13, but more than 12 months on
  R13 2027-11-01  2A  I  awaiting decision            (after the period)
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from services.referrals.tests.conftest import child, london, rfs
from shared.testing import pg_base_url

CHILDREN = {
    "P": ("Oliver", "Price", "2014-01-01"),
    "T": ("Isla", "Turner", "2013-02-02"),
    "B": ("Noah", "Bennett", "2012-03-03"),
    "K": ("Freya", "Khan", "2011-04-04"),
    "M": ("Arlo", "Murphy", "2010-05-05"),
    "C": ("Ivy", "Clarke", "2016-06-06"),
    "S": ("Rosa", "Clarke", "2018-08-08"),
    "I": ("Theo", "Lewis", "2015-07-07"),
}
CALLER = {"2A": "school_a", "3F": "health", "6": "police", "8": "voluntary"}


@pytest.fixture
async def year(svc):
    async def referral(when, code, who, **extra):
        svc.now = when
        consent = {
            "obtained": True,
            "given_by": "Parent",
            "obtained_at": (when - timedelta(days=1)).isoformat(),
            "method": "phone",
        }
        body = rfs(
            children=[
                {"given_name": given, "family_name": family, "date_of_birth": dob}
                for given, family, dob in (CHILDREN[w] for w in who)
            ],
            adults=[],
            **{"consent": consent, **extra},
        )
        headers = (
            svc.h.headers(agency_type="voluntary", agency_id="agency-vol", scopes="referrals:create")
            if code == "8"
            else svc.as_(CALLER[code])
        )
        resp = await svc.client.post("/v1/referrals", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        assert resp.json()["source_code"] == code
        # As the MASH sees it: partners are not shown the index's person ids or links.
        resp = await svc.client.get(f"/v1/referrals/{resp.json()['id']}", headers=svc.as_("mash"))
        return resp.json()

    async def decide(ref, when, level, outcome):
        svc.now = when
        resp = await svc.decide(ref["id"], level, outcome)
        assert resp.status_code == 200, resp.text

    r1 = await referral(london(2025, 6, 10, 9), "2A", "P")
    await decide(r1, london(2025, 6, 10, 12), "universal", "no_further_action")
    r2 = await referral(london(2026, 2, 2, 9), "2A", "P")
    await decide(r2, london(2026, 2, 2, 15), "universal", "no_further_action")
    r3 = await referral(london(2026, 3, 2, 9), "6", "T")
    await decide(r3, london(2026, 3, 4, 10), "partnership_plus", "team_around_the_family")
    r4 = await referral(london(2026, 4, 1, 9), "3F", "B")
    await decide(r4, london(2026, 4, 1, 11), "universal", "no_further_action")
    r5 = await referral(london(2026, 5, 5, 9), "2A", "B")
    await decide(r5, london(2026, 5, 5, 12), "specialist", "social_care_assessment")
    r6 = await referral(london(2026, 6, 1, 9), "6", "K")
    svc.now = london(2026, 6, 1, 10)
    await svc.client.post(
        f"/v1/referrals/{r6['id']}/withdraw", json={"reason": "sent in error"}, headers=svc.as_("police")
    )
    await referral(london(2026, 7, 1, 9), "3F", "M")
    r8 = await referral(london(2026, 7, 2, 9), "6", "M")
    assert r8["status"] == "linked"
    r9 = await referral(london(2026, 8, 3, 9), "2A", "CS")
    await decide(r9, london(2026, 8, 3, 16), "universal_plus", "single_agency_early_help")
    r10 = await referral(london(2026, 9, 1, 9), "6", "P", referral_type="safeguarding_concern", consent=None)
    await decide(r10, london(2026, 9, 1, 11), "specialist", "strategy_discussion")
    r12 = await referral(london(2026, 10, 1, 9), "8", "I")
    await decide(r12, london(2026, 10, 1, 10), "universal", "no_further_action")
    await referral(london(2027, 11, 1, 9), "2A", "I")
    # The episodes the assessments service opened: R3's TAF, and a step-down for B in June.
    await svc.event(
        "episode.opened",
        {
            "episode_id": "ep-t",
            "referral_id": r3["id"],
            "person_ids": [r3["children"][0]["person_id"]],
            "origin": "referral",
            "opened_at": "2026-03-05T10:00:00+00:00",
        },
    )
    await svc.event(
        "episode.opened",
        {
            "episode_id": "ep-b",
            "person_ids": [r4["children"][0]["person_id"]],
            "origin": "step_down",
            "opened_at": "2026-06-01T10:00:00+00:00",
        },
    )
    svc.now = None
    return svc


EXPECTED = {
    "from": "2026-01-01",
    "to": "2026-12-31",
    "totals": {
        "received": 10,
        "awaiting_decision": 1,
        "linked": 1,
        "withdrawn": 1,
        "decided": 7,
        "urgent": 1,
    },
    "by_source_code": [
        {
            "source_code": "2A",
            "received": 3,
            "decided": 3,
            "no_further_action": 1,
            "early_help": 1,
            "social_care": 1,
            "decided_within_timescale": 3,
            "no_further_action_rate": 0.3333,
            "conversion_to_early_help": 0.3333,
            "children": 4,
            "re_referrals": 2,
            "re_referral_rate": 0.5,
        },
        {
            "source_code": "3F",
            "received": 2,
            "decided": 1,
            "no_further_action": 1,
            "early_help": 0,
            "social_care": 0,
            "decided_within_timescale": 1,
            "no_further_action_rate": 1.0,
            "conversion_to_early_help": 0.0,
            "children": 2,
            "re_referrals": 0,
            "re_referral_rate": 0.0,
        },
        {
            "source_code": "6",
            "received": 4,
            "decided": 2,
            "no_further_action": 0,
            "early_help": 1,
            "social_care": 1,
            "decided_within_timescale": 1,
            "no_further_action_rate": 0.0,
            "conversion_to_early_help": 0.5,
            "children": 4,
            "re_referrals": 2,
            "re_referral_rate": 0.5,
        },
        {
            "source_code": "8",
            "received": 1,
            "decided": 1,
            "no_further_action": 1,
            "early_help": 0,
            "social_care": 0,
            "decided_within_timescale": 1,
            "no_further_action_rate": 1.0,
            "conversion_to_early_help": 0.0,
            "children": 1,
            "re_referrals": 0,
            "re_referral_rate": 0.0,
        },
    ],
    "by_outcome": [
        {"outcome": "linked", "count": 1},
        {"outcome": "no_further_action", "count": 3},
        {"outcome": "received", "count": 1},
        {"outcome": "single_agency_early_help", "count": 1},
        {"outcome": "social_care_assessment", "count": 1},
        {"outcome": "strategy_discussion", "count": 1},
        {"outcome": "team_around_the_family", "count": 1},
        {"outcome": "withdrawn", "count": 1},
    ],
    "decided_within_timescale": {
        "decided": 7,
        "within_timescale": 6,
        "share": 0.8571,
        "timescale": "within_1_working_day",
        "working_days": 1,
    },
    "conversion_to_early_help": {"decided": 7, "early_help": 2, "share": 0.2857, "episodes_opened": 1},
    "re_referrals_within_12_months": {"children_referred": 11, "re_referrals": 4, "share": 0.3636},
    "no_further_action_follow_up": {
        "referrals_closed_no_further_action": 3,
        "children": 3,
        "re_referred_later": 3,
        "re_referred_within_12_months": 2,
        "stepped_up_later": 2,
        "early_help_episode_later": 1,
        "re_referred_share": 1.0,
    },
}


async def test_report_figures_match_the_hand_built_year(year):
    resp = await year.client.get(
        "/v1/reports/referrals", params={"from": "2026-01-01", "to": "2026-12-31"}, headers=year.as_("mash")
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == EXPECTED
    # Byte for byte, key order included, as before the report was typed (`ReferralReport`).
    assert resp.content == json.dumps(EXPECTED, separators=(",", ":"), ensure_ascii=False).encode()


async def test_report_as_csv(year):
    resp = await year.client.get(
        "/v1/reports/referrals",
        params={"from": "2026-01-01", "to": "2026-12-31"},
        headers={**year.as_("early_help"), "Accept": "text/csv"},
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows[0] == ["section", "key", "metric", "value"]
    figures = {(s, k, m): v for s, k, m, v in rows[1:]}
    assert figures[("totals", "", "received")] == "10"
    assert figures[("decided_within_timescale", "", "share")] == "0.8571"
    assert figures[("by_source_code", "6", "conversion_to_early_help")] == "0.5"
    assert figures[("by_outcome", "no_further_action", "count")] == "3"
    assert figures[("no_further_action_follow_up", "", "stepped_up_later")] == "2"


async def test_a_narrower_period(year):
    """Q1 2026 only: R2 and R3. R2's re-referral still counts R1 from the year before."""
    resp = await year.client.get(
        "/v1/reports/referrals", params={"from": "2026-01-01", "to": "2026-03-31"}, headers=year.as_("mash")
    )
    out = resp.json()
    assert out["totals"]["received"] == 2
    assert out["re_referrals_within_12_months"] == {"children_referred": 2, "re_referrals": 1, "share": 0.5}
    assert out["no_further_action_follow_up"]["re_referred_later"] == 1  # R10, after the period


async def test_report_access_and_bad_periods(svc):
    assert (await svc.client.get("/v1/reports/referrals", headers=svc.as_("school_a"))).status_code == 403
    bad = await svc.client.get(
        "/v1/reports/referrals", params={"from": "2026-12-01", "to": "2026-01-01"}, headers=svc.as_("mash")
    )
    assert bad.status_code == 422
    empty = (await svc.client.get("/v1/reports/referrals", headers=svc.as_("mash"))).json()
    assert empty["totals"]["received"] == 0 and empty["decided_within_timescale"]["share"] is None


@pytest.mark.skipif(not pg_base_url(), reason="PostgreSQL planner settings")
async def test_the_report_runs_in_a_transaction_that_keeps_its_planner_settings(svc, monkeypatch):
    """Read sessions run outside transactions on PostgreSQL; the report's `SET LOCAL`
    settings need one, and the route asks for it."""
    from sqlalchemy import text

    from services.referrals import reports

    seen: list[str] = []
    original = reports.referral_report

    async def spy(ctx, start_on, end_on):
        out = await original(ctx, start_on, end_on)
        seen.append((await ctx.session.execute(text("SHOW work_mem"))).scalar_one())
        return out

    monkeypatch.setattr(reports, "referral_report", spy)
    resp = await svc.client.get("/v1/reports/referrals", headers=svc.as_("mash"))
    assert resp.status_code == 200, resp.text
    assert seen == ["64MB"]


def _facts_query():
    from sqlalchemy import select

    from services.referrals.models import ReferralPerson as RP

    return select(
        RP.referral_id,
        RP.role,
        RP.position,
        RP.previous_received_at,
        RP.next_received_at,
        RP.escalated_later,
        RP.episode_after_decision,
    ).order_by(RP.referral_id, RP.role, RP.position)


async def test_the_backfill_gives_the_facts_the_service_kept(year):
    """The timeline facts kept as each referral, decision and episode arrived equal those the
    migration's backfill (and `follow_up_facts()` for everyone) compute from scratch."""
    import importlib

    from sqlalchemy import text, update

    from services.referrals import reports
    from services.referrals.models import ReferralPerson as RP

    migration = importlib.import_module("services.referrals.migrations.versions.0003_follow_up_facts")
    db = year.runtime.db
    async with db.session(write=False) as s:
        kept = (await s.execute(_facts_query())).all()
    assert any(row.previous_received_at for row in kept) and any(row.escalated_later for row in kept)
    assert any(row.episode_after_decision for row in kept)
    wiped = {
        "previous_received_at": None,
        "next_received_at": None,
        "escalated_later": False,
        "episode_after_decision": False,
    }
    for recompute in (text(migration.BACKFILL), reports.follow_up_facts()):
        async with db.session() as s:
            await s.execute(update(RP).values(**wiped))
            await s.execute(recompute)
        async with db.session(write=False) as s:
            assert (await s.execute(_facts_query())).all() == kept


async def test_a_merge_and_its_undo_move_a_childs_timeline(svc):
    """Two records of one boy: merged, his second referral becomes a re-referral and his first
    NFA one 're-referred later'; undone, both figures go back."""
    svc.now = london(2026, 10, 5, 9)
    a = await svc.create("school_a", rfs(children=[child("Leo", "Hart", "2016-01-01")]))
    svc.now = london(2026, 10, 5, 12)
    assert (await svc.decide(a["id"], "universal", "no_further_action")).status_code == 200
    svc.now = london(2026, 11, 2, 9)
    b = await svc.create(
        "police",
        rfs(children=[child("Leon", "Hartley", "2016-01-01")], address={"line1": "x", "postcode": "S1 2HE"}),
    )
    svc.now = None
    leo, leon = a["children"][0]["person_id"], b["children"][0]["person_id"]
    headers = svc.as_("mash")

    async def figures():
        resp = await svc.client.get(
            "/v1/reports/referrals", params={"from": "2026-01-01", "to": "2026-12-31"}, headers=headers
        )
        out = resp.json()
        return (
            out["re_referrals_within_12_months"]["re_referrals"],
            out["no_further_action_follow_up"]["re_referred_later"],
        )

    assert await figures() == (0, 0)
    merged = await svc.client.post(f"/v1/people/{leon}/merge", json={"into_person_id": leo}, headers=headers)
    assert merged.status_code == 201, merged.text
    assert await figures() == (1, 1)
    undone = await svc.client.post(f"/v1/people/merges/{merged.json()['id']}/undo", headers=headers)
    assert undone.status_code == 200
    assert await figures() == (0, 0)


async def test_an_episode_opened_later_counts_for_an_earlier_nfa(year):
    """The episode arrives as an event long after the NFA decision: the figure follows."""

    async def episode_later():
        resp = await year.client.get(
            "/v1/reports/referrals",
            params={"from": "2026-01-01", "to": "2026-12-31"},
            headers=year.as_("mash"),
        )
        return resp.json()["no_further_action_follow_up"]["early_help_episode_later"]

    assert await episode_later() == 1
    people = (await year.client.get("/v1/referrals?limit=100", headers=year.as_("mash"))).json()["items"]
    lewis = next(r for r in people if r["received_at"].startswith("2026-10-01"))
    resp = await year.client.get(f"/v1/referrals/{lewis['id']}", headers=year.as_("mash"))
    theo = resp.json()["children"][0]["person_id"]
    await year.event(
        "episode.opened",
        {
            "episode_id": "ep-i",
            "person_ids": [theo],
            "origin": "step_down",
            "opened_at": "2026-12-01T10:00:00+00:00",
        },
    )
    assert await episode_later() == 2
