"""Small-number suppression (shared/suppression.py), attacked.

The attacker knows the method, the threshold, every published cell and total and each
suppressed cell's reason (`ranges`: a primary cell is 1..threshold-1; a secondary one at least
the threshold and no more than the smallest published cell of the line that chose it). The
brute-force solver enumerates every table consistent with all of that - row, column and grand
totals, and so every difference between them - and the tests fail if any suppressed cell has
only one feasible value.
"""

from __future__ import annotations

import random

import pytest

from shared.suppression import Suppressed, ranges, suppress

T = 5


def feasible_values(out: Suppressed, threshold: int) -> dict[tuple[int, int], set[int]]:
    """Values each suppressed cell takes in tables consistent with what is published: all of
    them when a cell has one only, else (the search stops early) at least two."""
    rows, cols = len(out.counts), len(out.counts[0])
    bounds = ranges(out.counts, out.reasons, threshold)
    known_row = [sum(v or 0 for v in out.counts[r]) for r in range(rows)]
    known_col = [sum(out.counts[r][c] or 0 for r in range(rows)) for c in range(cols)]
    # Linear constraints: each published total less its published cells, over its suppressed
    # cells (the grand total over all of them).
    lines: list[tuple[int, list[tuple[int, int]]]] = []
    for r, total in enumerate(out.row_totals):
        if total is not None:
            lines.append((total - known_row[r], [e for e in bounds if e[0] == r]))
    for c, total in enumerate(out.column_totals):
        if total is not None:
            lines.append((total - known_col[c], [e for e in bounds if e[1] == c]))
    if out.grand_total is not None:
        lines.append((out.grand_total - sum(known_row), list(bounds)))
    lines = [(amount, cells) for amount, cells in lines if cells]
    constrained = sorted({e for _, cells in lines for e in cells})
    found: dict[tuple[int, int], set[int]] = {}
    for e in set(bounds) - set(constrained):  # in no published total: its whole range
        low, high = bounds[e]
        found[e] = {low, int(min(high, low + 1)), out_truth[e]}
    domains = {}
    for e in constrained:
        low, high = bounds[e]
        limit = min([high] + [amount for amount, cells in lines if e in cells])
        domains[e] = list(range(low, int(limit) + 1))
    truth_order = {e: sorted(d, key=lambda v, e=e: abs(v - out_truth[e])) for e, d in domains.items()}
    for e in constrained:
        found[e] = set()
    position = {e: i for i, e in enumerate(constrained)}
    chosen: dict[tuple[int, int], int] = {}

    def consistent(i: int) -> bool:
        """Every line can still reach its amount with the cells not yet chosen."""
        for amount, cells in lines:
            fixed = sum(chosen[e] for e in cells if position[e] <= i)
            rest = [domains[e] for e in cells if position[e] > i]
            low = fixed + sum(d[0] for d in rest)
            high = fixed + sum(d[-1] for d in rest)
            if not low <= amount <= high:
                return False
        return True

    def go(i: int) -> bool:
        if i == len(constrained):
            for e, v in chosen.items():
                found[e].add(v)
            return all(len(found[e]) >= 2 for e in constrained)
        e = constrained[i]
        for v in truth_order[e]:
            chosen[e] = v
            if consistent(i) and go(i + 1):
                return True
        del chosen[e]
        return False

    go(0)
    return found


out_truth: dict[tuple[int, int], int] = {}


def assert_safe(table: list[list[int]], threshold: int = T) -> Suppressed:
    out = suppress(table, threshold)
    out_truth.clear()  # only orders the search (nearest the truth first), never prunes it
    out_truth.update({(r, c): v for r, row in enumerate(table) for c, v in enumerate(row)})
    values = feasible_values(out, threshold)
    bounds = ranges(out.counts, out.reasons, threshold)
    for (r, c), seen in values.items():
        assert table[r][c] in seen, "the true table must be feasible"
        if bounds[(r, c)][0] == bounds[(r, c)][1]:
            # A secondary cell pinned by its range alone: exactly the threshold (no small
            # number), a tie with the published cell that made it the smallest.
            assert out.reasons[r][c] == "secondary" and table[r][c] == threshold
            continue
        assert len(seen) >= 2, f"cell {(r, c)} = {table[r][c]} recovered from {out}"
    # Published numbers are the true ones.
    for r, row in enumerate(table):
        for c, v in enumerate(row):
            assert out.counts[r][c] in (None, v)
            assert (out.counts[r][c] is None) == (out.reasons[r][c] is not None)
        assert out.row_totals[r] in (None, sum(row))
    return out


def test_primary_cells_are_the_small_non_zero_ones():
    out = suppress([[0, 1, 4, 5, 9], [0, 0, 0, 0, 0]], T)
    assert out.reasons[0][:4] == [None, "primary", "primary", None]
    assert out.counts[1] == [0, 0, 0, 0, 0] and out.row_totals[1] == 0


def test_a_lone_suppressed_cell_takes_the_next_smallest_of_its_row_and_column_with_it():
    table = [
        [3, 7, 6, 20],
        [8, 9, 10, 11],
        [12, 13, 14, 15],
    ]
    out = assert_safe(table)
    assert out.reasons[0][0] == "primary"
    assert out.reasons[0][2] == "secondary"  # 6 < 7 < 20 in the row
    assert out.reasons[1][0] == "secondary"  # 8 < 12 in the column
    # The fourth corner closes the rectangle, so every line holds two.
    assert out.reasons[1][2] == "secondary"
    for line in [*out.reasons, *zip(*out.reasons, strict=True)]:
        assert sum(1 for x in line if x) != 1


def test_totals_that_would_let_a_cell_be_differenced_out_are_withheld():
    """Row 0: 2 (primary) and its secondary 5; column 1: that 5 and its own secondary 5, with
    zeros round them. Column 1's total (10) would pin both secondaries to 5 (each is at least
    the threshold), and then row 0's total (21) less 5, 5 and 9 gives the 2. The audit finds no
    second table and withholds those totals; the published ones still add up."""
    table = [[2, 5, 5, 9], [0, 5, 0, 0]]
    out = assert_safe(table)
    assert out.reasons[0][:2] == ["primary", "secondary"] and out.reasons[1][1] == "secondary"
    assert out.row_totals[0] is None and out.column_totals[1] is None
    assert out.column_totals[2:] == [5, 9]


def test_a_line_with_nothing_else_to_hide_withholds_its_total():
    out = assert_safe([[2, 0, 0], [6, 7, 8], [9, 9, 9]])
    assert out.row_totals[0] is None
    # Grand total is published only when one whole set of totals is.
    assert out.grand_total is None or None not in out.row_totals or None not in out.column_totals


def test_grand_total_minus_published_totals_recovers_nothing():
    table = [[1, 9, 9], [9, 9, 9], [9, 9, 1]]
    out = assert_safe(table)
    if out.grand_total is not None:
        assert None not in out.row_totals or None not in out.column_totals


def test_nothing_suppressed_publishes_everything():
    out = suppress([[5, 6], [0, 7]], T)
    assert out.row_totals == [11, 7] and out.column_totals == [5, 13] and out.grand_total == 18


def test_the_threshold_must_leave_a_primary_cell_two_values():
    with pytest.raises(ValueError):
        suppress([[1]], 2)


@pytest.mark.parametrize("seed", range(250))
def test_random_tables_resist_the_brute_force_attacker(seed):
    rng = random.Random(seed)
    rows, cols = rng.choice([(2, 3), (3, 3), (3, 4), (4, 3), (4, 4)])
    weights = [0, 0, 1, 2, 3, 4, 5, 6, 7, 9, 12, 20]
    table = [[rng.choice(weights) for _ in range(cols)] for _ in range(rows)]
    threshold = rng.choice([3, 5])
    assert_safe(table, threshold)


@pytest.mark.parametrize("seed", range(40))
def test_sparse_small_tables_resist_it_too(seed):
    """Mostly small numbers: many primaries, few candidates for secondary suppression."""
    rng = random.Random(1000 + seed)
    table = [[rng.choice([0, 1, 1, 2, 3, 5, 6]) for _ in range(4)] for _ in range(3)]
    assert_safe(table, T)


def test_no_line_is_left_with_one_suppressed_cell_and_its_total():
    rng = random.Random(7)
    for _ in range(200):
        table = [[rng.choice([0, 1, 2, 6, 8, 11]) for _ in range(5)] for _ in range(4)]
        out = suppress(table, T)
        for r, row in enumerate(out.reasons):
            if sum(1 for x in row if x) == 1:
                assert out.row_totals[r] is None
        for c in range(5):
            if sum(1 for row in out.reasons if row[c]) == 1:
                assert out.column_totals[c] is None


def test_wide_tables_stay_quick():
    """A year of months' tables at JSNA size (26 needs x 40 districts): well under a second."""
    import time

    rng = random.Random(3)
    started = time.perf_counter()
    for _ in range(12):
        suppress([[rng.choice([0, 0, 1, 2, 3, 4, 6, 9, 15, 40]) for _ in range(40)] for _ in range(26)], T)
    assert time.perf_counter() - started < 5
