"""The MASH queue: referrals awaiting a decision, by urgency or due time, and who works on them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.referrals.models import ReferralAssignment
from services.referrals.tests.conftest import NAMES, child, london, rfs

SCREENER = {"practitioner_id": "p-scr", "roles": "mash_screener"}
OTHER_SCREENER = {"practitioner_id": "p-scr-2", "roles": "mash_screener"}
MANAGER = {"practitioner_id": "p-mgr", "roles": "mash_manager"}
ADMIN = {"practitioner_id": "p-adm", "roles": "agency_admin"}


async def submit(svc: Any, i: int, when: Any, **overrides: Any) -> dict[str, Any]:
    svc.now = when
    body = rfs(children=[child(*NAMES[i], "2015-01-01")], adults=[], **overrides)
    return await svc.create("school_a", body)


async def queue(svc: Any, who: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    headers = svc.as_("mash", **(who or {}))
    resp = await svc.client.get("/v1/mash/queue", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def four(svc: Any) -> dict[str, str]:
    """Monday 2 November 2026: four referrals in the morning, one decided."""
    plain = await submit(svc, 0, london(2026, 11, 2, 9), needs=["school_attendance"])
    many = await submit(
        svc, 1, london(2026, 11, 2, 10), needs=["school_attendance", "housing", "debt_financial"]
    )
    neglect = await submit(svc, 2, london(2026, 11, 2, 11), needs=["neglect_concern"])
    concern = await submit(
        svc,
        3,
        london(2026, 11, 2, 12),
        referral_type="safeguarding_concern",
        consent=None,
        needs=["school_attendance"],
    )
    decided = await submit(svc, 4, london(2026, 11, 2, 8), needs=["housing"])
    assert (await svc.decide(decided["id"], "universal", "no_further_action")).status_code == 200
    svc.now = london(2026, 11, 2, 13)
    return {
        "plain": plain["id"],
        "many": many["id"],
        "neglect": neglect["id"],
        "concern": concern["id"],
        "decided": decided["id"],
    }


async def test_urgency_puts_safeguarding_and_the_highest_need_first(svc):
    ids = await four(svc)
    out = await queue(svc)  # urgency is the default
    assert [r["id"] for r in out["items"]] == [ids["concern"], ids["neglect"], ids["many"], ids["plain"]]
    assert out["items"][0]["urgent"] is True and out["items"][0]["priority"] > out["items"][1]["priority"]
    assert ids["decided"] not in str(out)
    due = await queue(svc, sort="due")
    assert [r["id"] for r in due["items"]] == [ids["plain"], ids["many"], ids["neglect"], ids["concern"]]
    stamps = [r["decision_due_at"] for r in due["items"]]
    assert stamps == sorted(stamps)
    # Due one working day after receipt: nothing is overdue on the Monday...
    assert not any(r["overdue"] for r in due["items"])
    svc.now = london(2026, 11, 3, 9, 30)  # ... the first is overdue on Tuesday at 09:30
    assert [r["overdue"] for r in (await queue(svc, sort="due"))["items"]] == [True, False, False, False]


async def test_the_queue_pages_without_losing_or_repeating(svc):
    ids = await four(svc)
    for sort in ("urgency", "due"):
        full = [r["id"] for r in (await queue(svc, sort=sort))["items"]]
        seen: list[str] = []
        page = await queue(svc, sort=sort, limit=1)
        seen += [r["id"] for r in page["items"]]
        while page["next_cursor"]:
            page = await queue(svc, sort=sort, limit=1, cursor=page["next_cursor"])
            seen += [r["id"] for r in page["items"]]
        assert seen == full and len(seen) == 4 and ids["decided"] not in seen
    bad = await svc.client.get("/v1/mash/queue", params={"cursor": "nonsense"}, headers=svc.as_("mash"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    wrong = await svc.client.get("/v1/mash/queue", params={"sort": "name"}, headers=svc.as_("mash"))
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "sort"


async def test_the_queue_is_the_mashs(svc):
    await four(svc)
    admin = await svc.client.get("/v1/mash/queue", headers=svc.as_("mash", **ADMIN))
    assert admin.status_code == 403 and admin.json()["type"].endswith("/role-required")
    for caller in ("school_a", "early_help", "social_care"):
        assert (await svc.client.get("/v1/mash/queue", headers=svc.as_(caller))).status_code == 403


async def assign(svc: Any, rid: str, who: dict[str, str] | None, to: str | None) -> Any:
    headers = svc.as_("mash", **(who or {}))
    return await svc.client.put(
        f"/v1/referrals/{rid}/assignment", json={"practitioner_id": to}, headers=headers
    )


async def test_a_screener_takes_a_referral_and_a_manager_assigns_anyone(svc):
    ids = await four(svc)
    taken = await assign(svc, ids["plain"], SCREENER, "p-scr")
    assert taken.status_code == 200, taken.text
    assert taken.json() == {
        "referral_id": ids["plain"],
        "assigned_to": "p-scr",
        "assigned_by": "p-scr",
        "assigned_at": "2026-11-02T13:00:00Z",
    }
    # A screener may not hand work to someone else, nor take it off them.
    for to in ("p-scr-2", None):
        refused = await assign(svc, ids["many"], SCREENER, to)
        assert refused.status_code == 403 and refused.json()["type"].endswith("/role-required")
    assert (await assign(svc, ids["many"], ADMIN, "p-adm")).status_code == 403
    given = await assign(svc, ids["many"], MANAGER, "p-scr-2")
    assert given.status_code == 200 and given.json()["assigned_by"] == "p-mgr"
    # A MASH system call acts with the manager's role.
    assert (await assign(svc, ids["neglect"], None, "p-scr")).json()["assigned_by"] == "system:client-mash"
    # Only referrals awaiting a decision; another agency cannot (scope), and no such referral is 404.
    assert (await assign(svc, ids["decided"], MANAGER, "p-scr")).status_code == 409
    school = await svc.client.put(
        f"/v1/referrals/{ids['plain']}/assignment", json={"practitioner_id": "x"}, headers=svc.as_("school_a")
    )
    assert school.status_code == 403
    assert (await assign(svc, "00000000-0000-0000-0000-000000000000", MANAGER, "p-scr")).status_code == 404

    mine = await queue(svc, SCREENER, assigned_to="me")
    assert {r["id"] for r in mine["items"]} == {ids["plain"], ids["neglect"]}
    assert all(r["assigned_to"] == "p-scr" for r in mine["items"])
    theirs = await queue(svc, assigned_to="p-scr-2")
    assert [r["id"] for r in theirs["items"]] == [ids["many"]]
    free = await queue(svc, assigned_to="unassigned")
    assert [r["id"] for r in free["items"]] == [ids["concern"]]
    me = await svc.client.get("/v1/mash/queue", params={"assigned_to": "me"}, headers=svc.as_("mash"))
    assert me.status_code == 422 and me.json()["errors"][0]["field"] == "assigned_to"

    # A manager unassigns; every assignment is kept with who made it and when.
    svc.now = london(2026, 11, 2, 14)
    assert (await assign(svc, ids["plain"], MANAGER, None)).json()["assigned_to"] is None
    async with svc.runtime.db.session(write=False) as s:
        history = (
            (
                await s.execute(
                    select(ReferralAssignment)
                    .where(ReferralAssignment.referral_id == ids["plain"])
                    .order_by(ReferralAssignment.assigned_at)
                )
            )
            .scalars()
            .all()
        )
    assert [(h.practitioner_id, h.assigned_by) for h in history] == [("p-scr", "p-scr"), (None, "p-mgr")]


async def test_who_works_on_a_referral_is_shown_to_the_mash_only(svc):
    ids = await four(svc)
    assert (await assign(svc, ids["plain"], SCREENER, "p-scr")).status_code == 200
    mash = (await svc.client.get(f"/v1/referrals/{ids['plain']}", headers=svc.as_("mash"))).json()
    assert mash["assigned_to"] == "p-scr" and mash["assigned_at"]
    for caller in ("school_a", "early_help", "social_care"):
        out = (await svc.client.get(f"/v1/referrals/{ids['plain']}", headers=svc.as_(caller))).json()
        assert out["assigned_to"] is None and out["assigned_at"] is None, caller
        listed = (await svc.client.get("/v1/referrals", headers=svc.as_(caller))).json()["items"]
        assert all(r["assigned_to"] is None for r in listed), caller
    listed = (await svc.client.get("/v1/referrals", headers=svc.as_("mash"))).json()["items"]
    assert next(r for r in listed if r["id"] == ids["plain"])["assigned_to"] == "p-scr"
