"""The documented list of lawful bases for sharing a child's information (GET /v1/lawful-bases).

Each entry names the UK GDPR Article 6 basis, the Article 9 condition for special category data
(health, ethnicity, sex life...) and, where it applies, the Data Protection Act 2018 provision.
The codes are the API contract; the wording is for the people choosing one.
"""

from __future__ import annotations

from services.consent.schemas import LawfulBasisRead

LAWFUL_BASES: tuple[LawfulBasisRead, ...] = (
    LawfulBasisRead(
        code="consent",
        title="Consent of the person (or of a parent for a child who cannot consent)",
        uk_gdpr="Art. 6(1)(a)",
        special_category="Art. 9(2)(a) explicit consent",
        dpa_2018=None,
        notes="Needs a live consent record covering the person and purpose; withdrawable at any time.",
    ),
    LawfulBasisRead(
        code="public_task_safeguarding",
        title="Public task: safeguarding children and individuals at risk",
        uk_gdpr="Art. 6(1)(e)",
        special_category="Art. 9(2)(g) substantial public interest",
        dpa_2018="s.8; s.10(3) and Sch. 1 Part 2 para. 18 (safeguarding of children and of "
        "individuals at risk)",
        notes="The usual basis for sharing without consent where a child is or may be at risk.",
    ),
    LawfulBasisRead(
        code="public_task_statutory",
        title="Public task: a statutory function (e.g. Children Act 1989 s.17, Children Act 2004 s.10-11)",
        uk_gdpr="Art. 6(1)(e)",
        special_category="Art. 9(2)(g) substantial public interest",
        dpa_2018="s.8; s.10(3) and Sch. 1 Part 2 para. 6 (statutory and government purposes)",
        notes="Public authorities carrying out their statutory duties.",
    ),
    LawfulBasisRead(
        code="crime_prevention",
        title="Prevention or detection of crime",
        uk_gdpr="Art. 6(1)(e)",
        special_category="Art. 9(2)(g) substantial public interest",
        dpa_2018="Sch. 1 Part 2 para. 10 (preventing or detecting unlawful acts); Sch. 2 Part 1 "
        "para. 2 (crime and taxation exemption)",
        notes="Sharing with or by the police where not sharing would prejudice the purpose.",
    ),
    LawfulBasisRead(
        code="legal_obligation",
        title="A legal obligation (e.g. a court order or a statutory duty to disclose)",
        uk_gdpr="Art. 6(1)(c)",
        special_category="Art. 9(2)(f) legal claims, or Art. 9(2)(g) with DPA 2018 Sch. 1 para. 6",
        dpa_2018="s.10(3) and Sch. 1 Part 2 para. 6 where special category data is involved",
        notes="Record the obligation (the order or the statute) in the justification.",
    ),
    LawfulBasisRead(
        code="vital_interests",
        title="Vital interests: to protect someone's life",
        uk_gdpr="Art. 6(1)(d)",
        special_category="Art. 9(2)(c) where the person cannot give consent",
        dpa_2018=None,
        notes="Emergencies only; where another basis is available, use it.",
    ),
    LawfulBasisRead(
        code="legitimate_interests",
        title="Legitimate interests (voluntary and private sector partners only)",
        uk_gdpr="Art. 6(1)(f)",
        special_category="Needs a separate Art. 9 condition (see the other entries)",
        dpa_2018=None,
        notes="Not available to public authorities performing their tasks (Art. 6(1), last "
        "subparagraph). Needs a legitimate interests assessment.",
    ),
)

LAWFUL_BASIS_CODES = frozenset(b.code for b in LAWFUL_BASES)
