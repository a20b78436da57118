"""Rules of an episode's contacts (reading them back) and case notes (issue 20, item 1).

A case note is read like the episode it is on (`access.py`: early help and the MASH see every
episode, a partner only on the TAF with consent), except a `restricted` note, which is early
help's (and the MASH's): to anyone else it does not exist (404, left out of lists and the
chronology). Writing needs the episode open and visible. An amendment keeps every earlier
version (`case_note_version`) with who amended it and why; only the author practitioner (or,
for a note written by a system call, its agency) or an early help manager amends
(`policy.may_amend_note`). Every read by an agency other than early help is a disclosure.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.assessments import policy
from services.assessments import repository as repo
from services.assessments.access import EpisodeAccess
from services.assessments.context import Context
from services.assessments.episodes import ensure_open, not_future, valid_open_episode, visible_episode
from services.assessments.errors import ContactNotFound, NoteNotFound
from services.assessments.models import CaseNote, CaseNoteVersion, Contact, Episode
from services.assessments.schemas import (
    CaseNoteAmend,
    CaseNoteCreate,
    CaseNoteHistory,
    CaseNoteList,
    CaseNoteRead,
    CaseNoteVersionRead,
    ContactList,
    ContactRead,
    NoteAuthor,
)
from shared.pagination import PageParams, page_of
from shared.problems import ValidationProblem

# --- contacts -------------------------------------------------------------------------------


def contact_read(contact: Contact, episode: Episode) -> ContactRead:
    return ContactRead(
        id=contact.id,
        episode_id=contact.episode_id,
        contact_at=contact.contact_at,
        method=contact.method,
        notes=contact.notes,
        first=contact.first,
        within_deadline=(contact.contact_at <= episode.first_contact_due_at) if contact.first else None,
    )


async def list_contacts(
    ctx: Context, episode_id: str, params: PageParams, updated_since: datetime | None = None
) -> ContactList:
    """The episode's contacts, newest first; read like the episode (a disclosure)."""
    episode, access = await visible_episode(ctx, episode_id)
    rows = await repo.contacts_page(ctx.session, episode.id, params, updated_since)
    page, cursor = page_of(rows, params, "contact_at")
    ctx.viewer.disclosed(access, "contacts", episode.id)
    return ContactList(items=[contact_read(c, episode) for c in page], next_cursor=cursor)


async def read_contact(ctx: Context, episode_id: str, contact_id: str) -> ContactRead:
    episode, access = await visible_episode(ctx, episode_id)
    contact = await repo.get_contact(ctx.session, episode.id, contact_id)
    if contact is None:
        raise ContactNotFound("No such contact on this episode")
    ctx.viewer.disclosed(access, "contact", contact.id)
    return contact_read(contact, episode)


# --- case notes -----------------------------------------------------------------------------


def note_read(note: CaseNote) -> CaseNoteRead:
    return CaseNoteRead(
        id=note.id,
        episode_id=note.episode_id,
        kind=note.kind,  # type: ignore[arg-type]
        occurred_at=note.occurred_at,
        text=note.text,
        restricted=note.restricted,
        author=NoteAuthor(
            practitioner_id=note.author_practitioner_id,
            agency_id=note.author_agency_id,
            client_id=note.author_client_id,
        ),
        created_at=note.created_at,
        amended_at=note.amended_at,
        version=note.version,
    )


def _version_of(note: CaseNote, ctx: Context, reason: str | None) -> CaseNoteVersion:
    return CaseNoteVersion(
        note_id=note.id,
        version=note.version,
        kind=note.kind,
        occurred_at=note.occurred_at,
        text=note.text,
        restricted=note.restricted,
        recorded_at=ctx.now,
        recorded_by_practitioner_id=ctx.identity.practitioner_id,
        recorded_by_agency_id=ctx.identity.agency_id,
        recorded_by_client_id=ctx.identity.client_id,
        reason=reason,
    )


async def write_note(ctx: Context, episode_id: str, body: CaseNoteCreate) -> CaseNote:
    episode, _ = await valid_open_episode(ctx, episode_id)
    if body.restricted:
        policy.may_restrict_note(ctx.identity)
    not_future("occurred_at", body.occurred_at, ctx.now)
    note = CaseNote(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        kind=body.kind,
        occurred_at=body.occurred_at,
        text=body.text,
        restricted=body.restricted,
        author_practitioner_id=ctx.identity.practitioner_id,
        author_agency_id=ctx.identity.agency_id,
        author_client_id=ctx.identity.client_id,
        created_at=ctx.now,
        version=1,
    )
    ctx.session.add(note)
    await ctx.session.flush()
    ctx.session.add(_version_of(note, ctx, None))
    await ctx.session.flush()
    return note


async def _visible_note(
    ctx: Context, episode_id: str, note_id: str
) -> tuple[CaseNote, Episode, EpisodeAccess]:
    episode, access = await visible_episode(ctx, episode_id)
    note = await repo.get_note(ctx.session, episode.id, note_id)
    if note is None or (note.restricted and not policy.may_read_restricted(ctx.identity)):
        raise NoteNotFound("No such note on this episode")
    return note, episode, access


async def list_notes(
    ctx: Context, episode_id: str, params: PageParams, updated_since: datetime | None = None
) -> CaseNoteList:
    """Newest first (`occurred_at`), restricted ones only for those who may read them."""
    episode, access = await visible_episode(ctx, episode_id)
    rows = await repo.notes_page(
        ctx.session,
        episode.id,
        params,
        include_restricted=policy.may_read_restricted(ctx.identity),
        updated_since=updated_since,
    )
    page, cursor = page_of(rows, params, "occurred_at")
    ctx.viewer.disclosed(access, "case_notes", episode.id)
    return CaseNoteList(items=[note_read(n) for n in page], next_cursor=cursor)


async def read_note(ctx: Context, episode_id: str, note_id: str) -> CaseNote:
    note, _, access = await _visible_note(ctx, episode_id, note_id)
    ctx.viewer.disclosed(access, "case_note", note.id)
    return note


async def note_history(ctx: Context, episode_id: str, note_id: str) -> CaseNoteHistory:
    note, _, access = await _visible_note(ctx, episode_id, note_id)
    ctx.viewer.disclosed(access, "case_note", note.id)
    versions = await repo.note_versions(ctx.session, note.id)
    return CaseNoteHistory(
        note_id=note.id,
        episode_id=note.episode_id,
        versions=[
            CaseNoteVersionRead(
                version=v.version,
                kind=v.kind,  # type: ignore[arg-type]
                occurred_at=v.occurred_at,
                text=v.text,
                restricted=v.restricted,
                recorded_at=v.recorded_at,
                recorded_by=NoteAuthor(
                    practitioner_id=v.recorded_by_practitioner_id,
                    agency_id=v.recorded_by_agency_id,
                    client_id=v.recorded_by_client_id,
                ),
                reason=v.reason,
            )
            for v in versions
        ],
    )


async def load_for_amend(ctx: Context, episode_id: str, note_id: str) -> CaseNote:
    """The note, visible (else 404), the caller's to amend (else 403) on an open episode (else
    409): the router then checks If-Match against its version."""
    note, episode, _ = await _visible_note(ctx, episode_id, note_id)
    policy.may_amend_note(ctx.identity, note)
    ensure_open(episode)
    return note


async def amend_note(ctx: Context, note: CaseNote, body: CaseNoteAmend) -> CaseNote:
    if body.restricted:
        policy.may_restrict_note(ctx.identity)
    if body.occurred_at is not None:
        not_future("occurred_at", body.occurred_at, ctx.now)
    changes = {
        name: value
        for name in ("kind", "occurred_at", "text", "restricted")
        if (value := getattr(body, name)) is not None and value != getattr(note, name)
    }
    if not changes:
        raise ValidationProblem(
            "text", "an amendment changes at least one of kind, occurred_at, text or restricted"
        )
    for name, value in changes.items():
        setattr(note, name, value)
    note.amended_at = ctx.now
    note.version += 1
    await ctx.session.flush()
    ctx.session.add(_version_of(note, ctx, body.reason))
    await ctx.session.flush()
    return note
