"""A person's journey names its item kinds and withheld reasons as enums (issue 23): every value
the code produces is in the enum, and the enum holds nothing the code never produces.

The values are read from the code that makes them: the referrals service's own items and
withheld referrals (services/referrals/journey.py), the assessments service's person timeline
(`PERSON_TIMELINE_KINDS`) and its access check's reasons (services/assessments/access.py,
timeline.py).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, get_args

from devtools.openapi_doc import merged_document
from services.assessments import access, timeline
from services.assessments.schemas import WithheldReason as AssessmentsWithheldReason
from services.referrals import journey
from services.referrals.schemas import JourneyKind, WithheldReason


def _dict_values(func: Any, key: str) -> set[str]:
    """The constant strings a function puts under `key` in the dicts it writes."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(func)))):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == key and isinstance(v, ast.Constant):
                    found.add(v.value)
    return found


def _assessments_reasons() -> set[str]:
    """`return None, "<reason>"` in the access check, and the timeline's fallback reason."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(access.Viewer.check)))):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            found.update(e.value for e in node.value.elts if isinstance(e, ast.Constant) and e.value)
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(timeline.person_timeline)))):
        if isinstance(node, ast.BoolOp):
            found.update(v.value for v in node.values if isinstance(v, ast.Constant))
    return found


def test_the_kinds_produced_are_the_enum():
    referrals = _dict_values(journey.referral_items, "kind")
    assert referrals == {k for k in get_args(JourneyKind) if k.startswith("referral_")}
    assert set(get_args(JourneyKind)) == referrals | set(timeline.PERSON_TIMELINE_KINDS)


def test_the_withheld_reasons_produced_are_the_enum():
    ours = _dict_values(journey.journey, "reason")
    theirs = _assessments_reasons()
    assert len(ours) == 1 and len(theirs) == 4, (ours, theirs)
    assert set(get_args(AssessmentsWithheldReason)) == theirs
    assert set(get_args(WithheldReason)) == ours | theirs


def test_the_document_lists_them():
    schemas = merged_document()["components"]["schemas"]
    item = schemas["Referrals_JourneyItem"]["properties"]
    assert set(item["kind"]["enum"]) == set(get_args(JourneyKind))
    withheld = schemas["Referrals_Withheld"]["properties"]
    assert set(withheld["reason"]["enum"]) == set(get_args(WithheldReason))
    assert withheld["source"]["enum"] == ["referrals", "assessments"]
    assert schemas["Referrals_Unavailable"]["properties"]["part"]["const"] == "assessments"
