"""The bulk import command (devtools/case_import.py, issue 22 item 2) against the referrals and
assessments services in-process: dry run, real run, re-run, a killed run resumed, matching."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bench.import_cases import family as bench_family
from bench.import_cases import write_csv
from devtools import case_import
from services.assessments.config import Settings as AssessmentsSettings
from services.assessments.main import create_app as assessments_app
from services.assessments.models import PLATFORM as ASSESSMENTS_PLATFORM
from services.assessments.models import Episode, LeadProfessional, Plan, PlanAction, TafMember
from services.assessments.tests.conftest import StaticTokens
from services.consent.config import Settings as ConsentSettings
from services.consent.main import create_app as consent_app
from services.consent.models import Consent, ConsentWithdrawal
from services.referrals.config import Settings as ReferralsSettings
from services.referrals.main import create_app as referrals_app
from services.referrals.models import Person, PersonRelationship, Referral
from shared.service_client import ServiceClient

ROOT = Path(__file__).resolve().parents[2]
IMPORTER = {
    "agency_type": "admin",
    "agency_id": "council",
    "client_id": "import-client",
    "scopes": "imports:write",
}

# What `family(1) + family(2)` creates.
TWO_FAMILIES = {"person": 4, "relationship": 2, "referral": 2, "episode": 2, "taf_member": 2}


def family(n: int) -> list[dict[str, Any]]:
    """One family of the incumbent system: a child, her mother, their relationship, the decided
    referral, the open episode with its lead professional, a TAF member (bench.import_cases)."""
    child = (f"Child{chr(65 + n % 26)}", f"Family{n}", "2016-05-04")
    return bench_family(n, child=child, postcode=f"S6{n % 10} {n % 9 + 1}AB")


def report(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


class Gateway(httpx.AsyncBaseTransport):
    """Stands in for the gateway: each import path to its service, as the import client."""

    def __init__(self, routes: dict[str, Any], headers: dict[str, str]) -> None:
        self.routes, self.headers = routes, headers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers.update(self.headers)
        app = self.routes[request.url.path]
        return await httpx.ASGITransport(app=app).handle_async_request(request)


class Services:
    consent: Any = None

    def __init__(self, referrals: Any, assessments: Any, client: httpx.AsyncClient) -> None:
        self.referrals, self.assessments, self.client = referrals, assessments, client

    async def count(self, harness: Any, table: Any) -> int:
        async with harness.runtime.db.session(write=False) as s:
            return int((await s.execute(select(func.count()).select_from(table))).scalar_one())

    async def counts(self) -> dict[str, int]:
        r, a = self.referrals, self.assessments
        return {
            "person": await self.count(r, Person.__table__),
            "relationship": await self.count(r, PersonRelationship.__table__),
            "referral": await self.count(r, Referral.__table__),
            "episode": await self.count(a, Episode.__table__),
            "lead": await self.count(a, LeadProfessional.__table__),
            "taf_member": await self.count(a, TafMember.__table__),
        }

    async def plan_and_consent_counts(self) -> dict[str, int]:
        a, c = self.assessments, self.consent
        return {
            "plan": await self.count(a, Plan.__table__),
            "plan_action": await self.count(a, PlanAction.__table__),
            "consent": await self.count(c, Consent.__table__),
            "withdrawal": await self.count(c, ConsentWithdrawal.__table__),
        }

    async def run(self, path: Path, tmp: Path, **kw: Any) -> case_import.Outcome:
        return await case_import.import_file(path, self.client, report=tmp / "report.csv", **kw)


@pytest.fixture
async def services(service_factory: Any, signer: Any) -> Any:
    quiet = {"relay_interval_seconds": 3600}
    referrals = await service_factory(
        referrals_app, ReferralsSettings, ROOT / "services" / "referrals", event_subscribers={}, **quiet
    )
    assessments = await service_factory(
        assessments_app,
        AssessmentsSettings,
        ROOT / "services" / "assessments",
        event_subscribers={"*": ["http://notifications.test/internal/events"]},
        gateway_url="http://127.0.0.1:9",
        **quiet,
    )
    consent = await service_factory(
        consent_app, ConsentSettings, ROOT / "services" / "consent", event_subscribers={}, **quiet
    )
    token = signer.identity_token(agency_type="service", audience="early-help-api", scopes="")
    assessments.runtime.clients["referrals"] = ServiceClient(
        "http://referrals.test", StaticTokens(token), transport=httpx.ASGITransport(app=referrals.app)
    )
    gateway = Gateway(
        {
            case_import.PEOPLE_URL: referrals.app,
            case_import.EPISODES_URL: assessments.app,
            case_import.PLANS_URL: assessments.app,
            case_import.CONSENTS_URL: consent.app,
        },
        signer.auth_header(**IMPORTER),
    )
    async with httpx.AsyncClient(transport=gateway, base_url="http://gateway") as client:
        services = Services(referrals, assessments, client)
        services.consent = consent
        yield services


async def test_a_dry_run_reports_each_row_and_stores_nothing(services: Services, tmp_path: Path) -> None:
    records = family(1) + family(2)
    records[0]["date_of_birth"] = "2016-13-40"  # line 2
    records[3]["children"] = "C1;NOBODY"  # line 5
    records[10]["lead_email"] = None  # line 12: the lead professional is incomplete
    outcome = await services.run(write_csv(tmp_path / "bad.csv", records), tmp_path, dry_run=True)
    rows = report(tmp_path / "report.csv")
    assert {(r["line"], r["column"]) for r in rows} == {
        ("2", "date_of_birth"),
        ("5", "children"),
        ("12", "lead_email"),
    }
    assert rows[1]["message"] == "no person with source id 'NOBODY' in the file"
    assert outcome.batches == 0  # the file's own errors: nothing is sent

    # A file that is well formed but breaks the services' rules: they check it, store nothing.
    records = family(1) + family(2)
    records[0]["nhs_number"] = "1234567890"  # fails the modulus 11 check
    records[9]["level_of_need"] = "universal"  # team_around_the_family needs partnership_plus
    records[11]["agency_type"] = "circus"  # a TAF member's agency type
    outcome = await services.run(write_csv(tmp_path / "rules.csv", records), tmp_path, dry_run=True)
    rows = report(tmp_path / "report.csv")
    assert {(r["line"], r["record_type"], r["source_id"], r["column"]) for r in rows} == {
        ("2", "person", "C1", "nhs_number"),
        ("11", "referral", "F2", "level_of_need"),
        ("13", "taf_member", "T2", "agency_type"),
        # ... and the rows naming the faulty child, which could not be imported without her.
        ("4", "relationship", "R1", "related_person"),
        ("5", "referral", "F1", "children"),
    }
    assert all(r["message"] for r in rows)
    assert {r["message"] for r in rows if r["line"] in ("4", "5")} == {
        "no person with source id 'C1' was imported"
    }
    assert set((await services.counts()).values()) == {0}


async def test_a_real_run_then_a_rerun_creates_nothing_twice(services: Services, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cases.csv", family(1) + family(2))
    first = await services.run(path, tmp_path, dry_run=False, batch_size=1)
    assert first.errors == [] and not first.stopped
    assert dict(first.created) == TWO_FAMILIES
    expected = {"person": 4, "relationship": 2, "referral": 2, "episode": 2, "lead": 2, "taf_member": 2}
    assert await services.counts() == expected
    again = await services.run(path, tmp_path, dry_run=False)
    assert sum(again.created.values()) == 0 and sum(again.skipped.values()) == 12
    assert await services.counts() == expected
    # The imported episode is the imported referral's, for the imported child.
    async with services.assessments.runtime.db.session(write=False) as s:
        referral_ids = set((await s.execute(select(Episode.referral_id))).scalars())
    async with services.referrals.runtime.db.session(write=False) as s:
        assert referral_ids == set((await s.execute(select(Referral.id))).scalars())
    t = ASSESSMENTS_PLATFORM.outbox
    async with services.assessments.runtime.db.session(write=False) as s:
        types = list((await s.execute(select(t.c.event_type))).scalars())
    assert (
        sorted(types)
        == ["episode.opened"] * 2 + ["lead_professional.assigned"] * 2 + ["taf.member_added"] * 2
    )


async def test_a_killed_run_resumes_where_it_stopped(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(r) for n in range(1, 4) for r in family(n)) + "\n")
    killed = await services.run(path, tmp_path, dry_run=False, batch_size=4, stop_after=3)
    assert killed.stopped and killed.batches == 3  # people (4 + 2), then 3 of the relationships
    partial = await services.counts()
    assert (partial["person"], partial["relationship"], partial["referral"], partial["episode"]) == (
        6,
        3,
        0,
        0,
    )
    resumed = await services.run(path, tmp_path, dry_run=False, batch_size=2)
    assert not resumed.stopped and resumed.errors == []
    assert resumed.skipped["person"] == partial["person"]
    assert await services.counts() == {
        "person": 6,
        "relationship": 3,
        "referral": 3,
        "episode": 3,
        "lead": 3,
        "taf_member": 3,
    }


async def test_a_child_already_known_is_linked_not_doubled(
    services: Services, tmp_path: Path, signer: Any
) -> None:
    records = family(1)
    known = {
        "referral_type": "request_for_support",
        "referrer": {"name": "Jo Clarke", "role": "DSL"},
        "children": [{"given_name": "ChildB", "family_name": "Family1", "date_of_birth": "2016-05-04"}],
        "address": {"line1": "1 Ash Road", "postcode": records[0]["postcode"]},
        "needs": ["school_attendance"],
        "summary": "Attendance 80%.",
        "consent": {
            "obtained": True,
            "given_by": "Kath",
            "obtained_at": "2026-06-01T09:00:00Z",
            "method": "phone",
        },
    }
    school = signer.auth_header(
        agency_type="education",
        agency_id="school",
        client_id="school",
        scopes="referrals:create referrals:read",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=services.referrals.app), base_url="http://r"
    ) as c:
        made = await c.post("/v1/referrals", json=known, headers=school)
    assert made.status_code == 201, made.text
    outcome = await services.run(write_csv(tmp_path / "cases.csv", records), tmp_path, dry_run=False)
    assert outcome.errors == []
    # Two people (the mother is new), not three: the child was linked to the record held.
    assert (await services.counts())["person"] == 2
    assert (await services.counts())["referral"] == 2


# ---- plans and consents (docs/import.md) ----------------------------------------------------


def plan_and_consents(n: int) -> list[dict[str, Any]]:
    """Family n's current plan (an outcome, an open and a completed action) and two consents:
    the mother's for her daughter, live, and an older one withdrawn."""
    return [
        {
            "record_type": "plan",
            "source_id": f"P{n}",
            "episode": f"E{n}",
            "agreed_at": "2026-06-10T10:00:00Z",
        },
        {
            "record_type": "plan_outcome",
            "source_id": f"O{n}",
            "plan": f"P{n}",
            "headline": "good_education",
            "description": "Back in school every day",
            "measure": "attendance",
            "baseline": "80%",
            "target": "95%",
            "target_on": "2027-03-01",
        },
        {
            "record_type": "plan_action",
            "source_id": f"A{n}",
            "plan": f"P{n}",
            "description": "Attendance plan",
            "owner_agency_id": "oakfield-school",
            "owner_name": "Jo Clarke",
            "due_on": "2027-01-15",
            "outcomes": f"O{n}",
            "status": "in_progress",
        },
        {
            "record_type": "plan_action",
            "source_id": f"B{n}",
            "plan": f"P{n}",
            "description": "Bus pass",
            "owner_agency_id": "eh-team",
            "owner_name": "Lee Lead",
            "due_on": "2026-07-01",
            "status": "completed",
            "completed_at": "2026-06-20T12:00:00Z",
        },
        {
            "record_type": "consent",
            "source_id": f"K{n}",
            "person": f"C{n}",
            "given_by_name": "Kath",
            "given_by_relationship": "parent",
            "competence": "parental",
            "purposes": "early_help_service;information_sharing",
            "agencies": "team_around_the_family",
            "method": "in_person",
            "obtained_at": "2026-06-03T10:00:00Z",
        },
        {
            "record_type": "consent",
            "source_id": f"W{n}",
            "person": f"C{n}",
            "given_by_name": "Kath",
            "given_by_relationship": "parent",
            "competence": "parental",
            "purposes": "information_sharing",
            "agencies": "oakfield-school",
            "method": "phone",
            "obtained_at": "2026-06-01T09:00:00Z",
            "withdrawn_at": "2026-06-02T09:00:00Z",
            "withdrawal_reason": "Asked for the school not to be told",
        },
    ]


async def test_plans_and_consents_are_imported_once(services: Services, tmp_path: Path) -> None:
    records = family(1) + family(2) + plan_and_consents(1) + plan_and_consents(2)
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    ticks: list[int] = []
    first = await services.run(path, tmp_path, dry_run=False, batch_size=1)
    assert first.errors == [] and not first.stopped
    assert dict(first.created) == {
        **TWO_FAMILIES,
        "plan": 2,
        "plan_outcome": 2,
        "plan_action": 4,
        "consent": 4,
    }
    expected = {"plan": 2, "plan_action": 4, "consent": 4, "withdrawal": 2}
    assert await services.plan_and_consent_counts() == expected
    again = await services.run(path, tmp_path, dry_run=False)
    assert sum(again.created.values()) == 0 and sum(again.skipped.values()) == len(records)
    assert await services.plan_and_consent_counts() == expected
    # The plan is the imported episode's; its open actions are announced (their deadlines).
    async with services.assessments.runtime.db.session(write=False) as s:
        plan_episodes = set((await s.execute(select(Plan.episode_id))).scalars())
        episodes = set((await s.execute(select(Episode.id))).scalars())
        t = ASSESSMENTS_PLATFORM.outbox
        types = list((await s.execute(select(t.c.event_type))).scalars())
    assert plan_episodes == episodes
    assert types.count("plan.agreed") == 2 and types.count("action.created") == 2
    # The progress bar counts every row once.
    importer = case_import.Importer(services.client, on_progress=ticks.append)
    rows, _ = case_import.read_rows(path)
    await importer.run(rows)
    assert sum(ticks) == len(records)


async def test_a_dry_run_checks_plans_and_consents(services: Services, tmp_path: Path) -> None:
    records = family(1) + plan_and_consents(1)
    plan, outcome, action, _, consent, withdrawn = records[6:]
    del outcome["measure"]  # required: the file's own check
    outcome_line = 2 + 7
    bad = await services.run(write_csv(tmp_path / "bad.csv", records), tmp_path, dry_run=True)
    assert {(r.line, r.column) for r in bad.errors} == {(outcome_line, "measure")}
    assert bad.batches == 0

    outcome["measure"] = "attendance"
    action["due_on"] = "2026-06-01"  # before the plan was agreed
    consent["competence"] = "gillick_competent"  # a parent's consent is parental
    withdrawn["withdrawn_at"] = "2026-05-01T09:00:00Z"  # before it was obtained
    plan["agreed_at"] = "2026-06-10T10:00:00Z"
    checked = await services.run(write_csv(tmp_path / "rules.csv", records), tmp_path, dry_run=True)
    assert {(r.line, r.record_type, r.source_id, r.column) for r in checked.errors} == {
        (2 + 8, "plan_action", "A1", "due_on"),
        (2 + 10, "consent", "K1", "competence"),
        (2 + 11, "consent", "W1", "withdrawn_at"),
    }
    assert set((await services.counts()).values()) == {0}
    assert set((await services.plan_and_consent_counts()).values()) == {0}
