"""The Supporting Families facts (`sf_headline`, sf_facts.py) stay right on every write path:
each rule that writes what they come from is driven through the API or the event handler, and
after each step the table must equal the facts recomputed from scratch (issue 21 item 6). And
no module writes the watched tables in a way the session listeners cannot see."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from services.assessments import sf_facts
from services.assessments.models import Episode, SfEvidenceFact, SfHeadline
from services.assessments.tests.conftest import EH, decided_event, deliver, h
from services.assessments.tests.test_plans import plan_body
from services.assessments.tests.test_policy import EDDIE

SERVICE = Path(sf_facts.__file__).resolve().parent
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


async def assert_kept(svc) -> list[tuple]:
    """The kept rows equal `sf_facts.facts` and `sf_facts.evidence` over every episode,
    recomputed now; the headline rows are returned."""
    everyone = select(Episode.id)
    async with svc.runtime.db.session() as s:
        kept = sorted(tuple(r) for r in (await s.execute(select(*SfHeadline.__table__.c))).all())
        fresh = sorted(tuple(r) for r in (await s.execute(sf_facts.facts(everyone))).all())
        columns = [SfEvidenceFact.__table__.c[c] for c in sf_facts._EVIDENCE_COLUMNS]
        kept_evidence = sorted(tuple(r) for r in (await s.execute(select(*columns))).all())
        fresh_evidence = sorted(tuple(r) for r in (await s.execute(sf_facts.evidence(everyone))).all())
    assert kept == fresh
    assert kept_evidence == fresh_evidence
    return kept


def facts_of(rows: list[tuple], episode_id: str) -> dict[str, tuple]:
    return {r[1]: r for r in rows if r[0] == episode_id}


async def opened(svc, people: list[str], adults: list[str] = (), needs: list[str] = ()) -> str:
    env = decided_event(people=people, adult_person_ids=list(adults), needs=list(needs))
    assert (await deliver(svc, env)).status_code == 202
    async with svc.runtime.db.session() as s:
        return (
            await s.execute(select(Episode.id).where(Episode.referral_id == env["data"]["referral_id"]))
        ).scalar_one()


def scored_plan(target: str, ids: tuple[str | None, str | None] = (None, None)) -> dict:
    """Two outcomes scored out of ten: good_education (`target`) and secure_housing (7)."""
    body = plan_body()
    soon = (NOW.date() + timedelta(days=90)).isoformat()
    body["outcomes"] = [
        {"headline": "good_education", "description": "attends", "measure": "score", "baseline": "3",
         "target": target, "target_on": soon},
        {"headline": "secure_housing", "description": "housed", "measure": "score", "baseline": "2",
         "target": "7", "target_on": soon},
    ]  # fmt: skip
    for outcome, oid in zip(body["outcomes"], ids, strict=True):
        if oid:
            outcome["id"] = oid
    body["actions"] = [{**a, "due_on": soon, "outcome_refs": [i]} for i, a in enumerate(body["actions"])]
    return body


async def review(svc, eid: str, held_on: date, scores: dict[str, int]) -> None:
    body = {
        "held_on": held_on.isoformat(),
        "next_review_on": (held_on + timedelta(weeks=6)).isoformat(),
        "outcome_progress": [{"outcome_id": o, "score": s} for o, s in scores.items()],
    }
    r = await svc.client.post(f"/v1/episodes/{eid}/reviews", json=body, headers=h(svc, EH))
    assert r.status_code == 201, r.text


async def test_every_write_path_keeps_the_facts(svc, clock, fake_people):
    clock.set(NOW)
    amira, samira, omar = (str(uuid.uuid4()) for _ in range(3))
    # Opened by the referral's decision, its needs recorded (two headlines at the start).
    first = await opened(svc, [amira], [samira], ["school_attendance", "housing"])
    rows = await assert_kept(svc)
    assert {h: r[3:6] for h, r in facts_of(rows, first).items()} == {
        "good_education": (1, 1, 0),
        "secure_housing": (1, 1, 0),
    }
    # The plan agreed: its outcomes' headlines are start headlines too.
    r = await svc.client.put(f"/v1/episodes/{first}/plan", json=scored_plan("7"), headers=h(svc, EH))
    assert r.status_code == 200, r.text
    edu, housing = (o["id"] for o in r.json()["outcomes"])
    await assert_kept(svc)
    # A review at target: met on its day.
    clock.set(NOW + timedelta(days=30))
    await review(svc, first, date(2026, 6, 20), {edu: 8, housing: 7})
    rows = await assert_kept(svc)
    assert facts_of(rows, first)["good_education"][6] == date(2026, 6, 20)
    # A new plan version raising the target: the same review no longer meets it.
    r = await svc.client.put(
        f"/v1/episodes/{first}/plan", json=scored_plan("9", (edu, housing)), headers=h(svc, EH)
    )
    assert r.status_code == 200, r.text
    rows = await assert_kept(svc)
    assert facts_of(rows, first)["good_education"][6] is None
    # A review below target after housing was met.
    await review(svc, first, date(2026, 6, 28), {edu: 9, housing: 5})
    rows = await assert_kept(svc)
    assert facts_of(rows, first)["secure_housing"][8] == date(2026, 6, 28)
    # Closure with an outcome achieved.
    r = await svc.client.post(
        f"/v1/episodes/{first}/close",
        json={"reason": "needs_met", "summary": "Done.", "outcomes_achieved": [edu]},
        headers=h(svc, EH),
    )
    assert r.status_code == 200, r.text
    await assert_kept(svc)
    # A new episode of a family member (the mother, an adult there) naming a housing need:
    # the first episode's housing headline gets its re-referral day.
    clock.set(NOW + timedelta(days=60))
    third = await opened(svc, [omar], [samira], ["housing"])
    rows = await assert_kept(svc)
    assert facts_of(rows, first)["secure_housing"][7] == (NOW + timedelta(days=60)).date()
    # The managers take the mother out of the new episode's family (a DELETE statement and new
    # rows): the two episodes no longer share anyone, and the re-referral day goes.
    r = await svc.client.put(
        f"/v1/episodes/{third}/family-members",
        json={"members": [{"person_id": omar, "role": "child"}]},
        headers=h(svc, EDDIE),
    )
    assert r.status_code == 200, r.text
    rows = await assert_kept(svc)
    assert facts_of(rows, first)["secure_housing"][7] is None
    # And back in: the day returns.
    r = await svc.client.put(
        f"/v1/episodes/{third}/family-members",
        json={"members": [{"person_id": omar, "role": "child"}, {"person_id": samira, "role": "adult"}]},
        headers=h(svc, EDDIE),
    )
    assert r.status_code == 200, r.text
    rows = await assert_kept(svc)
    assert facts_of(rows, first)["secure_housing"][7] == (NOW + timedelta(days=60)).date()
    # The same child referred again (a child of both episodes).
    await opened(svc, [amira], needs=["school_attendance"])
    await assert_kept(svc)


async def test_a_delete_statement_through_the_session_is_kept(svc, clock):
    """`session.execute(delete(...))` bypasses the unit of work: `do_orm_execute` sees it."""
    from sqlalchemy import delete

    from services.assessments.models import EpisodeNeed

    clock.set(NOW)
    eid = await opened(svc, [str(uuid.uuid4())], needs=["school_attendance", "housing"])
    async with svc.runtime.db.session() as s:
        await s.execute(
            delete(EpisodeNeed).where(EpisodeNeed.episode_id == eid, EpisodeNeed.need == "housing")
        )
    rows = await assert_kept(svc)
    assert set(facts_of(rows, eid)) == {"good_education"}


def test_no_module_writes_the_watched_tables_behind_the_session():
    """SQL text or a raw connection writing a watched table would not be seen by the listeners:
    outside sf_facts.py (which writes only `sf_headline`) and the migrations, there is none."""
    tables = "|".join(sorted(sf_facts.WATCHED_TABLES))
    dml = re.compile(rf"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?({tables})\b", re.IGNORECASE)
    offenders = []
    for path in SERVICE.rglob("*.py"):
        rel = path.relative_to(SERVICE)
        if rel.parts[0] in {"migrations", "tests"} or path.name == "sf_facts.py":
            continue
        source = path.read_text()
        if dml.search(source) or re.search(r"\.connection\(\)\.execute|run_sync\(", source):
            offenders.append(str(rel))
    assert offenders == []


async def test_the_migrations_frozen_fill_gives_the_kept_rows(svc, clock):
    """Migration 0010 fills the table with its own frozen copy of the statement: on the same
    data it gives exactly what the listeners keep (and running it twice, the same)."""
    import importlib.util

    from services.assessments.tests.test_supporting_families import TWO, at, both_met, family

    path = SERVICE / "migrations" / "versions" / "0010_sf_headline.py"
    spec = importlib.util.spec_from_file_location("sf_headline_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert "services." not in path.read_text().split('"""', 2)[2]  # imports no service code

    person = "p-shared"
    await both_met(svc, people=(person,))
    await family(svc, opened=at(date(2026, 3, 2)), needs=("housing",), people=(person,))
    await family(
        svc, opened=at(date(2025, 9, 1)), needs=TWO, outcomes=(("o1", "good_education", "7/10"),),
        reviews=((date(2025, 11, 1), {"o1": 8}), (date(2025, 12, 1), {"o1": 5})),
    )  # fmt: skip
    kept = await assert_kept(svc)
    async with svc.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(SfEvidenceFact))).scalar_one() >= 3
    for _ in range(2):
        async with svc.runtime.db.session() as s:
            await s.run_sync(lambda sync: migration.fill(sync.connection()))
        assert await assert_kept(svc) == kept


def test_the_listeners_come_with_the_models():
    """A process that imports only the models (the service does not import sf_facts itself)
    has the listeners: they cannot be left out of a process that writes the rows."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from sqlalchemy import event\n"
        "from sqlalchemy.orm import Session\n"
        "import services.assessments.models\n"
        "f = sys.modules['services.assessments.sf_facts']\n"
        "assert event.contains(Session, 'before_flush', f._note)\n"
        "assert event.contains(Session, 'after_flush', f._keep)\n"
        "assert event.contains(Session, 'do_orm_execute', f._statement)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=SERVICE.parents[1]
    )
    assert done.returncode == 0, done.stderr
