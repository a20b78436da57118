"""A referral batch records its households and needs in one pass (imports.py) with the result
of recording each referral alone, in batch order (households.record_from_referrals,
jsna.record_all)."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from services.referrals.models import PersonAddress, PersonRelationship, ReferralNeed
from services.referrals.tests.test_imports import URL, batch, importer


def three_referrals() -> dict[str, Any]:
    """One family referred three times: at 2 Ash Road, then 9 Elm Street, then Elm Street again."""
    body = batch("B")
    body["relationships"] = []
    first = body["referrals"][0]
    moved = copy.deepcopy(first)
    moved |= {"source_id": "BF2", "needs": ["school_attendance", "domestic_abuse"]}
    moved["address"] = {"line1": "9 Elm Street", "town": "Rotherham", "postcode": "S60 2AB"}
    again = copy.deepcopy(moved) | {"source_id": "BF3"}
    body["referrals"] = [first, moved, again]
    return body


async def test_a_batch_of_referrals_records_households_as_one_by_one(svc: Any) -> None:
    resp = await svc.client.post(URL, json=three_referrals(), headers=importer(svc))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    child, adult = out["children"][0]["id"], out["adults"][0]["id"]
    first, moved, _ = (r["id"] for r in out["referrals"])
    async with svc.runtime.db.session(write=False) as s:
        addresses = (await s.execute(select(PersonAddress))).scalars().all()
        relationships = (await s.execute(select(PersonRelationship))).scalars().all()
        needs = (await s.execute(select(ReferralNeed))).scalars().all()
    for person in (child, adult):
        mine = sorted((a for a in addresses if a.person_id == person), key=lambda a: a.line1)
        # Ash Road ended by the move; Elm Street current, not started again by the third referral.
        assert [(a.line1, a.to_on is None, a.referral_id) for a in mine] == [
            ("2 Ash Road", False, first),
            ("9 Elm Street", True, moved),
        ]
    # The mother's relationship once, from the first referral that named her as mother.
    assert [(r.from_person_id, r.to_person_id, r.type, r.referral_id) for r in relationships] == [
        (adult, child, "mother_of", first)
    ]
    assert len(needs) == 1 + 2 + 2
