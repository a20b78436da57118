"""Shared by the referrals benchmarks: a fresh migrated PostgreSQL database and name lists.

Uses `EH_BENCH_PG_URL` (a server base URL, as `python -m devtools.pg start` prints) if set;
otherwise starts a throwaway PostgreSQL for the run and deletes it afterwards.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

from bench import pgdb
from services.referrals.identifiers import normalise_postcode

SERVICE_DIR = Path(__file__).resolve().parent.parent / "services" / "referrals"

GIVEN = (
    "Oliver George Noah Arthur Muhammad Leo Harry Oscar Archie Henry Theodore Freddie Jack Charlie Theo "
    "Alfie Jacob Thomas Finley Arlo William Lucas Roman Tommy Isaac Teddy Alexander Luca Edward James "
    "Joshua Albie Elijah Max Mohammed Reggie Hudson Sonny Ezra Jayden Jaden Kai Tyler Mason Logan Ethan "
    "Olivia Amelia Isla Ava Ivy Freya Lily Florence Mia Willow Rosie Sophia Isabella Grace Daisy Sienna "
    "Poppy Elsie Emily Ella Evelyn Phoebe Sofia Evie Charlotte Harper Millie Matilda Maya Sophie Alice "
    "Emilia Isabelle Ruby Luna Maisie Aria Penelope Mila Bonnie Eva Hallie Eliza Ada Violet Esme Amira "
    "Aisha Kayla Zara Layla Nia Chloe Jessica Leah Aaliyah Hannah Samira Grace Daniel Yusuf Ibrahim"
).split()
FAMILY = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson "
    "Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin "
    "Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson "
    "Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell "
    "Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson "
    "Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes "
    "Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham "
    "Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox "
    "Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien "
    "Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett "
    "Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland "
    "Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane "
    "Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long Freeman "
    "Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins O'Connor Harper "
    "Coleman Watkins Moss McCarthy Chambers Okafor Ahmed Nowak Kowalski Mensah Osei Ali Rahman Uddin"
).split()
SYLLABLES_A = (
    "Ash Bel Cal Dun Elm Fen Gar Hol Ing Jar Kel Lin Mor Nor Orr Pen Rad Sel Tor Wal Yar Zel".split()
)
SYLLABLES_B = "by ton ley field worth well wick ham stead bridge ford more dale croft gate shaw".split()
AREAS = "S DN LS M B BH SW NW E N SE W L NE HU WF HD BD YO LN NG DE LE CV WS".split()


def surname(rng: random.Random) -> str:
    """Common surnames (Zipf-weighted) with a long synthetic tail, as a real index has."""
    if rng.random() < 0.75:
        return FAMILY[min(int(rng.paretovariate(0.9)) - 1, len(FAMILY) - 1)]
    return rng.choice(SYLLABLES_A) + rng.choice(SYLLABLES_B) + rng.choice(["", "e", "s", "son"])


def postcode_pool(rng: random.Random, n: int) -> list[str]:
    units = "ABDEFGHJLNPQRSTUWXYZ"
    pool: set[str] = set()
    while len(pool) < n:
        candidate = f"{rng.choice(AREAS)}{rng.randint(1, 40)}{rng.randint(0, 9)}{rng.choice(units)}{rng.choice(units)}"
        try:
            pool.add(normalise_postcode(candidate))
        except ValueError:
            continue
    return sorted(pool)


def district_postcodes(rng: random.Random, n: int, districts: int = 40) -> list[str]:
    """`n` postcodes (normalised) in `districts` postcode districts of a few areas."""
    outward = [
        f"{area}{number}" for area in ("S", "DN", "HD", "WF") for number in range(1, 1 + districts // 4)
    ]
    units = "ABDEFGHJLNPQRSTUWXYZ"
    pool: set[str] = set()
    while len(pool) < n:
        pool.add(
            normalise_postcode(
                f"{rng.choice(outward)}{rng.randint(0, 9)}{rng.choice(units)}{rng.choice(units)}"
            )
        )
    return sorted(pool)


def nhs_numbers(start: int = 400_000_000):
    """Valid, distinct NHS numbers in sequence (modulus 11)."""
    n = start
    while True:
        digits = f"{n:09d}"
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        n += 1
        if check == 10:
            continue
        yield digits + str(0 if check == 11 else check)


def migrated_database(prefix: str) -> contextlib.AbstractAsyncContextManager[tuple[str, str]]:
    """(SQLAlchemy URL, asyncpg DSN) of a fresh database built by the referrals migrations."""
    return pgdb.migrated_database(SERVICE_DIR, prefix)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
