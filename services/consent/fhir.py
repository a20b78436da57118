"""The consent service's FHIR R4 resources (docs/fhir.md): a consent as a `Consent`, an entry
of the disclosure log as an `AuditEvent`.

Reads go through the same rule and policy functions as `/v1` (`service.get_consent`,
`service.list_consents`, `service.list_disclosures`, `policy.may_see_disclosure`): an agency
that does not see every person sees only the consents naming it and the disclosures made to
it (anything else 404, or left out of a search), exactly as on `/v1`.

The consent service knows people by their person index id, not their NHS number, so the
searches take `patient=<person id>` (FHIR's reference search on the `patient` parameter).

    Consent.status               active: active; withdrawn, expired: inactive
    .scope                       patient-privacy (consentscope)
    .category                    IDSCL, information disclosure (v3 ActCode)
    .patient                     the person index id (identifier, system .../Id/person)
    .dateTime                    obtained_at
    .performer                   who gave it: the patient (self) or a contained RelatedPerson
    .organization                the recording agency (identifier, system .../Id/agency)
    .policyRule                  the lawful basis: consent (UK GDPR Art. 6(1)(a), 9(2)(a))
    .provision                   permit; period obtained_at .. expires_on (or the withdrawal);
                                 actor: the agencies named (recipients); purpose: purposes
    .extension                   method, competence, withdrawal (withdrawnAt, reason)

    AuditEvent.type/subtype      rest / read: a read of a person's information
    .recorded                    disclosed_at
    .purposeOfEvent              basis (why: consent, sharing_decision, mash_screening, ...)
    .agent                       who: the agency (and the practitioner, when one read it)
    .entity                      what: the person, the resource read, the consent or decision
                                 it rested on, the request id
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.consent import policy, service
from services.consent import repository as repo
from services.consent.lawful_bases import LAWFUL_BASES
from services.consent.schemas import TEAM_AROUND_THE_FAMILY, ConsentRead, DisclosureRead
from shared.fhir import eh_system
from shared.pagination import PageParams
from shared.problems import NotFound

PERSON_ID = eh_system("Id/person")
AGENCY_ID = eh_system("Id/agency")
PRACTITIONER_ID = eh_system("Id/practitioner")
SHARING_DECISION_ID = eh_system("Id/sharing-decision")
PURPOSE = eh_system("CodeSystem/consent-purpose")
LAWFUL_BASIS = eh_system("CodeSystem/lawful-basis")
RELATIONSHIP = eh_system("CodeSystem/consent-relationship")
DISCLOSURE_BASIS = eh_system("CodeSystem/disclosure-basis")
METHOD_EXTENSION = eh_system("StructureDefinition/consent-method")
COMPETENCE_EXTENSION = eh_system("StructureDefinition/consent-competence")
WITHDRAWAL_EXTENSION = eh_system("StructureDefinition/consent-withdrawal")
SEARCH_LIMIT = 50

STATUS = {"active": "active", "withdrawn": "inactive", "expired": "inactive"}
SCOPE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
            "display": "Privacy Consent",
        }
    ]
}
CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "IDSCL",
            "display": "information disclosure",
        }
    ]
}
RECIPIENT = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP",
            "display": "information recipient",
        }
    ]
}
_CONSENT_BASIS = next(b for b in LAWFUL_BASES if b.code == "consent")


def _person(person_id: str) -> dict[str, Any]:
    return {"identifier": {"system": PERSON_ID, "value": person_id}}


def _agency(agency_id: str) -> dict[str, Any]:
    if agency_id == TEAM_AROUND_THE_FAMILY:
        return {"display": "Everyone on the Team Around the Family"}
    return {"identifier": {"system": AGENCY_ID, "value": agency_id}}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def consent_resource(c: ConsentRead) -> dict[str, Any]:
    """A consent record (as `/v1/consents/{id}` shows it) as a FHIR R4 Consent."""
    relationship = c.given_by.relationship
    contained: list[dict[str, Any]] = []
    if relationship == "self":
        performer = {**_person(c.person_id), "display": c.given_by.name}
    else:
        contained.append(
            {
                "resourceType": "RelatedPerson",
                "id": "given-by",
                "patient": _person(c.person_id),
                "relationship": [{"coding": [{"system": RELATIONSHIP, "code": relationship}]}],
                "name": [{"text": c.given_by.name}],
            }
        )
        performer = {"reference": "#given-by", "display": c.given_by.name}
    end = c.expires_on.isoformat() if c.expires_on else None
    if c.withdrawal is not None:
        end = _iso(c.withdrawal.withdrawn_at)
    period = {"start": _iso(c.obtained_at)}
    if end:
        period["end"] = end
    extensions: list[dict[str, Any]] = [
        {"url": METHOD_EXTENSION, "valueCode": c.method},
        {"url": COMPETENCE_EXTENSION, "valueCode": c.competence},
    ]
    if c.withdrawal is not None:
        extensions.append(
            {
                "url": WITHDRAWAL_EXTENSION,
                "extension": [
                    {"url": "withdrawnAt", "valueDateTime": _iso(c.withdrawal.withdrawn_at)},
                    {"url": "reason", "valueString": c.withdrawal.reason},
                ],
            }
        )
    out: dict[str, Any] = {
        "resourceType": "Consent",
        "id": c.id,
        "meta": {"lastUpdated": _iso(c.withdrawal.withdrawn_at if c.withdrawal else c.created_at)},
        "extension": extensions,
        "status": STATUS[c.status],
        "scope": SCOPE,
        "category": [CATEGORY],
        "patient": _person(c.person_id),
        "dateTime": _iso(c.obtained_at),
        "performer": [performer],
        "organization": [_agency(c.recorded_by_agency_id)],
        "policyRule": {
            "coding": [{"system": LAWFUL_BASIS, "code": _CONSENT_BASIS.code}],
            "text": f"UK GDPR {_CONSENT_BASIS.uk_gdpr}; {_CONSENT_BASIS.special_category}",
        },
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [{"role": RECIPIENT, "reference": _agency(a)} for a in c.agencies],
            "purpose": [{"system": PURPOSE, "code": p} for p in c.purposes],
        },
    }
    if contained:
        out["contained"] = contained
    return out


def audit_event(d: DisclosureRead) -> dict[str, Any]:
    """One entry of the disclosure log (who saw what, when, why) as a FHIR R4 AuditEvent."""
    agents: list[dict[str, Any]] = [
        {
            "type": {
                "coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110152"}]
            },
            "who": _agency(d.agency_id),
            "requestor": True,
        }
    ]
    if d.practitioner_id:
        agents.append(
            {
                "who": {"identifier": {"system": PRACTITIONER_ID, "value": d.practitioner_id}},
                "requestor": True,
            }
        )
    entities: list[dict[str, Any]] = [
        {
            "what": _person(d.person_id),
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
        },
        {
            "what": {
                "identifier": {"system": eh_system(f"Id/{d.resource_type}"), "value": d.resource_id},
                "display": f"{d.resource_type} {d.resource_id}",
            },
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
            "name": d.resource_type,
        },
    ]
    if d.reference_id and d.basis == "consent":
        entities.append({"what": {"reference": f"Consent/{d.reference_id}"}, "description": "basis"})
    elif d.reference_id:
        ref = {"identifier": {"system": SHARING_DECISION_ID, "value": d.reference_id}}
        entities.append({"what": ref, "description": "basis"})
    if d.request_id:
        entities[1]["detail"] = [{"type": "request_id", "valueString": d.request_id}]
    return {
        "resourceType": "AuditEvent",
        "id": d.id,
        "meta": {"lastUpdated": _iso(d.recorded_at)},
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
        "action": "R",
        "recorded": _iso(d.disclosed_at),
        "outcome": "0",
        "purposeOfEvent": [{"coding": [{"system": DISCLOSURE_BASIS, "code": d.basis}], "text": d.basis}],
        "agent": agents,
        "source": {"observer": {"display": "Early Help API disclosure log"}},
        "entity": entities,
    }


# ---- reads: the /v1 rule functions ----


async def read_consent(ctx: service.Context, consent_id: str) -> dict[str, Any]:
    """One consent the caller may see (404 otherwise, as `/v1/consents/{id}`)."""
    return consent_resource(await service.get_consent(ctx, consent_id))


async def search_consents(ctx: service.Context, person_id: str, count: int) -> list[dict[str, Any]]:
    """The person's consents the caller may see (as `GET /v1/consents?person_id=`: the newest
    `count` first)."""
    items, _ = await service.list_consents(ctx, person_id, PageParams(limit=count))
    return [consent_resource(c) for c in items]


async def read_audit_event(ctx: service.Context, disclosure_id: str) -> dict[str, Any]:
    """One disclosure the caller may see (404 otherwise: another agency's disclosures are as
    hidden as on `GET /v1/people/{id}/disclosures`)."""
    row = await repo.get_disclosure(ctx.session, disclosure_id)
    if row is None or not policy.may_see_disclosure(ctx.identity, row):
        raise NotFound("No such AuditEvent")
    return audit_event(DisclosureRead.model_validate(row, from_attributes=True))


async def search_audit_events(ctx: service.Context, person_id: str, count: int) -> list[dict[str, Any]]:
    """The person's disclosures the caller may see (as `GET /v1/people/{id}/disclosures`:
    the oldest `count` first, a journey read forwards)."""
    items, _ = await service.list_disclosures(ctx, person_id, PageParams(limit=count))
    return [audit_event(d) for d in items]
