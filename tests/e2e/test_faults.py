"""Faults with the real processes: a killed service, a killed notifications worker, a database
held busy, a stalled upstream (issue 7, item 1; what each proves is in docs/reliability.md).

Every test builds its own stack with `make_stack` (it kills or stops processes), stops it at
the end, and waits for effects of events with bounded polling. A killed process is restarted
on the same port and database; the events it missed wait in their sender's outbox, which
retries with exponential backoff (up to ~16 s after a short outage), hence the generous
`eventually` bounds below. The whole file takes about two minutes per database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from jose import jwt

from devtools.launcher import Stack
from tests.e2e.conftest import Api, make_stack

pytestmark = pytest.mark.e2e

SOON = (date.today() + timedelta(days=60)).isoformat()
SCHOOL, MASH, EH = "demo-education", "demo-mash", "demo-early-help"
# An outage of a few seconds leaves a sender's outbox row backing off for up to 2**4 s.
EVENT_WAIT = 45.0
PROBLEM_JSON = "application/problem+json"


def eventually(fn, timeout: float = EVENT_WAIT, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@contextlib.contextmanager
def running(
    tmp_path: Path, extra_env: dict[str, dict[str, str]] | None = None, names: list[str] | None = None
) -> Iterator[tuple[Stack, Api]]:
    stack = make_stack(tmp_path)
    for name, env in (extra_env or {}).items():
        stack.extra_env.setdefault(name, {}).update(env)
    api: Api | None = None
    try:
        stack.start_all(names)
        stack.wait_ready(timeout=90)
        api = Api(stack)
        yield stack, api
    finally:
        if api is not None:
            api.http.close()
        stack.stop_all()


def restart(stack: Stack, *names: str) -> None:
    for name in names:
        stack.start(name)
    stack.wait_ready(list(names), timeout=60)


def assert_problem(resp, *statuses: int) -> None:
    assert resp.status_code in statuses, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith(PROBLEM_JSON), resp.headers
    body = resp.json()
    assert body["status"] == resp.status_code and body["title"] and body["type"]
    assert "Traceback" not in resp.text and 'File "' not in resp.text


def agency_id(api: Api, client_id: str) -> str:
    return jwt.get_unverified_claims(api.token(client_id))["agency_id"]


# --- a scripted family journey ---------------------------------------------------------------

FAMILY_NAMES = ["Ahmed", "Patel", "Kowalski", "Okafor", "Murphy", "Nguyen", "Evans", "Haddad"]


@dataclass
class Family:
    n: int
    referral_id: str = ""
    child_id: str = ""
    episode_id: str = ""
    outcome_id: str = ""
    reviews: int = 0
    # Fixed per family, so a retry sends the very same body (Idempotency-Key compares them).
    obtained_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def surname(self) -> str:
        return FAMILY_NAMES[self.n]

    def body(self) -> dict:
        # Distinct names, birth dates and postcodes: no two families match as one person.
        return {
            "referral_type": "request_for_support",
            "referrer": {
                "name": "Ms Head",
                "role": "Designated safeguarding lead",
                "email": "dsl@school.example",
            },
            "children": [
                {
                    "given_name": ["Amira", "Ravi", "Zofia", "Chidi", "Aoife", "Linh", "Megan", "Omar"][
                        self.n
                    ],
                    "family_name": self.surname,
                    "date_of_birth": f"201{self.n}-0{1 + self.n % 9}-1{self.n}",
                    "gender": "female",
                }
            ],
            "adults": [{"given_name": "Parent", "family_name": self.surname, "relationship": "mother"}],
            "address": {
                "line1": f"{self.n + 1} Oak Street",
                "town": "Anytown",
                "postcode": f"LS{self.n + 1} 4AP",
            },
            "needs": ["school_attendance", "parental_mental_health"],
            "summary": "Attendance 71%; mother has depression.",
            "significant_harm_suspected": False,
            "consent": {
                "obtained": True,
                "given_by": "Parent (mother)",
                "obtained_at": self.obtained_at,
                "method": "phone",
            },
        }


def refer(api: Api, fam: Family, key: str | None = None) -> Family:
    resp = api.post(
        SCHOOL, "/v1/referrals", json=fam.body(), headers={"Idempotency-Key": key or uuid.uuid4().hex}
    )
    assert resp.status_code == 201, resp.text
    fam.referral_id = resp.json()["id"]
    # A partner is not told the person index's ids (docs/referrals.md): the MASH reads them.
    fam.child_id = api.get("demo-mash", f"/v1/referrals/{fam.referral_id}").json()["children"][0]["person_id"]
    return fam


def decide(
    api: Api, fam: Family, outcome: str = "team_around_the_family", level: str = "partnership_plus"
) -> None:
    resp = api.post(
        MASH,
        f"/v1/referrals/{fam.referral_id}/decision",
        json={
            "level_of_need": level,
            "outcome": outcome,
            "rag": "amber",
            "rationale": "Several needs; multi-agency early help.",
            "decided_by": {"name": "Dee Cision", "role": "MASH team manager"},
        },
    )
    assert resp.status_code in (200, 201), resp.text


def await_episode(api: Api, fam: Family) -> str:
    fam.episode_id = eventually(
        lambda: api.get(MASH, f"/v1/referrals/{fam.referral_id}").json().get("episode_id")
    )
    assert fam.episode_id, f"no episode for referral {fam.referral_id} after {EVENT_WAIT}s"
    return fam.episode_id


def work_episode(api: Api, fam: Family, *, contact: bool = True) -> None:
    """Lead professional, (first contact,) assessment, plan, first review."""
    eid = fam.episode_id
    lead = api.put(
        EH,
        f"/v1/episodes/{eid}/lead-professional",
        json={
            "name": "Erin Early",
            "agency_id": agency_id(api, EH),
            "email": "erin@council.example",
            "family_agreed": True,
        },
    )
    assert lead.status_code == 200, lead.text
    if contact:
        resp = api.post(
            EH,
            f"/v1/episodes/{eid}/contacts",
            json={"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": "Spoke to mum."},
        )
        assert resp.status_code == 201, resp.text
    assessment = api.post(
        EH,
        f"/v1/episodes/{eid}/assessments",
        json={
            "family_members": [
                {"role": "child", "views": "likes school", "strengths": ["reading"], "needs": ["attendance"]}
            ],
            "baseline": {"school_attendance_percent": 71},
            "analysis": "Attendance falls when mum is unwell.",
            "priorities": ["attendance"],
        },
    )
    assert assessment.status_code == 201, assessment.text
    plan = api.put(
        EH,
        f"/v1/episodes/{eid}/plan",
        json={
            "outcomes": [
                {
                    "headline": "good_education",
                    "description": "Attends school",
                    "measure": "attendance %",
                    "baseline": "71",
                    "target": "95",
                    "target_on": SOON,
                }
            ],
            "actions": [
                {
                    "description": "Daily check-in",
                    "owner": {"agency_id": agency_id(api, SCHOOL), "name": "Ms Head"},
                    "due_on": SOON,
                    "outcome_refs": [0],
                }
            ],
        },
    )
    assert plan.status_code in (200, 201), plan.text
    fam.outcome_id = plan.json()["outcomes"][0]["id"]
    review(api, fam)


def review_request(api: Api, fam: Family):
    held = date.today()
    return api.post(
        EH,
        f"/v1/episodes/{fam.episode_id}/reviews",
        json={
            "held_on": held.isoformat(),
            "next_review_on": (held + timedelta(weeks=6)).isoformat(),
            "attendees": ["Erin", "Ms Head"],
            "outcome_progress": [{"outcome_id": fam.outcome_id, "score": 4 + fam.reviews}],
        },
    )


def review(api: Api, fam: Family) -> None:
    resp = review_request(api, fam)
    assert resp.status_code == 201, resp.text
    fam.reviews += 1


def episodes_of(api: Api, fam: Family) -> list[dict]:
    resp = api.get(MASH, f"/v1/episodes?person_id={fam.child_id}&limit=200")
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def deadlines(api: Api, query: str) -> list[dict]:
    resp = api.get(MASH, f"/v1/deadlines?{query}&limit=200")
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def kinds(items: list[dict]) -> Counter:
    return Counter((d["kind"], d["status"]) for d in items)


def feed(api: Api, client_id: str) -> list[dict]:
    resp = api.get(client_id, "/v1/notifications?limit=200")
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def expected_episode_deadlines(fam: Family, *, contact: bool) -> Counter:
    """What a worked episode's events open and meet (docs/notifications.md), each once."""
    want = Counter(
        {
            ("first_contact", "met" if contact else "open"): 1,
            ("assessment_start", "met"): 1,
            ("assessment_completion", "open"): 1,
            ("plan_agreed", "met"): 1,
            ("first_review", "met"): 1,
            ("next_review", "open"): 1,
            ("action_due", "open"): 1,  # the plan's one action, not yet done (issue 20)
        }
    )
    if fam.reviews > 1:
        want[("next_review", "met")] = fam.reviews - 1
    return want


# --- 1. the assessments service killed mid-journey ---------------------------------------------


def test_assessments_killed_mid_journey_every_event_takes_effect_once(tmp_path: Path) -> None:
    with running(tmp_path) as (stack, api):
        fams = [Family(i) for i in range(6)]
        # Before the fault: two families all the way to a first review.
        for fam in fams[:2]:
            refer(api, fam)
            decide(api, fam)
            await_episode(api, fam)
            work_episode(api, fam)
        # Decided, then the assessments service is killed at once: referral.decided is in
        # flight or still in the referrals outbox.
        refer(api, fams[2])
        decide(api, fams[2])
        stack.stop("assessments", kill=True)
        down_at = time.monotonic()

        # While it is down the front door keeps working; the episode side answers a problem at
        # once (502 by design; 504 today, see test_dead_upstream_is_502_not_a_timeout).
        for fam in fams[3:5]:
            refer(api, fam)
            decide(api, fam)
        refer(api, fams[5])
        decide(api, fams[5], outcome="signpost_universal", level="universal")  # no episode
        started = time.monotonic()
        down = review_request(api, fams[0])
        assert_problem(down, 502, 503, 504)
        assert time.monotonic() - started < 3.0
        assert api.get(SCHOOL, f"/v1/referrals/{fams[3].referral_id}").json()["status"] == "decided"

        restart(stack, "assessments")
        assert time.monotonic() - down_at < 30

        # Afterwards the journeys carry on.
        for fam in fams[2:5]:
            await_episode(api, fam)
            work_episode(api, fam)
        review(api, fams[0])  # the review refused during the outage, now accepted

        # Exactly once: one episode per team-around-the-family decision, the one the referral names.
        for fam in fams[:5]:
            eps = episodes_of(api, fam)
            assert [e["id"] for e in eps] == [fam.episode_id], (fam.surname, eps)
            assert eps[0]["referral_id"] == fam.referral_id
            assert api.get(MASH, f"/v1/referrals/{fam.referral_id}").json()["episode_id"] == fam.episode_id
        assert episodes_of(api, fams[5]) == []
        assert api.get(MASH, f"/v1/referrals/{fams[5].referral_id}").json().get("episode_id") is None
        # The episodes' own events reached notifications once each (no deadline doubled).
        for fam in fams[:5]:
            want = expected_episode_deadlines(fam, contact=True)
            got = eventually(
                lambda fam=fam, want=want: (
                    (k := kinds(deadlines(api, f"episode_id={fam.episode_id}"))) == want and k
                ),
                timeout=45,
            ) or kinds(deadlines(api, f"episode_id={fam.episode_id}"))
            assert got == want, (fam.surname, got)
        # No duplicate episode references either.
        refs = [episodes_of(api, fam)[0]["reference"] for fam in fams[:5]]
        assert len(set(refs)) == 5, refs


# --- 2. the notifications service and its worker killed mid-journey -----------------------------


def test_notifications_and_worker_killed_mid_journey_nothing_lost_or_doubled(tmp_path: Path) -> None:
    extra = {"notifications-worker": {"EH_NOTIFICATIONS_WORKER_TICK_SECONDS": "0.5"}}
    with running(tmp_path, extra) as (stack, api):
        # A first-contact deadline of one hour with a 24-hour reminder lead: its reminder is
        # due as soon as the episode opens, so the worker sends one per episode (no contact is
        # recorded in this journey, so the deadline stays open).
        rule = api.put(
            "demo-admin",
            "/v1/deadline-rules/first_contact",
            json={
                "amount": 1,
                "unit": "hours",
                "reminder_lead_hours": 24,
                "escalation_delay_hours": 24,
                "escalation_target": "early_help",
            },
        )
        assert rule.status_code == 200, rule.text
        fams = [Family(i) for i in range(5)]
        first = fams[0]
        refer(api, first)
        decide(api, first)
        await_episode(api, first)
        work_episode(api, first, contact=False)
        assert eventually(
            lambda: any(
                n["kind"] == "deadline.reminder" and n["episode_id"] == first.episode_id
                for n in feed(api, EH)
            ),
            timeout=15,
        ), "the worker sent no reminder before the fault"

        # Decided, then both notifications processes are killed: referral.decided (outcome
        # notification, front-door deadline met) is in flight or still in the outbox.
        refer(api, fams[1])
        decide(api, fams[1])
        stack.stop("notifications-worker", kill=True)
        stack.stop("notifications", kill=True)

        # While they are down: new requests (referral.received undeliverable), decisions,
        # and episodes worked (episode, assessment, plan and review events undeliverable).
        for fam in fams[2:]:
            refer(api, fam)
            decide(api, fam)
        await_episode(api, fams[1])
        work_episode(api, fams[1], contact=False)
        review(api, first)
        assert_problem(api.get(MASH, f"/v1/deadlines?referral_id={first.referral_id}"), 502, 503, 504)

        restart(stack, "notifications", "notifications-worker")
        for fam in fams[2:]:
            await_episode(api, fam)
            work_episode(api, fam, contact=False)

        # No deadline missing, none doubled.
        for fam in fams:
            front = eventually(
                lambda fam=fam: (
                    (d := deadlines(api, f"referral_id={fam.referral_id}"))
                    and [x for x in d if x["kind"] == "front_door_decision" and x["status"] == "met"]
                    and d
                )
            )
            assert [(x["kind"], x["status"]) for x in front if x["kind"] == "front_door_decision"] == [
                ("front_door_decision", "met")
            ], (fam.surname, front)
            want = expected_episode_deadlines(fam, contact=False)
            got = eventually(
                lambda fam=fam, want=want: (
                    (k := kinds(deadlines(api, f"episode_id={fam.episode_id}"))) == want and k
                )
            ) or kinds(deadlines(api, f"episode_id={fam.episode_id}"))
            assert got == want, (fam.surname, got)

        # The referrer's outcome notification, exactly once per referral.
        for fam in fams:
            eventually(lambda fam=fam: any(n["referral_id"] == fam.referral_id for n in feed(api, SCHOOL)))
        outcomes = Counter(n["referral_id"] for n in feed(api, SCHOOL) if n["kind"] == "referral.decided")
        assert outcomes == Counter({fam.referral_id: 1 for fam in fams}), outcomes

        # Each episode's first-contact reminder: sent (not lost) and sent once (not doubled).
        def reminders() -> Counter:
            return Counter(
                n["episode_id"]
                for n in feed(api, EH)
                if n["kind"] == "deadline.reminder" and n["data"].get("deadline_kind") == "first_contact"
            )

        want_reminders = Counter({fam.episode_id: 1 for fam in fams})
        got = eventually(lambda: reminders() == want_reminders and reminders(), timeout=20) or reminders()
        assert got == want_reminders
        time.sleep(1.5)  # three more worker ticks: still once each
        assert reminders() == want_reminders


# --- 3. a database held busy -----------------------------------------------------------------


class HeldLock:
    """Holds a write lock on the referrals database from the test, in a thread of its own."""

    def __init__(self, stack: Stack, seconds: float) -> None:
        self.stack, self.seconds = stack, seconds
        self.taken, self.released = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            if self.stack.pg_base:
                asyncio.run(self._hold_pg())
            else:
                self._hold_sqlite()
        except BaseException as exc:  # reported by __exit__
            self.error = exc
            self.taken.set()
        finally:
            self.released.set()

    def _hold_sqlite(self) -> None:
        conn = sqlite3.connect(self.stack.data_dir / "referrals.db", timeout=5, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock every writer of the service needs
            self.taken.set()
            time.sleep(self.seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    async def _hold_pg(self) -> None:
        import asyncpg

        base = self.stack.pg_base.replace("postgresql+asyncpg", "postgresql")
        conn = await asyncpg.connect(f"{base}/{self.stack.db_prefix}eh_referrals")
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute("LOCK TABLE referral IN ACCESS EXCLUSIVE MODE")
            self.taken.set()
            await asyncio.sleep(self.seconds)
            await tx.rollback()
        finally:
            await conn.close()

    def __enter__(self) -> HeldLock:
        self.thread.start()
        assert self.taken.wait(10), "could not take the lock"
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(self.seconds + 15)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def school_referrals(api: Api) -> list[dict]:
    resp = api.get(SCHOOL, "/v1/referrals?limit=200")
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def test_database_busy_for_a_few_seconds_writes_wait_then_succeed(tmp_path: Path) -> None:
    with running(tmp_path) as (_stack, api):
        api.token(SCHOOL)
        fam, key = Family(0), uuid.uuid4().hex
        with HeldLock(_stack, 3.0):
            started = time.monotonic()
            resp = api.post(SCHOOL, "/v1/referrals", json=fam.body(), headers={"Idempotency-Key": key})
            waited = time.monotonic() - started
        assert resp.status_code == 201, resp.text
        assert waited > 2.0, f"the write did not wait for the lock ({waited:.1f}s)"
        created = resp.json()
        # Readable, whole, exactly once; a retry with the key replays the same record.
        got = api.get(SCHOOL, f"/v1/referrals/{created['id']}")
        assert got.status_code == 200 and got.json()["children"][0]["family_name"] == fam.surname
        again = api.post(SCHOOL, "/v1/referrals", json=fam.body(), headers={"Idempotency-Key": key})
        assert again.status_code == 201 and again.json()["id"] == created["id"], again.text
        assert [r["id"] for r in school_referrals(api)] == [created["id"]]
        # The front-door deadline still follows from the (delayed) referral.received, once.
        front = eventually(lambda: deadlines(api, f"referral_id={created['id']}"), timeout=20)
        assert [d["kind"] for d in front] == ["front_door_decision"]


def test_database_busy_beyond_the_timeout_gives_a_clear_problem_and_half_writes_nothing(
    tmp_path: Path,
) -> None:
    """A write waits for a lock at most 5 s (SQLite busy timeout, PostgreSQL lock_timeout:
    shared.db), less than the gateway's upstream timeout, so the caller hears the service's
    own answer: a 503 problem with Retry-After, and nothing stored."""
    hold = 7.0
    with running(tmp_path) as (stack, api):
        api.token(SCHOOL)
        fam, key = Family(1), uuid.uuid4().hex
        with HeldLock(stack, hold):
            started = time.monotonic()
            resp = api.post(SCHOOL, "/v1/referrals", json=fam.body(), headers={"Idempotency-Key": key})
            answered = time.monotonic() - started
            assert_problem(resp, 503)
            assert resp.json()["type"].endswith("/database-busy") and resp.headers.get("retry-after")
            assert 4.0 < answered < hold, answered
        # Nothing half-written: the failed attempt left nothing, and its key is free, so a
        # retry with the same key creates exactly one whole record.
        retry = eventually(
            lambda: (
                (r := api.post(SCHOOL, "/v1/referrals", json=fam.body(), headers={"Idempotency-Key": key}))
                and r.status_code != 409
                and r
            ),
            timeout=15,
        )
        assert retry.status_code == 201, retry.text
        assert retry.headers.get("idempotency-replayed") is None
        assert [r["id"] for r in school_referrals(api)] == [retry.json()["id"]]
        whole = api.get(SCHOOL, f"/v1/referrals/{retry.json()['id']}").json()
        assert whole["children"][0]["family_name"] == fam.surname and whole["adults"], whole


# --- 4. a slow upstream ----------------------------------------------------------------------


def test_stalled_upstream_gateway_answers_504_in_time_and_recovers(tmp_path: Path) -> None:
    extra = {"gateway": {"EH_GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "1"}}
    with running(tmp_path, extra) as (stack, api):
        for client in (SCHOOL, MASH):
            api.token(client)
        fam, key = Family(2), uuid.uuid4().hex
        pid = stack.running["referrals"].popen.pid
        os.kill(pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:

            def timed(call):
                t0 = time.monotonic()
                resp = call()
                return resp, time.monotonic() - t0

            calls = [
                lambda: api.get(SCHOOL, "/v1/referrals"),
                lambda: api.get(MASH, "/v1/referrals?status=received"),
                lambda: api.post(SCHOOL, "/v1/referrals", json=fam.body(), headers={"Idempotency-Key": key}),
            ]
            with ThreadPoolExecutor(len(calls)) as pool:
                results = list(pool.map(timed, calls))
            for resp, took in results:
                assert_problem(resp, 504)
                assert resp.json()["type"].endswith("/upstream-timeout")
                assert took < 1.9, f"504 after {took:.2f}s (timeout 1 s)"
            # The other services are not held up by the stalled one: an answer within the 3 s the
            # referrals service stays stopped (a retry allowed: on a loaded machine a single
            # call can itself pass the 1 s timeout, which a hang behind referrals never recovers).
            assert eventually(lambda: api.get(MASH, "/v1/episodes").status_code == 200, timeout=2.5)
            time.sleep(max(0.0, 3.0 - (time.monotonic() - stopped_at)))
        finally:
            os.kill(pid, signal.SIGCONT)

        # Working again. (Bounds on this page allow for a loaded 2-core machine: a hang would
        # show as a 504 at the 1 s timeout, not as a slow 200.)
        back = eventually(
            lambda: (r := api.get(SCHOOL, "/v1/referrals")).status_code == 200 and r, timeout=10
        )
        assert back, "the referrals service did not come back"
        # The create that timed out at the gateway ran when the service resumed: one record,
        # and a retry with its key replays it rather than making a second.
        ids = eventually(lambda: [r["id"] for r in school_referrals(api)], timeout=10)
        assert len(ids) == 1, ids
        retry = eventually(
            lambda: (
                (r := api.post(SCHOOL, "/v1/referrals", json=fam.body(), headers={"Idempotency-Key": key}))
                and r.status_code not in (409, 504)
                and r
            ),
            timeout=20,
        )
        assert retry, "every retry timed out"
        assert retry.status_code == 201 and retry.json()["id"] == ids[0], retry.text
        assert retry.headers.get("idempotency-replayed") == "true", retry.headers
        assert [r["id"] for r in school_referrals(api)] == ids


def test_dead_upstream_is_502_not_a_timeout(tmp_path: Path) -> None:
    with running(tmp_path, names=["gateway", "referrals"]) as (stack, api):
        api.token(SCHOOL)
        stack.stop("referrals", kill=True)
        t0 = time.monotonic()
        resp = api.get(SCHOOL, "/v1/referrals")
        assert time.monotonic() - t0 < 2.0
        assert_problem(resp, 502)
        assert resp.json()["type"].endswith("/upstream-unavailable"), resp.text
