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
