"""One vocabulary: every fixed list the services validate is the code list `GET /v1/code-lists`
serves (shared/codes.py), so a code added in one place and not the other fails here."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from services.assessments import schemas as assessments
from services.consent import schemas as consent
from services.notifications import schemas as notifications
from services.referrals import codes as referral_codes
from services.referrals import schemas as referrals
from shared import calendar, roles
from shared.codes import CODE_LISTS, HEADLINES, NEED_CODES, build_lists


def _literal_values(annotation: Any) -> tuple[str, ...]:
    """The strings of a Literal, also inside Annotated/Optional."""
    args = get_args(annotation)
    if args and all(isinstance(a, str) for a in args):
        return tuple(args)
    for arg in args:
        found = _literal_values(arg)
        if found:
            return found
    return ()


def _field(model: Any, name: str) -> Any:
    return model.model_fields[name].annotation


TIED: list[tuple[str, Any]] = [
    ("referral_type", referral_codes.ReferralType),
    ("referral_status", referral_codes.ReferralStatus),
    ("level_of_need", referral_codes.LevelOfNeed),
    ("level_of_need", assessments.LevelOfNeed),
    ("decision_outcome", referral_codes.Outcome),
    ("rag", referral_codes.Rag),
    ("gender", referrals.Gender),
    ("consent_method", referrals.ConsentMethod),
    ("consent_method", consent.Method),
    ("consent_method", _field(consent.ConsentRead, "method")),
    ("consent_given_by", consent.Relationship),
    ("competence", consent.Competence),
    ("consent_purpose", consent.Purpose),
    ("consent_status", consent.ConsentStatus),
    ("sharing_decision", consent.Decision),
    ("lawful_basis", consent.LawfulBasisCode),
    ("close_reason", assessments.CloseReason),
    ("agency_type", assessments.AgencyType),
    ("agency_type", notifications.AgencyType),
    ("deadline_unit", notifications.Unit),
    ("deadline_unit", calendar.Unit),
]


@pytest.mark.parametrize(("name", "literal"), TIED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TIED)])
def test_a_services_fixed_list_is_its_code_list(name: str, literal: Any) -> None:
    values = _literal_values(literal)
    assert values, f"no Literal found for {name}"
    assert set(values) == set(CODE_LISTS[name].values)


def test_lists_whose_codes_live_in_one_field() -> None:
    contact = _literal_values(_field(assessments.ContactCreate, "method"))
    assert set(contact) == set(CODE_LISTS["contact_method"].values)
    # The episode origins a caller may send are the list less `referral` (the MASH's doing).
    origins = _literal_values(_field(assessments.EpisodeCreate, "origin"))
    assert set(origins) | {"referral"} == set(CODE_LISTS["episode_origin"].values)


def test_agency_types_are_the_roles_modules_less_the_internal_ones() -> None:
    assert set(CODE_LISTS["agency_type"].values) == set(roles.AGENCY_TYPES) - {roles.SERVICE, roles.ADMIN}


def test_needs_carry_their_headline_and_every_headline_is_listed() -> None:
    needs = {c.code: c for c in CODE_LISTS["need"].codes}
    assert set(needs) == set(NEED_CODES)
    assert needs["domestic_abuse"].extra == {
        "headline": "safe_from_domestic_abuse",
        "headline_label": "Safe from domestic abuse",
    }
    assert set(CODE_LISTS["headline"].values) == set(HEADLINES) and len(HEADLINES) == 10
    assert referral_codes.NEED_CODES is NEED_CODES  # the referrals service uses the one list


def test_every_code_has_a_label_and_codes_are_unique_within_a_list() -> None:
    for code_list in build_lists().values():
        assert code_list.description and code_list.used_in
        assert len(set(code_list.values)) == len(code_list.values), code_list.name
        assert all(c.label.strip() for c in code_list.codes), code_list.name


def test_verbal_is_still_accepted_and_read_as_in_person() -> None:
    body = consent.ConsentCreate.model_validate(
        {
            "person_id": "7d0f3c2e-5b7a-4f0e-9a51-2c6f1f0d9b11",
            "given_by": {"name": "Mother", "relationship": "parent"},
            "competence": "parental",
            "purposes": ["early_help_service"],
            "agencies": ["team_around_the_family"],
            "method": "verbal",
            "obtained_at": "2026-11-01T10:00:00Z",
        }
    )
    assert body.method == "in_person"
    with pytest.raises(ValueError, match="method"):
        consent.ConsentCreate.model_validate({**body.model_dump(mode="json"), "method": "carrier_pigeon"})


def test_deadline_kinds_are_the_seeded_rules() -> None:
    """Every deadline rule the migrations seed is a DeadlineKind, and nothing else is."""
    import importlib.util
    from pathlib import Path

    seeded: set[str] = set()
    versions = Path(notifications.__file__).parent / "migrations" / "versions"
    for path in sorted(versions.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_migration_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        seeded |= {row[0] for row in getattr(module, "DEFAULT_RULES", [])}
        if hasattr(module, "ACTION_DUE"):
            seeded.add(module.ACTION_DUE[0])
    assert seeded == set(get_args(notifications.DeadlineKind))
    assert set(get_args(notifications.SubjectType)) == {"referral", "episode", "consent", "action"}
