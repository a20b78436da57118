"""The threshold audit (issue 21 item 2): a stratified, reproducible sample of MASH decisions,
reviewed blind by another MASH manager, and the agreement report (threshold_audit.py)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from services.referrals import policy
from services.referrals.models import Referral, ThresholdAudit, ThresholdAuditItem
from services.referrals.tests.conftest import london, rfs
from services.referrals.threshold_audit import stratified_sample, stratum_size

CONSENT = {
    "obtained": True,
    "given_by": "Samira Ahmed",
    "obtained_at": "2026-01-05T10:00:00Z",
    "method": "phone",
}
PROBLEMS = "https://early-help.example/problems/"
LEVEL = {
    "no_further_action": "universal",
    "signpost_universal": "universal",
    "single_agency_early_help": "universal_plus",
    "team_around_the_family": "partnership_plus",
    "social_care_assessment": "specialist",
    "strategy_discussion": "specialist",
}


def manager(svc: Any, pid: str, roles: str = "mash_manager", **kw: Any) -> dict[str, str]:
    return svc.as_("mash", practitioner_id=pid, roles=roles, **kw)


async def decided(svc: Any, outcome: str, by: str = "m-1", level: str | None = None) -> str:
    """A referral received and decided now (by MASH manager `by`)."""
    ref = await svc.create(body=rfs(consent=CONSENT))
    resp = await svc.client.post(
        f"/v1/referrals/{ref['id']}/decision",
        json={
            "level_of_need": level or LEVEL[outcome],
            "outcome": outcome,
            "rag": "green",
            "rationale": f"Secret rationale for {outcome}.",
            "decided_by": {"name": "Pat MASH", "role": "Team manager"},
        },
        headers=manager(svc, by),
    )
    assert resp.status_code == 200, resp.text
    return str(ref["id"])


async def draw(svc: Any, headers: dict[str, str] | None = None, **body: Any) -> Any:
    body = {"decided_from": "2026-03-01", "decided_to": "2026-03-31", "share": 1, **body}
    return await svc.client.post("/v1/threshold-audits", json=body, headers=headers or manager(svc, "m-9"))


def item_path(audit: dict[str, Any], n: int = 0) -> str:
    return f"/v1/threshold-audits/{audit['id']}/items/{audit['sample'][n]['id']}"


async def sampled_referrals(svc: Any, audit_id: str) -> list[str]:
    async with svc.runtime.db.session(write=False) as s:
        rows = await s.scalars(
            select(ThresholdAuditItem.referral_id).where(ThresholdAuditItem.audit_id == audit_id)
        )
        return sorted(rows.all())


@pytest.fixture
async def march(svc):
    svc.now = london(2026, 3, 10, 10)
    yield svc
    svc.now = None


# ---- the sample ----


def test_stratum_sizes_round_half_up_at_least_one():
    assert [stratum_size(n, 0.1) for n in (1, 4, 5, 14, 15, 100)] == [1, 1, 1, 1, 2, 10]
    assert stratum_size(3, 1) == 3


def test_the_sample_is_proportional_per_outcome_and_reproducible_with_a_seed():
    ids = {"no_further_action": [f"n{i}" for i in range(400)], "strategy_discussion": ["s1", "s2"], "x": []}
    one = stratified_sample(ids, 0.05, seed=42)
    assert {k: len(v) for k, v in one.items()} == {"no_further_action": 20, "strategy_discussion": 1}
    assert stratified_sample(ids, 0.05, seed=42) == one
    assert stratified_sample(ids, 0.05, seed=43) != one
    assert set(one["no_further_action"]) <= set(ids["no_further_action"])


async def test_draw_counts_per_outcome(march):
    svc = march
    plan = {
        "no_further_action": 10,
        "signpost_universal": 5,
        "team_around_the_family": 2,
        "strategy_discussion": 1,
    }
    outcome_of = {}
    for outcome, n in plan.items():
        for _ in range(n):
            outcome_of[await decided(svc, outcome)] = outcome
    await svc.create(body=rfs(consent=CONSENT))  # received, not decided: not in the population
    resp = await draw(svc, share=0.2, seed=7)
    assert resp.status_code == 201, resp.text
    audit = resp.json()
    assert resp.headers["location"] == f"/v1/threshold-audits/{audit['id']}"
    assert audit["decisions"] == 18 and audit["seed"] == 7
    expected = {
        "no_further_action": 2,
        "signpost_universal": 1,
        "team_around_the_family": 1,
        "strategy_discussion": 1,
    }
    assert {s["outcome"]: s["sampled"] for s in audit["strata"]} == expected
    assert {s["outcome"]: s["decisions"] for s in audit["strata"]} == plan
    assert audit["sampled"] == len(audit["sample"]) == 5
    drawn = await sampled_referrals(svc, audit["id"])
    assert Counter(outcome_of[r] for r in drawn) == expected
    # Read back the same; a decision is sampled once: nothing left to draw at share 1? 13 left.
    again = (await svc.client.get(f"/v1/threshold-audits/{audit['id']}", headers=manager(svc, "m-2"))).json()
    assert again["strata"] == audit["strata"] and {i["id"] for i in again["sample"]} == {
        i["id"] for i in audit["sample"]
    }
    rest = (await draw(svc, share=1)).json()
    assert rest["decisions"] == 13 and not set(await sampled_referrals(svc, rest["id"])) & set(drawn)


async def test_the_same_seed_draws_the_same_sample(march):
    svc = march
    for outcome in ["no_further_action"] * 8 + ["signpost_universal"] * 4:
        await decided(svc, outcome)
    first = (await draw(svc, share=0.25, seed=2026)).json()
    drawn = await sampled_referrals(svc, first["id"])
    assert len(drawn) == 3  # 2 of 8, 1 of 4
    # Forget the audit (the decisions are free again) and draw again: the same seed, the same sample.
    assert await sampled_referrals(svc, (await _redraw(svc, 2026)).json()["id"]) == drawn
    others = [await sampled_referrals(svc, (await _redraw(svc, seed)).json()["id"]) for seed in (1, 2, 3)]
    assert any(o != drawn for o in others)


async def _redraw(svc: Any, seed: int) -> Any:
    async with svc.runtime.db.session() as s:
        await s.execute(delete(ThresholdAuditItem))
        await s.execute(delete(ThresholdAudit))
    return await draw(svc, share=0.25, seed=seed)


async def test_a_period_with_no_decisions_is_a_422_naming_the_field(march):
    svc = march
    await svc.create(body=rfs(consent=CONSENT))
    resp = await draw(svc)
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["decided_from"]
    for bad, field in (
        ({"share": 0}, "share"),
        ({"share": 1.5}, "share"),
        ({"decided_to": "2026-02-01"}, None),
    ):
        resp = await draw(svc, **bad)
        assert resp.status_code == 422, bad
        if field:
            assert field in resp.text


async def test_an_audit_larger_than_anyone_will_review_is_a_422_naming_share(march, monkeypatch):
    from services.referrals import threshold_audit

    svc = march
    for _ in range(3):
        await decided(svc, "team_around_the_family", by="m-1")
    monkeypatch.setattr(threshold_audit, "MAX_AUDIT_ITEMS", 2)
    resp = await draw(svc, share=1)
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["share"]
    assert "would sample 3 of 3 decisions" in resp.text and "at most 2" in resp.text
    assert (await svc.client.get("/v1/threshold-audits", headers=manager(svc, "m-2"))).json()["items"] == []
    monkeypatch.setattr(threshold_audit, "MAX_AUDIT_ITEMS", 3)
    assert (await draw(svc, share=1)).status_code == 201


# ---- the blind review ----


async def test_the_item_is_blind_until_the_reviewer_records_their_own(march):
    svc = march
    rid = await decided(svc, "team_around_the_family", by="m-1")
    audit = (await draw(svc)).json()
    assert audit["sample"][0]["referral_id"] is None and audit["sample"][0]["status"] == "awaiting_review"
    m2 = manager(svc, "m-2")
    blind = await svc.client.get(item_path(audit), headers=m2)
    assert blind.status_code == 200, blind.text
    view = blind.json()
    assert view["original_decision"] is None and view["review"] is None
    assert view["facts"]["needs"] == ["school_attendance", "parental_mental_health"]
    assert view["facts"]["children"] == [{"age_years": 9, "unborn": False, "referred_before": False}]
    for hidden in ("Secret rationale", "team_around_the_family", "partnership_plus", "green", rid, "Ahmed"):
        assert hidden not in blind.text, hidden

    resp = await svc.client.post(
        f"{item_path(audit)}/review",
        json={"level_of_need": "universal_plus", "outcome": "single_agency_early_help"},
        headers=m2,
    )
    assert resp.status_code == 200, resp.text
    seen = resp.json()
    assert seen["status"] == "reviewed"
    assert seen["original_decision"]["outcome"] == "team_around_the_family"
    assert seen["original_decision"]["level_of_need"] == "partnership_plus"
    assert seen["original_decision"]["rationale"] == "Secret rationale for team_around_the_family."
    assert seen["original_decision"]["referral_id"] == rid
    assert seen["review"]["outcome"] == "single_agency_early_help" and seen["review"]["reviewer_id"] == "m-2"
    assert (await svc.client.get(item_path(audit), headers=m2)).json()["original_decision"]["rag"] == "green"
    listed = (await svc.client.get(f"/v1/threshold-audits/{audit['id']}", headers=m2)).json()
    assert listed["sample"][0]["referral_id"] == rid and listed["reviewed"] == 1

    # Once: a second review is a 409; then the verdict (a reason to disagree), once.
    again = await svc.client.post(
        f"{item_path(audit)}/review",
        json={"level_of_need": "universal", "outcome": "no_further_action"},
        headers=m2,
    )
    assert again.status_code == 409 and again.json()["type"] == PROBLEMS + "review-already-recorded"
    no_reason = await svc.client.post(f"{item_path(audit)}/agreement", json={"agrees": False}, headers=m2)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    ok = await svc.client.post(
        f"{item_path(audit)}/agreement",
        json={"agrees": False, "reason": "Needs met by school nurse."},
        headers=m2,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["review"]["agrees"] is False and ok.json()["status"] == "agreement_recorded"
    twice = await svc.client.post(f"{item_path(audit)}/agreement", json={"agrees": True}, headers=m2)
    assert twice.status_code == 409 and twice.json()["type"] == PROBLEMS + "agreement-already-recorded"


async def test_agreement_needs_the_review_first_and_the_review_must_fit_the_threshold(march):
    svc = march
    await decided(svc, "no_further_action")
    audit = (await draw(svc)).json()
    m2 = manager(svc, "m-2")
    early = await svc.client.post(f"{item_path(audit)}/agreement", json={"agrees": True}, headers=m2)
    assert early.status_code == 409 and early.json()["type"] == PROBLEMS + "review-not-recorded"
    mismatch = await svc.client.post(
        f"{item_path(audit)}/review",
        json={"level_of_need": "specialist", "outcome": "no_further_action"},
        headers=m2,
    )
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "outcome"
    assert (await svc.client.get(item_path(audit), headers=m2)).json()["original_decision"] is None


async def test_the_decider_may_not_review_their_own_decision(march):
    svc = march
    await decided(svc, "signpost_universal", by="m-1")
    audit = (await draw(svc, headers=manager(svc, "m-1"))).json()  # the decider may draw
    m1 = manager(svc, "m-1")
    for resp in (
        await svc.client.get(item_path(audit), headers=m1),
        await svc.client.post(
            f"{item_path(audit)}/review",
            json={"level_of_need": "universal", "outcome": "signpost_universal"},
            headers=m1,
        ),
    ):
        assert resp.status_code == 403
        assert resp.json()["type"] == PROBLEMS + "own-decision"
        assert "You made this decision" in resp.json()["detail"]


# ---- who may do what (policy.AUDIT_RULES) ----


def test_docs_show_the_audit_rules():
    docs = Path(__file__).resolve().parents[3] / "docs" / "referrals.md"
    assert policy.audit_rules_markdown() in docs.read_text(), (
        "docs/referrals.md threshold audit table out of date"
    )


async def test_only_mash_managers_draw_and_read(march):
    svc = march
    await decided(svc, "no_further_action")
    refused = {
        "screener": manager(svc, "s-1", roles="mash_screener"),
        "early help manager": svc.as_("early_help", practitioner_id="e-1", roles="early_help_manager"),
    }
    for who, headers in refused.items():
        assert (await draw(svc, headers=headers)).status_code == 403, who
        assert (await svc.client.get("/v1/threshold-audits", headers=headers)).status_code == 403, who
    school = await svc.client.get("/v1/threshold-audits", headers=svc.as_("school_a"))
    assert school.status_code == 403  # no triage:write
    system = await draw(svc, headers=svc.as_("mash"))  # the MASH's system draws (its SYSTEM_ROLES)
    assert system.status_code == 201, system.text
    audit = system.json()
    # ... but a second review is a named manager's
    review = await svc.client.post(
        f"{item_path(audit)}/review",
        json={"level_of_need": "universal", "outcome": "no_further_action"},
        headers=svc.as_("mash"),
    )
    assert review.status_code == 403 and review.json()["type"] == PROBLEMS + "role-required"
    # Another MASH agency's audit does not exist for its managers.
    other = svc.h.headers(
        agency_type="mash",
        agency_id="agency-mash-2",
        client_id="client-mash-2",
        scopes="triage:write",
        practitioner_id="x-1",
        roles="mash_manager",
    )
    assert (await svc.client.get(f"/v1/threshold-audits/{audit['id']}", headers=other)).status_code == 404
    assert (await svc.client.get(item_path(audit), headers=other)).status_code == 404
    assert (await svc.client.get("/v1/threshold-audits", headers=other)).json()["items"] == []
    listed = (await svc.client.get("/v1/threshold-audits", headers=manager(svc, "m-2"))).json()["items"]
    assert [a["id"] for a in listed] == [audit["id"]] and listed[0]["sampled"] == 1


async def test_items_go_to_their_reviewers_never_to_the_decider(march):
    svc = march
    for _ in range(4):
        await decided(svc, "no_further_action", by="m-1")
    audit = (await draw(svc, reviewer_ids=["m-1", "m-2"])).json()
    assert {i["reviewer_id"] for i in audit["sample"]} == {"m-2"}  # m-1 decided them all
    m3 = manager(svc, "m-3")
    resp = await svc.client.get(item_path(audit), headers=m3)
    assert resp.status_code == 403 and resp.json()["type"] == PROBLEMS + "not-your-item"
    assert (await svc.client.get(item_path(audit), headers=manager(svc, "m-2"))).status_code == 200


async def test_an_unassigned_item_becomes_its_first_reviewers(march):
    svc = march
    await decided(svc, "no_further_action", by="m-1")
    audit = (await draw(svc)).json()
    body = {"level_of_need": "universal", "outcome": "no_further_action"}
    assert (await svc.client.get(item_path(audit), headers=manager(svc, "m-3"))).status_code == 200
    assert (
        await svc.client.post(f"{item_path(audit)}/review", json=body, headers=manager(svc, "m-2"))
    ).status_code == 200
    late = await svc.client.get(item_path(audit), headers=manager(svc, "m-3"))
    assert late.status_code == 403 and late.json()["type"] == PROBLEMS + "not-your-item"


async def test_the_audits_list_takes_updated_since(march):
    svc = march
    await decided(svc, "no_further_action", by="m-1")
    audit = (await draw(svc)).json()
    m2 = manager(svc, "m-2")
    since = "2026-03-10T12:00:00Z"
    assert (await svc.client.get("/v1/threshold-audits", params={"updated_since": since}, headers=m2)).json()[
        "items"
    ] == []
    svc.now = london(2026, 3, 11, 10)
    body = {"level_of_need": "universal", "outcome": "no_further_action"}
    await svc.client.post(f"{item_path(audit)}/review", json=body, headers=m2)
    rows = (await svc.client.get("/v1/threshold-audits", params={"updated_since": since}, headers=m2)).json()[
        "items"
    ]
    assert [r["id"] for r in rows] == [audit["id"]] and rows[0]["reviewed"] == 1


# ---- the report ----


async def test_agreement_by_level_and_month_on_a_hand_built_set(svc):
    """March: three universal NFA decisions (reviewed: agree, agree, disagree) and one
    partnership_plus TAF (reviewed blind as universal_plus, agreement not yet recorded).
    April: one specialist decision (not reviewed). May: nothing."""
    made: dict[str, list[str]] = {}
    svc.now = london(2026, 3, 10, 10)
    for _ in range(3):
        made.setdefault("nfa", []).append(await decided(svc, "no_further_action"))
    made["taf"] = [await decided(svc, "team_around_the_family")]
    svc.now = london(2026, 4, 1, 0, 30)  # London's 1 April (BST): still 31 March in UTC
    made["sc"] = [await decided(svc, "social_care_assessment")]
    audit = (await draw(svc, decided_from="2026-03-01", decided_to="2026-05-31")).json()
    m2 = manager(svc, "m-2")
    async with svc.runtime.db.session(write=False) as s:
        item_of = {
            r: i
            for i, r in (await s.execute(select(ThresholdAuditItem.id, ThresholdAuditItem.referral_id))).all()
        }
    base = f"/v1/threshold-audits/{audit['id']}/items/"

    async def review(rid: str, level: str, outcome: str, agrees: bool | None) -> None:
        resp = await svc.client.post(
            f"{base}{item_of[rid]}/review", json={"level_of_need": level, "outcome": outcome}, headers=m2
        )
        assert resp.status_code == 200, resp.text
        if agrees is not None:
            body = {"agrees": agrees} if agrees else {"agrees": False, "reason": "Should be signposted."}
            assert (
                await svc.client.post(f"{base}{item_of[rid]}/agreement", json=body, headers=m2)
            ).status_code == 200

    await review(made["nfa"][0], "universal", "no_further_action", True)
    await review(made["nfa"][1], "universal", "signpost_universal", True)
    await review(made["nfa"][2], "universal", "signpost_universal", False)
    await review(made["taf"][0], "universal_plus", "single_agency_early_help", None)

    resp = await svc.client.get(
        "/v1/reports/threshold-audit",
        params={"from": "2026-03-01", "to": "2026-05-31"},
        headers=svc.as_("early_help"),
    )
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["totals"] == {
        "sampled": 5,
        "reviewed": 4,
        "agreement_recorded": 3,
        "agreed": 2,
        "disagreed": 1,
        "agreement_rate": 0.6667,
        "same_level": 3,
        "same_outcome": 1,
        "same_level_rate": 0.75,
        "same_outcome_rate": 0.25,
    }
    by_level = {r["level_of_need"]: r for r in report["by_level_of_need"]}
    assert list(by_level) == ["universal", "universal_plus", "partnership_plus", "specialist"]
    assert (by_level["universal"]["agreed"], by_level["universal"]["disagreed"]) == (2, 1)
    assert (
        by_level["universal"]["agreement_rate"] == 0.6667
        and by_level["universal"]["same_outcome_rate"] == 0.3333
    )
    assert (
        by_level["partnership_plus"]["reviewed"] == 1
        and by_level["partnership_plus"]["agreement_rate"] is None
    )
    assert by_level["specialist"]["sampled"] == 1 and by_level["specialist"]["reviewed"] == 0
    assert by_level["universal_plus"]["sampled"] == 0
    by_month = {r["month"]: r for r in report["by_month"]}
    assert list(by_month) == ["2026-03", "2026-04", "2026-05"]
    assert by_month["2026-03"]["sampled"] == 4 and by_month["2026-03"]["agreement_rate"] == 0.6667
    assert by_month["2026-04"]["sampled"] == 1 and by_month["2026-04"]["reviewed"] == 0
    assert by_month["2026-05"]["sampled"] == 0 and by_month["2026-05"]["agreement_rate"] is None

    # The period is the decisions' London days: April alone has the one specialist decision.
    april = await svc.client.get(
        "/v1/reports/threshold-audit",
        params={"from": "2026-04-01", "to": "2026-04-30"},
        headers=svc.as_("mash"),
    )
    assert april.json()["totals"]["sampled"] == 1 and [m["month"] for m in april.json()["by_month"]] == [
        "2026-04"
    ]

    # CSV: ?format=csv, or Accept: text/csv; one row per figure of the JSON.
    for kw in (
        {"params": {"from": "2026-03-01", "to": "2026-05-31", "format": "csv"}},
        {"params": {"from": "2026-03-01", "to": "2026-05-31"}, "headers": {"accept": "text/csv"}},
    ):
        headers = {**svc.as_("early_help"), **kw.get("headers", {})}
        got = await svc.client.get("/v1/reports/threshold-audit", params=kw["params"], headers=headers)
        assert got.headers["content-type"].startswith("text/csv"), got.headers
        rows = list(csv.reader(io.StringIO(got.text)))
        assert rows[0] == ["section", "key", "metric", "value"]
        assert ["totals", "", "agreement_rate", "0.6667"] in rows
        assert ["by_level_of_need", "universal", "disagreed", "1"] in rows
        assert ["by_month", "2026-05", "agreement_rate", ""] in rows
        assert len(rows) == 3 + 10 * (1 + 4 + 3)
    svc.now = None


async def test_the_report_refuses_a_backwards_period_and_partners(svc):
    bad = await svc.client.get(
        "/v1/reports/threshold-audit",
        params={"from": "2026-05-01", "to": "2026-04-01"},
        headers=svc.as_("mash"),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"
    assert (
        await svc.client.get("/v1/reports/threshold-audit", headers=svc.as_("school_a"))
    ).status_code == 403
    assert (
        await svc.client.get("/v1/reports/threshold-audit", params={"format": "xml"}, headers=svc.as_("mash"))
    ).status_code == 422


async def test_the_decider_is_recorded_on_the_decision(svc):
    rid = await decided(svc, "no_further_action", by="m-5")
    async with svc.runtime.db.session(write=False) as s:
        assert (await s.get(Referral, rid)).decided_by_practitioner_id == "m-5"
