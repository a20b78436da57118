"""The referrals service's FHIR R4 resources (docs/fhir.md): a referral as a `ServiceRequest`.

Reads go through the same rule and policy functions as `/v1/referrals` (`service.visible`,
`service.represent`: another agency's referral is 404, a partner's view withholds the same
fields); a create builds a `ReferralCreate` from the ServiceRequest and calls
`service.create`, so every intake rule (NHS number check, need codes, consent) holds.

The mapping (both ways, documented in docs/fhir.md):

    ServiceRequest.identifier        the reference (RFS-...), system .../Id/referral-reference
    .status                          received, linked: active; decided: completed; withdrawn: revoked
    .intent                          order
    .category                        referral_type (code system .../CodeSystem/referral-type)
    .priority                        urgent when significant harm is suspected or a safeguarding concern
    .subject -> contained Patient    the (first) child: name, gender, birthDate, NHS number, address
    .supportingInfo -> Patient       further children (read only)
    .requester -> PractitionerRole   the referrer: display is the name, code.text the role, telecom
    .reasonCode                      needs (code system .../CodeSystem/need)
    .note[0].text                    summary
    .authoredOn                      received_at
    .extension consent               obtained, givenBy, obtainedAt, method (sub-extensions)
"""

from __future__ import annotations

from typing import Any

import pydantic
from fhir.resources.R4B.servicerequest import ServiceRequest

from services.referrals import policy, service
from services.referrals import repository as repo
from services.referrals.models import Referral
from services.referrals.schemas import ChildRead, ReferralCreate, ReferralRead
from shared.fhir import NHS_NUMBER_SYSTEM, eh_system
from shared.problems import Problem, validation_errors

REFERRAL_REFERENCE = eh_system("Id/referral-reference")
PERSON_ID = eh_system("Id/person")
REFERRAL_TYPE = eh_system("CodeSystem/referral-type")
NEED = eh_system("CodeSystem/need")
CONSENT_EXTENSION = eh_system("StructureDefinition/referral-consent")
CONSENT_METHOD = eh_system("CodeSystem/consent-method")
SEARCH_LIMIT = 50

STATUS = {"received": "active", "linked": "active", "decided": "completed", "withdrawn": "revoked"}
GENDER_OUT = {
    "female": "female",
    "male": "male",
    "other": "other",
    "not_known": "unknown",
    "not_stated": "unknown",
}
GENDER_IN = {"female": "female", "male": "male", "other": "other", "unknown": "not_known"}


class FhirInvalid(Problem):
    """A FHIR resource that is not valid R4, or that this API cannot take: a 422 naming each
    element (`ServiceRequest.subject`), as an OperationOutcome on the wire."""

    status, type_slug, title = 422, "fhir-invalid", "Invalid FHIR resource"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        fields = ", ".join(sorted({e["field"] for e in errors}))
        super().__init__(f"Invalid elements: {fields}", errors=errors)


def _invalid(element: str, message: str, code: str | None = None) -> FhirInvalid:
    return FhirInvalid([{"field": element, "loc": element.split("."), "message": message, "code": code}])


# ---- read ----


def _patient(child: ChildRead, local_id: str, address: dict[str, Any] | None) -> dict[str, Any]:
    identifiers = []
    if child.nhs_number:
        identifiers.append({"system": NHS_NUMBER_SYSTEM, "value": child.nhs_number})
    if child.person_id:
        identifiers.append({"system": PERSON_ID, "value": child.person_id})
    name: dict[str, Any] = {"family": child.family_name}
    if child.given_name:
        name["given"] = [child.given_name]
    patient: dict[str, Any] = {"resourceType": "Patient", "id": local_id, "name": [name]}
    if identifiers:
        patient["identifier"] = identifiers
    if child.gender:
        patient["gender"] = GENDER_OUT[child.gender]
    if child.date_of_birth:
        patient["birthDate"] = child.date_of_birth.isoformat()
    if address:
        addr: dict[str, Any] = {"use": "home", "line": [address["line1"]], "postalCode": address["postcode"]}
        if address.get("town"):
            addr["city"] = address["town"]
        patient["address"] = [addr]
    return patient


def service_request(r: ReferralRead) -> dict[str, Any]:
    """The referral as the caller may see it (`service.represent`), as a ServiceRequest."""
    address = dict(r.address) if r.address else None
    patients = [_patient(c, f"child-{i}", address) for i, c in enumerate(r.children)]
    referrer = dict(r.referrer)
    telecom = [
        {"system": system, "value": referrer[key]}
        for key, system in (("email", "email"), ("phone", "phone"))
        if referrer.get(key)
    ]
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": "referrer",
        "code": [{"text": referrer["role"]}],
    }
    if telecom:
        role["telecom"] = telecom
    out: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": r.id,
        "meta": {"lastUpdated": (r.decision.decided_at if r.decision else r.received_at).isoformat()},
        "contained": [*patients, role],
        "identifier": [{"system": REFERRAL_REFERENCE, "value": r.reference}],
        "status": STATUS[r.status],
        "intent": "order",
        "category": [{"coding": [{"system": REFERRAL_TYPE, "code": r.referral_type}]}],
        "priority": "urgent" if r.urgent else "routine",
        "subject": {"reference": "#child-0", "display": _display(r.children[0])},
        "authoredOn": r.received_at.isoformat(),
        "requester": {"reference": "#referrer", "display": referrer["name"]},
        "reasonCode": [
            {"coding": [{"system": NEED, "code": n.code}], "text": n.headline} for n in r.need_headlines
        ],
        "note": [{"text": r.summary}],
    }
    if len(patients) > 1:
        out["supportingInfo"] = [{"reference": f"#{p['id']}"} for p in patients[1:]]
    if r.consent is not None:
        out["extension"] = [_consent_extension(dict(r.consent))]
    return out


def _display(child: ChildRead) -> str:
    return " ".join(p for p in (child.given_name, child.family_name) if p)


def _consent_extension(consent: dict[str, Any]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": "obtained", "valueBoolean": consent["obtained"]}]
    if consent.get("given_by"):
        parts.append({"url": "givenBy", "valueString": consent["given_by"]})
    if consent.get("obtained_at"):
        parts.append({"url": "obtainedAt", "valueDateTime": consent["obtained_at"]})
    if consent.get("method"):
        parts.append({"url": "method", "valueCode": consent["method"]})
    return {"url": CONSENT_EXTENSION, "extension": parts}


async def read(ctx: service.Context, referral_id: str) -> tuple[Referral, dict[str, Any]]:
    """One referral the caller may see (404 otherwise, as `/v1/referrals/{id}`)."""
    referral = await service.visible(ctx, referral_id, with_rows=True)
    return referral, service_request(await service.represent(ctx, referral))


async def search(ctx: service.Context, nhs_number: str, count: int) -> list[tuple[Referral, dict[str, Any]]]:
    """The referrals naming the child with this NHS number that the caller may see, newest
    first (partners: their agency's own, as `GET /v1/referrals`)."""
    only = None if policy.reads_all(ctx.identity) else ctx.identity.agency_id
    referrals = await repo.referrals_for_nhs_number(ctx.session, nhs_number, only_agency_id=only, limit=count)
    out = []
    for referral in referrals:
        ctx.people_of[referral.id] = await repo.referral_people(ctx.session, referral.id)
        out.append((referral, service_request(await service.represent(ctx, referral))))
    return out


def people_of(ctx: service.Context, referral: Referral) -> list[str]:
    """The people a read of this referral discloses (for the disclosure log)."""
    return [r.person_id for r in ctx.people_of.get(referral.id, [])]


# ---- create ----


def _validated(doc: Any) -> ServiceRequest:
    if not isinstance(doc, dict) or doc.get("resourceType") != "ServiceRequest":
        raise _invalid("ServiceRequest.resourceType", "must be ServiceRequest")
    try:
        return ServiceRequest.model_validate(doc)
    except pydantic.ValidationError as exc:
        errors = validation_errors([dict(e) for e in exc.errors()])
        for e in errors:
            e["field"] = "ServiceRequest." + e["field"] if e["field"] else "ServiceRequest"
        raise FhirInvalid(errors) from None


def _coding(element: list[dict[str, Any]] | None, system: str, name: str) -> list[str]:
    codes = []
    for i, concept in enumerate(element or []):
        found = [c["code"] for c in concept.get("coding", []) if c.get("system") == system and c.get("code")]
        if not found:
            raise _invalid(f"{name}[{i}].coding", f"needs a coding with system {system}")
        codes.append(found[0])
    return codes


def _contained(
    doc: dict[str, Any], reference: dict[str, Any] | None, kind: str, element: str
) -> dict[str, Any]:
    ref = (reference or {}).get("reference", "")
    if not ref.startswith("#"):
        raise _invalid(element, f"must reference a contained {kind} (#id)", "missing" if not ref else None)
    for res in doc.get("contained", []):
        if res.get("resourceType") == kind and res.get("id") == ref[1:]:
            return dict(res)
    raise _invalid(element, f"no contained {kind} with id {ref[1:]!r}")


def _child(patient: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = patient.get("name") or [{}]
    given = names[0].get("given") or []
    nhs = [i["value"] for i in patient.get("identifier", []) if i.get("system") == NHS_NUMBER_SYSTEM]
    child: dict[str, Any] = {
        "given_name": given[0] if given else None,
        "family_name": names[0].get("family"),
        "date_of_birth": patient.get("birthDate"),
        "gender": GENDER_IN.get(patient.get("gender", "unknown"), "not_known"),
        "nhs_number": nhs[0] if nhs else None,
    }
    addresses = patient.get("address") or []
    if not addresses:
        raise _invalid("Patient.address", "the child's home address is required", "missing")
    a = addresses[0]
    address = {"line1": (a.get("line") or [None])[0], "town": a.get("city"), "postcode": a.get("postalCode")}
    return child, address


def _referrer(doc: dict[str, Any]) -> dict[str, Any]:
    requester = doc.get("requester") or {}
    role = _contained(doc, requester, "PractitionerRole", "ServiceRequest.requester")
    telecom = {t.get("system"): t.get("value") for t in role.get("telecom", [])}
    return {
        "name": requester.get("display"),
        "role": ((role.get("code") or [{}])[0]).get("text"),
        "email": telecom.get("email"),
        "phone": telecom.get("phone"),
    }


def _consent(doc: dict[str, Any]) -> dict[str, Any] | None:
    for ext in doc.get("extension", []):
        if ext.get("url") == CONSENT_EXTENSION:
            parts = {p.get("url"): p for p in ext.get("extension", [])}
            return {
                "obtained": parts.get("obtained", {}).get("valueBoolean"),
                "given_by": parts.get("givenBy", {}).get("valueString"),
                "obtained_at": parts.get("obtainedAt", {}).get("valueDateTime"),
                "method": parts.get("method", {}).get("valueCode"),
            }
    return None


# Where each field of ReferralCreate came from, to name the element in a 422.
ELEMENTS = {
    "referral_type": "ServiceRequest.category",
    "referrer.name": "ServiceRequest.requester.display",
    "referrer.role": "PractitionerRole.code.text",
    "referrer": "ServiceRequest.requester",
    "children.0.given_name": "Patient.name.given",
    "children.0.family_name": "Patient.name.family",
    "children.0.date_of_birth": "Patient.birthDate",
    "children.0.nhs_number": "Patient.identifier",
    "children.0": "ServiceRequest.subject",
    "address": "Patient.address",
    "needs": "ServiceRequest.reasonCode",
    "summary": "ServiceRequest.note",
    "consent": f"ServiceRequest.extension({CONSENT_EXTENSION})",
}


def _element(field: str) -> str:
    for prefix, element in ELEMENTS.items():
        if field == prefix or field.startswith(prefix + "."):
            return element
    return "ServiceRequest"


def referral_create(doc: Any) -> ReferralCreate:
    """The `/v1` request a ServiceRequest stands for; a 422 naming the element otherwise."""
    _validated(doc)
    if doc.get("status") not in ("active", "draft"):
        raise _invalid("ServiceRequest.status", "a new referral is active")
    if doc.get("intent") not in ("order", "proposal", "plan"):
        raise _invalid("ServiceRequest.intent", "order, proposal or plan")
    types = _coding(doc.get("category"), REFERRAL_TYPE, "ServiceRequest.category")
    if len(types) != 1:
        raise _invalid("ServiceRequest.category", f"one category with system {REFERRAL_TYPE}", "missing")
    child, address = _child(_contained(doc, doc.get("subject"), "Patient", "ServiceRequest.subject"))
    fields = {
        "referral_type": types[0],
        "referrer": _referrer(doc),
        "children": [child],
        "address": address,
        "needs": _coding(doc.get("reasonCode"), NEED, "ServiceRequest.reasonCode"),
        "summary": " ".join(n.get("text", "") for n in doc.get("note", [])).strip() or None,
        "significant_harm_suspected": doc.get("priority") in ("urgent", "asap", "stat"),
        "consent": _consent(doc),
    }
    try:
        return ReferralCreate.model_validate(fields)
    except pydantic.ValidationError as exc:
        errors = validation_errors([dict(e) for e in exc.errors()])
        for e in errors:
            e["message"] = f"{e['field']}: {e['message']}"
            e["field"] = _element(e["field"])
        raise FhirInvalid(errors) from None


async def create(ctx: service.Context, doc: Any) -> dict[str, Any]:
    """A referral from a ServiceRequest (every `/v1` intake rule holds), as a ServiceRequest."""
    body = referral_create(doc)
    try:
        referral = await service.create(ctx, body)
    except Problem as exc:
        if exc.status == 422 and exc.errors:
            for e in exc.errors:
                e["field"] = _element(str(e.get("field", "")))
        raise
    return service_request(await service.represent(ctx, referral))
