"""National identifiers: NHS numbers (modulus 11), UK postcodes, Unique Pupil Numbers."""

from __future__ import annotations

import re

# The UK Government Data Standards Catalogue pattern (letters that never appear are excluded).
_POSTCODE = re.compile(
    r"^(GIR0AA|[A-PR-UWYZ]([0-9]{1,2}|[A-HK-Y][0-9]([0-9ABEHMNPRV-Y])?|[0-9][A-HJKPS-UW])"
    r"[0-9][ABD-HJLNP-UW-Z]{2})$"
)
_UPN = re.compile(r"^[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]$")


def normalise_postcode(value: str) -> str:
    """Upper case without spaces ("sw1a 1aa" -> "SW1A1AA"); ValueError if not a UK postcode."""
    compact = re.sub(r"\s+", "", value).upper()
    if not _POSTCODE.match(compact):
        raise ValueError("not a valid UK postcode")
    return compact


def format_postcode(compact: str) -> str:
    """ "SW1A1AA" -> "SW1A 1AA" (the inward code is always the last three characters)."""
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def nhs_number_valid(digits: str) -> bool:
    """Modulus 11: weights 10..2 over the first nine digits; the tenth is the check digit."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def normalise_nhs_number(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    if len(digits) != 10 or not digits.isdigit():
        raise ValueError("an NHS number has 10 digits")
    if not nhs_number_valid(digits):
        raise ValueError("fails the NHS number modulus 11 check")
    return digits


def normalise_upn(value: str) -> str:
    upn = value.strip().upper()
    if not _UPN.match(upn):
        raise ValueError("a Unique Pupil Number is a letter, 11 digits and a check character")
    return upn
