"""Person matching: normalised names, phonetic keys and the match score (pure functions).

The person index stores, beside what was said, the normalised names (upper case letters only,
accents stripped) and their Metaphone keys. Candidates are fetched through indexed keys
(repository.find_candidates); this module scores each candidate against the probe.

Score: a weighted mean of the components both sides have (docs/referrals.md has the table):
given name, family name, date (of birth, or expected date for an unborn child), postcode.
Name similarity is Jaro-Winkler on the normalised names, raised to at least 0.9 when the
Metaphone keys agree. An NHS number on both sides settles it either way.

"Certain" is stricter than a high score, because a wrong automatic link merges two children's
records: the NHS numbers agree, or every component agrees exactly or phonetically (dates and
postcode exactly; adults: both names exactly). Everything else at or above the possible
threshold is offered to the MASH to confirm or reject.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jellyfish

PHONETIC_FLOOR = 0.9
FAMILY_CERTAIN_SIMILARITY = 0.92
UNBORN_CERTAIN_DAYS = 28
UNBORN_POSSIBLE_DAYS = 56
ANY_KIND = "any"  # a search: no kind given, so children and adults are both candidates

WEIGHTS = {
    "child": {"given": 0.25, "family": 0.30, "date": 0.30, "postcode": 0.15},
    "unborn": {"given": 0.15, "family": 0.35, "date": 0.30, "postcode": 0.20},
    "adult": {"given": 0.35, "family": 0.45, "postcode": 0.20},
}


def normalise_name(value: str | None) -> str:
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed.upper() if "A" <= c <= "Z")


def phonetic_key(normalised: str) -> str:
    return jellyfish.metaphone(normalised)[:20] if normalised else ""


@dataclass(frozen=True)
class Facts:
    """What is known about one person, normalised: a probe or a candidate from the index."""

    kind: str  # child | unborn | adult | any (a search)
    given_norm: str = ""
    family_norm: str = ""
    given_key: str = ""
    family_key: str = ""
    date_of_birth: date | None = None
    unborn_expected_on: date | None = None
    nhs_number: str | None = None
    postcode: str | None = None
    person_id: str | None = None

    @classmethod
    def of(
        cls,
        kind: str,
        given_name: str | None,
        family_name: str | None,
        *,
        date_of_birth: date | None = None,
        unborn_expected_on: date | None = None,
        nhs_number: str | None = None,
        postcode: str | None = None,
        person_id: str | None = None,
    ) -> Facts:
        g, f = normalise_name(given_name), normalise_name(family_name)
        return cls(
            kind=kind,
            given_norm=g,
            family_norm=f,
            given_key=phonetic_key(g),
            family_key=phonetic_key(f),
            date_of_birth=date_of_birth,
            unborn_expected_on=unborn_expected_on,
            nhs_number=nhs_number,
            postcode=postcode,
            person_id=person_id,
        )

    @classmethod
    def of_child(cls, child: Any, postcode: str | None) -> Facts:
        """A child as named on a referral (an intake's or an import's): its kind, names, date of
        birth or expected date, NHS number, and the family's postcode."""
        return cls.of(
            child.kind,
            child.given_name,
            child.family_name,
            date_of_birth=child.date_of_birth,
            unborn_expected_on=child.unborn_expected_on,
            nhs_number=child.nhs_number,
            postcode=postcode,
        )


@dataclass
class Scored:
    person_id: str
    score: float
    certain: bool
    reasons: list[str] = field(default_factory=list)


def name_similarity(a: str, b: str, key_a: str, key_b: str) -> tuple[float, bool]:
    """(similarity 0..1, phonetically equal)."""
    if a == b:
        return 1.0, True
    phonetic = bool(key_a) and key_a == key_b
    sim = jellyfish.jaro_winkler_similarity(a, b)
    return (max(sim, PHONETIC_FLOOR) if phonetic else sim), phonetic


def _date_score(probe: Facts, cand: Facts) -> tuple[float, bool] | None:
    """(score, exact) for the date component, or None when either side lacks a date."""
    p_dob, c_dob = probe.date_of_birth, cand.date_of_birth
    if p_dob and c_dob:
        if p_dob == c_dob:
            return 1.0, True
        swapped = p_dob.year == c_dob.year and p_dob.month == c_dob.day and p_dob.day == c_dob.month
        one_field = sum((p_dob.year != c_dob.year, p_dob.month != c_dob.month, p_dob.day != c_dob.day)) == 1
        return (0.5 if swapped or one_field else 0.0), False
    p_day = p_dob or probe.unborn_expected_on
    c_day = c_dob or cand.unborn_expected_on
    if p_day and c_day and (probe.unborn_expected_on or cand.unborn_expected_on):
        gap = abs((p_day - c_day).days)
        both_unborn = probe.unborn_expected_on is not None and cand.unborn_expected_on is not None
        if both_unborn and gap <= UNBORN_CERTAIN_DAYS:
            return 1.0, True
        return (0.5 if gap <= UNBORN_POSSIBLE_DAYS else 0.0), False
    return None


def score(probe: Facts, cand: Facts, *, certain_threshold: float) -> Scored:
    pid = cand.person_id or ""
    if probe.nhs_number and cand.nhs_number:
        if probe.nhs_number == cand.nhs_number:
            return Scored(pid, 1.0, True, ["nhs_number"])
        return Scored(pid, 0.0, False, ["nhs_number_differs"])
    profile = _profile(probe)
    if probe.kind != ANY_KIND and (profile == "adult") != (cand.kind == "adult"):
        return Scored(pid, 0.0, False, ["adult_and_child"])
    weights = WEIGHTS[profile]
    parts: dict[str, float] = {}
    reasons: list[str] = []
    given_phonetic = family_phonetic = False
    if probe.given_norm and cand.given_norm and "given" in weights:
        parts["given"], given_phonetic = name_similarity(
            probe.given_norm, cand.given_norm, probe.given_key, cand.given_key
        )
        reasons.append(_name_reason("given_name", probe.given_norm, cand.given_norm, given_phonetic))
    if probe.family_norm and cand.family_norm:
        parts["family"], family_phonetic = name_similarity(
            probe.family_norm, cand.family_norm, probe.family_key, cand.family_key
        )
        reasons.append(_name_reason("family_name", probe.family_norm, cand.family_norm, family_phonetic))
    date_exact = False
    if "date" in weights:
        dated = _date_score(probe, cand)
        if dated is not None:
            parts["date"], date_exact = dated
            if parts["date"] > 0:
                reasons.append("date_exact" if date_exact else "date_close")
    postcode_exact = False
    if probe.postcode and cand.postcode:
        postcode_exact = probe.postcode == cand.postcode
        same_outward = probe.postcode[:-3] == cand.postcode[:-3]
        parts["postcode"] = 1.0 if postcode_exact else (0.5 if same_outward else 0.0)
        if parts["postcode"] > 0:
            reasons.append("postcode" if postcode_exact else "postcode_district")
    total_weight = sum(weights[k] for k in parts)
    value = sum(weights[k] * v for k, v in parts.items()) / total_weight if total_weight else 0.0
    value = round(value, 4)
    if profile == "adult":
        names_agree = (
            probe.given_norm == cand.given_norm != "" and probe.family_norm == cand.family_norm != ""
        )
        certain = names_agree and postcode_exact
    else:
        # An unborn child often has no given name yet: then the name cannot disagree.
        given_ok = given_phonetic or (profile == "unborn" and "given" not in parts)
        family_ok = family_phonetic or parts.get("family", 0.0) >= FAMILY_CERTAIN_SIMILARITY
        certain = bool(given_ok and family_ok and date_exact and postcode_exact)
    return Scored(pid, value, certain and value >= certain_threshold, reasons)


def _profile(probe: Facts) -> str:
    """Which weights apply: the probe's kind, or for a search (kind "any") what it gives."""
    if probe.kind in WEIGHTS:
        return probe.kind
    if probe.date_of_birth:
        return "child"
    return "unborn" if probe.unborn_expected_on else "adult"


def _name_reason(name: str, a: str, b: str, phonetic: bool) -> str:
    if a == b:
        return f"{name}_exact"
    return f"{name}_phonetic" if phonetic else f"{name}_fuzzy"


def rank(probe: Facts, candidates: list[Facts], *, certain_threshold: float, floor: float) -> list[Scored]:
    """Candidates scoring at least `floor`, best first (certain before possible)."""
    scored = [score(probe, c, certain_threshold=certain_threshold) for c in candidates]
    kept = [s for s in scored if s.certain or s.score >= floor]
    kept.sort(key=lambda s: (not s.certain, -s.score, s.person_id))
    return kept
