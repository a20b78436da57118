"""Bulk import of the incumbent system's consents (issue 22 item 2, docs/import.md).

`POST /v1/imports/consents` takes a batch of consents - who gave consent for which person, for
which purposes and agencies, how and when, and when it was withdrawn - and stores it in the
request's transaction, wholly or (any row wrong: one 422 naming each `consents.<row>.<field>`)
not at all. Each row is checked by the rules of `POST /v1/consents` (`policy.check_competence`:
who may give consent for whom), as of the day it was obtained (so a consent that has since
expired is imported as expired), and stored as `POST /v1/consents` stores one
(`service.record_consent`). History stays append-only: a withdrawn consent is its consent row
and a `consent_withdrawal` row, both inserted, never an update. A consent still live announces
itself with `consent.given` (the notifications service opens its review deadline); a withdrawn
or expired one announces nothing - it is history, with no work open. Each row's source id is
recorded with the consent it created (`shared/imports.py`): a re-run skips it, answering with
that consent. With `dry_run` every rule runs and the transaction is rolled back.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC

from services.consent import policy, service
from services.consent.models import IMPORT_RECORD, ConsentWithdrawal
from services.consent.schemas import ConsentImportBatch, ConsentImportResult, ImportConsentIn
from shared.imports import (
    answered,
    imported,
    one_batch_at_a_time,
    record,
    repeated,
    require_importer,
    row_errors,
)
from shared.problems import ValidationProblem

CONSENT = "consent"


async def import_batch(ctx: service.Context, body: ConsentImportBatch) -> ConsentImportResult:
    require_importer(ctx.identity)
    await one_batch_at_a_time(ctx.session, "consent")
    rows = body.consents
    done = await imported(ctx.session, IMPORT_RECORD, CONSENT, (r.source_id for r in rows))
    todo = [(i, r) for i, r in enumerate(rows) if r.source_id not in done]
    _check(ctx, todo, [r.source_id for r in rows])
    created: list[tuple[str, str, str | None]] = []
    today = service.london_day(ctx.now)
    for _, row in todo:
        consent = await service.record_consent(ctx, row)
        withdrawal = None
        if row.withdrawal is not None:
            withdrawal = ConsentWithdrawal(
                id=str(uuid.uuid4()),
                consent_id=consent.id,
                reason=row.withdrawal.reason,
                withdrawn_at=row.withdrawal.withdrawn_at.astimezone(UTC),
                recorded_by_agency_id=ctx.identity.agency_id,
                recorded_by_client_id=ctx.identity.client_id,
            )
            ctx.session.add(withdrawal)
        status = service.consent_status(consent, withdrawal, today)
        if status == "active":
            await service.announce_given(dataclasses.replace(ctx, now=consent.obtained_at), consent)
        created.append((row.source_id, consent.id, status))
    await ctx.session.flush()
    await record(ctx.session, IMPORT_RECORD, CONSENT, created, at=ctx.now, client_id=ctx.identity.client_id)
    if body.dry_run:
        await ctx.session.rollback()
    made = {s: t for s, t, _ in created}
    return ConsentImportResult(consents=answered((r.source_id for r in rows), made, done))


def _check(ctx: service.Context, todo: list[tuple[int, ImportConsentIn]], source_ids: list[str]) -> None:
    """Every row's faults at once: repeated source ids, who gave consent for whom, moments in
    the future, an expiry not after the day consent was obtained, a withdrawal before it."""
    errors = repeated("consents", source_ids)
    latest = ctx.now + service.CLOCK_SKEW
    for i, row in todo:
        at = f"consents.{i}"
        try:
            policy.check_competence(row)
        except ValidationProblem as problem:
            errors += [(f"{at}.{e['field']}", e["message"]) for e in problem.errors or []]
        if row.obtained_at > latest:
            errors.append((f"{at}.obtained_at", "must not be in the future"))
        if row.expires_on is not None and row.expires_on <= service.london_day(row.obtained_at):
            errors.append((f"{at}.expires_on", "must be after the day consent was obtained"))
        if row.withdrawal is not None:
            if row.withdrawal.withdrawn_at > latest:
                errors.append((f"{at}.withdrawal.withdrawn_at", "must not be in the future"))
            elif row.withdrawal.withdrawn_at < row.obtained_at:
                errors.append((f"{at}.withdrawal.withdrawn_at", "is before consent was obtained"))
    if errors:
        raise row_errors(errors)
