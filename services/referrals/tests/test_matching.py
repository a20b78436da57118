"""Pure rules: NHS numbers, postcodes, name normalisation and the match score."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from services.referrals.codes import HEADLINES, NEED_CODES, source_code_for
from services.referrals.identifiers import (
    format_postcode,
    nhs_number_valid,
    normalise_nhs_number,
    normalise_postcode,
)
from services.referrals.matching import Facts, normalise_name, score
from shared.calendar import LONDON, WorkingCalendar

CERTAIN = 0.92


@pytest.mark.parametrize("number", ["9434765919", "9434765870", "4010232137"])
def test_valid_nhs_numbers(number):
    assert nhs_number_valid(number)
    assert normalise_nhs_number(f"{number[:3]} {number[3:6]} {number[6:]}") == number


@pytest.mark.parametrize("number", ["9434765918", "1234567890", "943476591", "94347659190", "abcdefghij"])
def test_invalid_nhs_numbers(number):
    assert not nhs_number_valid(number)
    with pytest.raises(ValueError):
        normalise_nhs_number(number)


def test_check_digit_of_ten_is_never_valid():
    # A prefix whose check digit would be 10 has no valid NHS number at all.
    prefix = next(
        f"{n:09d}"
        for n in range(1000)
        if 11 - sum(int(d) * w for d, w in zip(f"{n:09d}", range(10, 1, -1), strict=True)) % 11 == 10
    )
    assert not any(nhs_number_valid(prefix + str(d)) for d in range(10))


@pytest.mark.parametrize(
    ("raw", "compact"),
    [
        ("s60 1ae", "S601AE"),
        ("SW1A 1AA", "SW1A1AA"),
        ("M1 1AE", "M11AE"),
        ("b338th", "B338TH"),
        ("GIR 0AA", "GIR0AA"),
    ],
)
def test_postcodes(raw, compact):
    assert normalise_postcode(raw) == compact
    assert format_postcode(compact).replace(" ", "") == compact


@pytest.mark.parametrize("raw", ["", "S60", "12345", "QV1 1AA", "S60 1AEX", "S60 1CA"])
def test_bad_postcodes(raw):
    with pytest.raises(ValueError):
        normalise_postcode(raw)


def test_names_normalise_accents_spaces_and_punctuation():
    assert normalise_name("Zoë O'Brien-Smith") == "ZOEOBRIENSMITH"
    assert normalise_name("  jayden ") == "JAYDEN"


def kid(given, family, dob="2012-04-10", postcode="S651AA", **kw):
    return Facts.of(
        "child", given, family, date_of_birth=date.fromisoformat(dob), postcode=postcode, person_id="x", **kw
    )


def test_spelling_variants_with_same_date_and_postcode_are_certain():
    s = score(kid("Jaden", "Browne"), kid("Jayden", "Brown"), certain_threshold=CERTAIN)
    assert s.certain and s.score > 0.95
    assert set(s.reasons) >= {"given_name_phonetic", "family_name_phonetic", "date_exact", "postcode"}


@pytest.mark.parametrize(
    ("probe", "why"),
    [
        (kid("Jayden", "Brown", postcode="M11AE"), "another postcode"),
        (kid("Jayden", "Brown", dob="2012-10-04"), "day and month swapped"),
        (kid("Aisha", "Brown"), "another given name (a twin)"),
    ],
)
def test_near_misses_are_possible_not_certain(probe, why):
    s = score(probe, kid("Jayden", "Brown"), certain_threshold=CERTAIN)
    assert not s.certain, why
    assert s.score >= 0.75, why


def test_a_sibling_is_not_a_match():
    s = score(kid("Yusuf", "Brown", dob="2015-01-01"), kid("Jayden", "Brown"), certain_threshold=CERTAIN)
    assert s.score < 0.75


def test_nhs_numbers_settle_it_either_way():
    a = kid("Jayden", "Brown", nhs_number="9434765919")
    assert score(
        kid("J", "X", dob="2000-01-01", nhs_number="9434765919"), a, certain_threshold=CERTAIN
    ).certain
    other = score(kid("Jayden", "Brown", nhs_number="9434765870"), a, certain_threshold=CERTAIN)
    assert other.score == 0 and not other.certain


def test_adults_need_exact_names_and_postcode():
    mum = Facts.of("adult", "Samira", "Ahmed", postcode="S601AE", person_id="m")
    assert score(
        Facts.of("adult", "Samira", "Ahmed", postcode="S601AE"), mum, certain_threshold=CERTAIN
    ).certain
    assert not score(
        Facts.of("adult", "Samirah", "Ahmed", postcode="S601AE"), mum, certain_threshold=CERTAIN
    ).certain
    assert score(kid("Samira", "Ahmed", postcode="S601AE"), mum, certain_threshold=CERTAIN).score == 0


def test_need_codes_each_map_to_one_of_the_ten_headlines():
    assert len(HEADLINES) == 10
    assert set(NEED_CODES.values()) <= set(HEADLINES)
    assert {"school_attendance", "domestic_abuse", "exploitation", "worklessness"} <= set(NEED_CODES)


def test_self_referral_and_unknown_agency_types():
    assert source_code_for("police", "self_referral") == "1C"
    assert source_code_for("martian", "request_for_support") == "10"


def test_decision_due_over_christmas_2026():
    received = datetime(2026, 12, 24, 23, 40, tzinfo=LONDON)
    assert WorkingCalendar().add_working_days(received, 1) == datetime(2026, 12, 29, 23, 40, tzinfo=LONDON)


def test_candidate_lookups_of_the_same_keys_share_one_statement():
    """Built once per combination of keys (the values are parameters), not per lookup; a
    probe with nothing to look up by has none."""
    from services.referrals.repository import find_candidates_statement

    a = Facts(kind="child", family_key="SMT", date_of_birth=date(2019, 4, 2), postcode="LS1 4AP")
    b = Facts(kind="child", family_key="JNS", date_of_birth=date(2020, 1, 9), postcode="M1 1AE")
    c = Facts(kind="child", family_key="JNS", date_of_birth=date(2020, 1, 9), nhs_number="9434765919")
    (sa, pa), (sb, pb), (sc, _pc) = (find_candidates_statement(p) for p in (a, b, c))  # type: ignore[misc]
    assert sa is sb and sc is not sa
    assert pa["family_key"] == "SMT" and pb["postcode"] == "M1 1AE"
    assert find_candidates_statement(Facts(kind="adult", given_norm="sam")) is None
