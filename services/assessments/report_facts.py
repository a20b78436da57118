"""An episode's first steps as the episode report reads them (issue 21 item 6): the earliest
assessment started and approved and the earliest plan version agreed and the current plan version, kept in
`episode_report_fact` by the rules that start and approve an assessment (assessments.py) and
agree a plan (plans.agree_plan, the bulk import's too), in their transactions. Recomputed from
the episode's few assessments and plans each time, so an imported plan agreed before a stored
one still lands in its place. Migration 0011 filled the table for what was stored before it,
by SQL of its own that gives the same answer (services/assessments/tests/test_report_facts.py
checks both)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments.models import Assessment, EpisodeReportFact, Plan


async def refresh(session: AsyncSession, episode_id: str) -> None:
    """Recompute the episode's row from its assessments and plans (flushed ones included)."""
    started, approved = (
        await session.execute(
            select(func.min(Assessment.started_at), func.min(Assessment.approved_at)).where(
                Assessment.episode_id == episode_id
            )
        )
    ).one()
    agreed = (
        await session.execute(select(func.min(Plan.agreed_at)).where(Plan.episode_id == episode_id))
    ).scalar_one()
    current = (
        await session.execute(
            select(Plan.id).where(Plan.episode_id == episode_id).order_by(Plan.version.desc()).limit(1)
        )
    ).scalar_one_or_none()
    if started is None and agreed is None:
        return
    fact = await session.get(EpisodeReportFact, episode_id)
    if fact is None:
        fact = EpisodeReportFact(episode_id=episode_id)
        session.add(fact)
    fact.first_assessment_started_at = started
    fact.first_assessment_approved_at = approved
    fact.first_plan_agreed_at = agreed
    fact.current_plan_id = current
    await session.flush()
