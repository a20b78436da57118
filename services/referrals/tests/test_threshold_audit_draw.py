"""The draw counts each outcome's decisions in SQL and reads only the sampled ones; it must be
the very sample the earlier draw made by reading every decision of the period into Python and
calling `random.Random(seed).sample` on each outcome's ids (the reference below), so an audit
drawn with a seed stays reproducible."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select

from services.referrals.models import Referral, ThresholdAuditItem
from services.referrals.tests.conftest import london
from services.referrals.tests.test_threshold_audit import decided, draw, march, sampled_referrals  # noqa: F401
from services.referrals.threshold_audit import stratified_positions, stratified_sample, stratum_size


def reference(ids_by_outcome: dict[str, list[str]], share: float, seed: int) -> dict[str, list[str]]:
    """The sample as drawn before the positions: `rng.sample` of each outcome's ids."""
    rng = random.Random(seed)
    return {
        outcome: rng.sample(ids, stratum_size(len(ids), share))
        for outcome, ids in sorted(ids_by_outcome.items())
        if ids
    }


def test_the_positions_are_the_picks_sample_makes_from_the_ids():
    rng = random.Random(3)
    for seed in range(40):
        sizes = {f"outcome_{k}": rng.choice([0, 1, 2, 7, 40, 900, 30_000]) for k in range(5)}
        ids = {o: [f"{o}-{i}" for i in range(n)] for o, n in sizes.items()}
        share = rng.choice([0.003, 0.05, 0.25, 1])
        assert stratified_sample(ids, share, seed) == reference(ids, share, seed)
        positions = stratified_positions(sizes, share, seed)
        assert {o: [ids[o][p] for p in picks] for o, picks in positions.items()} == reference(
            ids, share, seed
        )


async def test_the_draw_is_the_sample_of_every_decision_read_in_order(march: Any):  # noqa: F811
    svc = march
    outcomes = ["no_further_action"] * 9 + ["signpost_universal"] * 5 + ["team_around_the_family"] * 3
    for i, outcome in enumerate(outcomes):
        svc.now = london(2026, 3, 10 + i % 4, 10)  # several decisions at the same moment: id decides
        await decided(svc, outcome)
    svc.now = london(2026, 4, 2, 10)
    for seed in (5, 6):
        async with svc.runtime.db.session(write=False) as s:
            r = Referral.__table__
            rows = (
                await s.execute(
                    select(r.c.id, r.c.outcome)
                    .where(r.c.status == "decided")
                    .where(r.c.id.not_in(await sampled_referrals_all(s)))
                    .order_by(r.c.decided_at, r.c.id)
                )
            ).all()
        ids: dict[str, list[str]] = {}
        for rid, outcome in rows:
            ids.setdefault(outcome, []).append(rid)
        expected = reference(ids, 0.4, seed)
        resp = await draw(svc, share=0.4, seed=seed)
        assert resp.status_code == 201, resp.text
        audit = resp.json()
        assert {s["outcome"]: s["sampled"] for s in audit["strata"]} == {
            o: len(v) for o, v in expected.items()
        }
        assert await sampled_referrals(svc, audit["id"]) == sorted(i for v in expected.values() for i in v)


async def sampled_referrals_all(session: Any) -> list[str]:
    return list((await session.scalars(select(ThresholdAuditItem.referral_id))).all())
