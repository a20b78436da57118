"""The assessments service's background jobs, run in turn by the runtime's worker
(`shared.runtime.WorkerRuntime`): disclosures posted to the consent service, and step-ups the
referrals service has not confirmed yet sent again."""

from __future__ import annotations

from datetime import timedelta

from services.assessments import repository as repo
from services.assessments.access import RELAY
from services.assessments.app_runtime import AssessmentsRuntime
from services.assessments.clients.referrals import StepUpFailed
from services.assessments.context import Context
from services.assessments.models import StepUp
from services.assessments.step_ups import mark_step_up_sent, step_up_payload
from shared.clock import utcnow
from shared.events import backoff
from shared.runtime import Job


async def deliver_disclosures(runtime: AssessmentsRuntime) -> int:
    """Post due disclosures to the consent service; returns how many were accepted."""
    return await RELAY.deliver(runtime.db, lambda: runtime.consent().record_disclosure)


async def retry_pending_step_ups(runtime: AssessmentsRuntime) -> int:
    """Background job: resend unconfirmed step-ups with their own id (idempotent upstream).
    No transaction is held open across the call to the referrals service."""
    now = utcnow()
    async with runtime.db.session(write=False) as session:
        if not await repo.any_due_step_up(session, now):
            return 0
    async with runtime.db.session() as session:
        due = []
        for record in await repo.due_step_ups(session, now):
            due.append(
                (record.id, step_up_payload(record, await repo.person_ids(session, record.episode_id)))
            )
            record.next_attempt_at = now + timedelta(seconds=60)  # a lease while we try
    outcomes: list[tuple[str, str | None, str | None]] = []
    for step_up_id, payload in due:
        try:
            outcomes.append((step_up_id, await runtime.referrals().create_step_up(payload), None))
        except StepUpFailed as exc:
            outcomes.append((step_up_id, None, str(exc)[:200]))
    done = 0
    async with runtime.db.session() as session:
        for step_up_id, referral_id, error in outcomes:
            step_up = await session.get(StepUp, step_up_id)
            if step_up is None or step_up.status != "pending":
                continue
            step_up.attempts += 1
            if referral_id is None:
                step_up.last_error = error
                step_up.next_attempt_at = utcnow() + timedelta(seconds=backoff(step_up.attempts))
                continue
            await mark_step_up_sent(Context.for_system(session, runtime), step_up, referral_id)
            done += 1
    return done


JOBS: list[Job] = [deliver_disclosures, retry_pending_step_ups]
