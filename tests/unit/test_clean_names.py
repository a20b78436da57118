"""Names are stored as NFC without invisible characters, and bidi controls are refused
(shared.validation.clean_name, issue 23 item 4)."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, StringConstraints, ValidationError

from shared.validation import CleanName, clean_name, name_key


class Person(BaseModel):
    family_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), CleanName]


def test_decomposed_accents_are_stored_composed() -> None:
    assert Person(family_name="Zoe\u0301").family_name == "Zo\u00e9"


def test_invisible_characters_are_dropped() -> None:
    assert Person(family_name="Sm\u200bith\ufeff").family_name == "Smith"
    assert Person(family_name="Ro\u00adsa").family_name == "Rosa"


@pytest.mark.parametrize("control", ["\u202e", "\u202d", "\u2066", "\u2069", "\u200f"])
def test_bidi_controls_are_refused(control: str) -> None:
    with pytest.raises(ValidationError, match="bidirectional"):
        Person(family_name=f"Smith{control}htims")


def test_control_codes_are_refused_and_only_joiners_survive_for_scripts_that_need_them() -> None:
    with pytest.raises(ValueError, match="control"):
        clean_name("Smi\x07th")
    persian = "\u0645\u06cc\u200c\u0631\u0648\u0645"  # a ZWNJ inside a Persian word
    assert clean_name(persian) == persian
    assert name_key(persian) == name_key("\u0645\u06cc\u0631\u0648\u0645")


def test_names_differing_only_in_invisible_characters_or_case_have_one_key() -> None:
    assert name_key("Sm\u200bith") == name_key("SMITH") == name_key("smith")
    assert name_key("Zoe\u0301") == name_key("Zo\u00e9")


def test_the_documented_pattern_refuses_exactly_what_clean_name_refuses() -> None:
    """The OpenAPI `pattern` (ECMA-262 `\\uXXXX` escapes, read here by Python's re) and the
    validator agree on every code point of the Basic Multilingual Plane."""
    import re

    from shared.validation import NAME_PATTERN

    pattern = re.compile(NAME_PATTERN.encode().decode("unicode_escape"))
    disagree = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        try:
            clean_name(f"a{ch}b")
            accepted = True
        except ValueError:
            accepted = False
        if accepted != bool(pattern.match(f"a{ch}b")):
            disagree.append(f"U+{cp:04X}")
    assert disagree == []


def test_every_name_field_in_the_merged_document_states_the_rule() -> None:
    """Each name a caller sends (people, referrers, consent givers, lead professionals, TAF
    members, practitioners...) carries the pattern, so a client can check before sending."""
    from devtools.openapi_diff import current_document
    from shared.validation import NAME_PATTERN

    doc = current_document()
    found: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            if node.get("pattern") == NAME_PATTERN:
                found.append(where)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(doc["components"]["schemas"], "schemas")
    for schema in (
        "Referrals_ChildIn", "Referrals_AdultIn", "Referrals_Referrer", "Referrals_PersonCorrectionCreate",
        "Assessments_LeadProfessionalSet", "Assessments_TafMemberCreate", "Consent_GivenBy",
        "PractitionerCreate", "TeamCreate",
    ):  # fmt: skip
        assert any(w.startswith(f"schemas.{schema}.") for w in found), (
            f"no name field of {schema} states the rule"
        )
