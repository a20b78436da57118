"""Small-number suppression of a two-way table of counts, with its totals (pure: no I/O).

Used by the JSNA feed (services/referrals/jsna.py; the method in prose: docs/referrals.md).

1. **Primary**: a cell counting 1 to `threshold - 1` is suppressed. A zero is published: it
   discloses no one, and suppressing zeros would hide most of a sparse table.
2. **Secondary (complementary)**: each row or column holding exactly one suppressed cell gets
   its smallest published non-zero cell suppressed too (ties: the first), over rows then
   columns, repeated until no line changes. A line whose other cells are all zero has no
   candidate: its total is withheld instead (step 3 finds it).
3. **Totals** are sums of the cells (row, column, grand). A row or column total is published
   unless an audit finds a suppressed cell that, with it, could be pinned to one value; the
   totals of such a cell's row and column are withheld and the audit runs again, until every
   suppressed cell passes. The grand total is published only when every row total or every
   column total is (it then adds nothing to them).

The audit assumes an attacker who knows the method, the threshold, every published number
and each suppressed cell's reason: a primary cell lies in [1, threshold - 1]; a secondary one
is at least the threshold and at most the smallest published non-zero cell of the row or the
column that chose it (the larger of the two smallest: which line chose it is not published). A suppressed cell passes when the audit finds a
second table meeting all of that in which the cell has another value: a change of +1/-1 along
an alternating cycle of suppressed cells, or an alternating path between lines whose totals
are withheld, each changed cell staying in its range. That witness is a proof; not finding
one (the search is bounded) only withholds more totals. A cell whose row and column totals are
both withheld is constrained by nothing but its range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Reason = Literal["primary", "secondary"]
Vertex = tuple[str, int]  # ("r", row) or ("c", column)
Edge = tuple[int, int]  # a suppressed cell (row, column)

# Vertices a search may expand before giving up (then the totals are withheld, which is safe).
SEARCH_BUDGET = 300


@dataclass(frozen=True)
class Suppressed:
    """The published table: `counts[r][c]` is None where suppressed (`reasons[r][c]` says why),
    a total is None where withheld."""

    counts: list[list[int | None]]
    reasons: list[list[Reason | None]]
    row_totals: list[int | None]
    column_totals: list[int | None]
    grand_total: int | None


def suppress(table: Sequence[Sequence[int]], threshold: int) -> Suppressed:
    """Suppress `table` (rows of equal length, non-negative counts) at `threshold` (>= 3: at
    2 a primary cell could only be 1, which its reason would disclose)."""
    if threshold < 3:
        raise ValueError("the threshold must be at least 3")
    rows, cols = len(table), len(table[0]) if table else 0
    values = [list(row) for row in table]
    reasons: list[list[Reason | None]] = [
        ["primary" if 0 < v < threshold else None for v in row] for row in values
    ]
    _secondary(values, reasons, rows, cols)
    free_rows, free_cols = _audit(values, reasons, threshold, rows, cols)
    counts = [[None if reasons[r][c] else values[r][c] for c in range(cols)] for r in range(rows)]
    row_totals = [None if r in free_rows else sum(values[r]) for r in range(rows)]
    column_totals = [None if c in free_cols else sum(values[r][c] for r in range(rows)) for c in range(cols)]
    grand = sum(map(sum, values)) if not free_rows or not free_cols else None
    return Suppressed(counts, reasons, row_totals, column_totals, grand)


def _lines(rows: int, cols: int) -> list[list[Edge]]:
    return [[(r, c) for c in range(cols)] for r in range(rows)] + [
        [(r, c) for r in range(rows)] for c in range(cols)
    ]


def _secondary(values: list[list[int]], reasons: list[list[Reason | None]], rows: int, cols: int) -> None:
    lines = _lines(rows, cols)
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(1 for r, c in line if reasons[r][c]) != 1:
                continue
            candidates = [
                (values[r][c], i) for i, (r, c) in enumerate(line) if not reasons[r][c] and values[r][c]
            ]
            if candidates:
                r, c = line[min(candidates)[1]]
                reasons[r][c] = "secondary"
                changed = True


def ranges(
    counts: Sequence[Sequence[int | None]], reasons: Sequence[Sequence[Reason | None]], threshold: int
) -> dict[Edge, tuple[int, float]]:
    """What the published table tells of each suppressed cell, totals aside: [low, high]."""
    out: dict[Edge, tuple[int, float]] = {}
    for r, row in enumerate(reasons):
        for c, reason in enumerate(row):
            if reason == "primary":
                out[(r, c)] = (1, threshold - 1)
            elif reason == "secondary":
                # The smallest of the line that chose it, row or column: at most the larger.
                in_row = min((v for v in counts[r] if v), default=float("inf"))
                in_column = min((v for line in counts if (v := line[c])), default=float("inf"))
                out[(r, c)] = (threshold, max(in_row, in_column))
    return out


def _audit(
    values: list[list[int]], reasons: list[list[Reason | None]], threshold: int, rows: int, cols: int
) -> tuple[set[int], set[int]]:
    """Rows and columns whose totals must be withheld."""
    counts = [[None if reasons[r][c] else values[r][c] for c in range(cols)] for r in range(rows)]
    bounds = ranges(counts, reasons, threshold)
    free_rows: set[int] = set()
    free_cols: set[int] = set()
    adjacency: dict[Vertex, list[Edge]] = {}
    for r, c in sorted(bounds):
        adjacency.setdefault(("r", r), []).append((r, c))
        adjacency.setdefault(("c", c), []).append((r, c))
    # Withholding a total only loosens the constraints: a witness found stays one, so each
    # round re-checks only the cells that had none.
    # The cells that may go up by one, and down by one, within their ranges.
    moves = (
        {e for e, (low, high) in bounds.items() if values[e[0]][e[1]] + 1 <= high},
        {e for e, (low, high) in bounds.items() if values[e[0]][e[1]] - 1 >= low},
    )
    failing = sorted(bounds)
    while True:
        failing = [e for e in failing if not _movable(e, moves, adjacency, free_rows, free_cols)]
        if not failing:
            return free_rows, free_cols
        grew = False
        for r, c in failing:
            grew |= r not in free_rows or c not in free_cols
            free_rows.add(r)
            free_cols.add(c)
        if not grew:  # nothing left to withhold: the cell is pinned by its own range alone
            return free_rows, free_cols


def _movable(
    edge: Edge,
    moves: tuple[set[Edge], set[Edge]],
    adjacency: dict[Vertex, list[Edge]],
    free_rows: set[int],
    free_cols: set[int],
) -> bool:
    """A witness exists: a +1/-1 change of `edge`, balanced at every published line."""

    def free(v: Vertex) -> bool:
        return v[1] in (free_rows if v[0] == "r" else free_cols)

    up, down = moves

    def fits(e: Edge, sign: int) -> bool:
        return e in (up if sign > 0 else down)

    def other(e: Edge, v: Vertex) -> Vertex:
        return ("c", e[1]) if v[0] == "r" else ("r", e[0])

    budget = [SEARCH_BUDGET]

    def walk(
        v: Vertex, sign: int, used: set[Edge], seen: set[Vertex], goal: Vertex | None, depth: int
    ) -> str | None:
        """From `v`, a path of at most `depth` edges whose first edge changes by `sign`, signs
        alternating, ending at `goal` ("cycle") or at a line with its total withheld ("free")."""
        if depth <= 0:
            return None
        for e in adjacency.get(v, []):
            if e in used or not fits(e, sign):
                continue
            budget[0] -= 1
            if budget[0] < 0:
                return None
            w = other(e, v)
            if goal is not None and w == goal:
                return "cycle"
            if w in seen:
                continue
            if free(w):
                used.add(e)
                return "free"
            used.add(e)
            seen.add(w)
            found = walk(w, -sign, used, seen, goal, depth - 1)
            if found:
                return found
            used.discard(e)
            seen.discard(w)
        return None

    row, col = ("r", edge[0]), ("c", edge[1])
    # Short witnesses first (a rectangle of four cells is the usual one), then longer ones.
    for depth in (3, 7, rows_and_columns(adjacency)):
        for sign in (1, -1):
            if not fits(edge, sign):
                continue
            used, seen = {edge}, {row, col}
            side = "free" if free(col) else walk(col, -sign, used, seen, row, depth) or ""
            if side == "cycle" or (
                side == "free" and (free(row) or walk(row, -sign, used, seen, None, depth))
            ):
                return True
    return False


def rows_and_columns(adjacency: dict[Vertex, list[Edge]]) -> int:
    return len(adjacency)
