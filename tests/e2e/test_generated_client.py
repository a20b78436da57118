"""A client generated from the gateway's merged OpenAPI document drives a journey (issue 23).

`openapi-python-client` generates a Python package from `GET /openapi.json` into a temporary
folder (generated code is never committed); the journey then runs through it against the real
stack: a token, a referral, the MASH decision, the episode it opens, a plan, a consent and a
webhook subscription. The client raises on any status the operation does not declare
(`raise_on_unexpected_status`), and parses every body into the generated models.

The catch-all `default` response is taken out of the document first: it stands for server
faults (5xx), and with it every status would count as declared.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.test_journeys import agency_id, eventually, referral_body

pytestmark = pytest.mark.e2e
PACKAGE = "early_help_generated_client"
SOON = (date.today() + timedelta(days=60)).isoformat()


class Generated:
    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.client_module = importlib.import_module(f"{PACKAGE}.client")
        self.errors = importlib.import_module(f"{PACKAGE}.errors")

    def operation(self, operation_id: str) -> ModuleType:
        """The generated module of an operation, found by its id whatever its tag."""
        name = operation_id.replace(".", "_")
        (path,) = (self.root / PACKAGE / "api").glob(f"*/{name}.py")
        return importlib.import_module(f"{PACKAGE}.api.{path.parent.name}.{name}")

    def model(self, name: str, data: dict[str, Any]) -> Any:
        return getattr(self.models, name).from_dict(data)

    def client(self, token: str, prefix: str = "Bearer") -> Any:
        return self.client_module.AuthenticatedClient(
            base_url=self.base_url, token=token, prefix=prefix, raise_on_unexpected_status=True, timeout=20
        )


@pytest.fixture(scope="module")
def generated(stack, tmp_path_factory) -> Iterator[Generated]:
    if importlib.util.find_spec("openapi_python_client") is None:
        pytest.skip("openapi-python-client is not installed (requirements.lock has it: make venv)")
    import httpx

    doc = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30).json()
    assert "x-missing-services" not in doc, doc.get("x-missing-services")
    for item in doc["paths"].values():
        for op in item.values():
            if isinstance(op, dict):
                op.get("responses", {}).pop("default", None)
    root = tmp_path_factory.mktemp("generated")
    spec, config = root / "openapi.json", root / "config.yaml"
    spec.write_text(json.dumps(doc))
    config.write_text("post_hooks: []\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # A warning means a part of the document the generator could not use: a hole in the contract.
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(root))
    try:
        yield Generated(root, stack.gateway_url)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def token(gen: Generated, client_id: str) -> str:
    basic = base64.b64encode(f"{client_id}:{client_id}-secret".encode()).decode()
    body = gen.model("GatewayTokenTokenRequest", {"grant_type": "client_credentials"})
    answer = gen.operation("gateway.token").sync_detailed(client=gen.client(basic, "Basic"), body=body)
    assert answer.status_code == 200, answer.content
    assert answer.parsed.token_type == "Bearer" and answer.parsed.expires_in > 0
    return str(answer.parsed.access_token)


def ok(answer: Any, status: int) -> Any:
    assert answer.status_code == status, answer.content
    return answer.parsed


def test_a_journey_through_the_generated_client(generated, api):
    gen = generated
    school = gen.client(token(gen, "demo-education"))
    mash = gen.client(token(gen, "demo-mash"))
    eh = gen.client(token(gen, "demo-early-help"))

    # A refused token request is the documented RFC 6749 error, not an unexpected status.
    wrong = gen.client(base64.b64encode(b"demo-education:wrong").decode(), "Basic")
    refused = gen.operation("gateway.token").sync_detailed(
        client=wrong, body=gen.model("GatewayTokenTokenRequest", {"grant_type": "client_credentials"})
    )
    assert refused.status_code == 401 and refused.parsed.error == "invalid_client"

    family = f"Generated{time.time_ns() % 10**8}"
    created = ok(
        gen.operation("referrals.create_referral").sync_detailed(
            client=school, body=gen.model("ReferralsReferralCreate", referral_body(family=family))
        ),
        201,
    )
    rid = created.id
    assert created.status == "received"

    # A problem is parsed as the service's problem schema.
    unknown = gen.operation("referrals.get_referral").sync_detailed(
        "00000000-0000-0000-0000-000000000000", client=school
    )
    assert unknown.status_code == 404 and unknown.parsed.status == 404

    decision = {
        "level_of_need": "partnership_plus",
        "outcome": "team_around_the_family",
        "rag": "amber",
        "rationale": "Several needs; multi-agency early help with a lead professional.",
        "decided_by": {"name": "Dee Cision", "role": "MASH team manager"},
    }
    decided = ok(
        gen.operation("referrals.decide_referral").sync_detailed(
            rid, client=mash, body=gen.model("ReferralsDecisionCreate", decision)
        ),
        200,
    )
    assert decided.status != "received"
    again = gen.operation("referrals.decide_referral").sync_detailed(
        rid, client=mash, body=gen.model("ReferralsDecisionCreate", decision)
    )
    assert again.status_code == 409 and "decision-already-made" in again.parsed.type_

    get_referral = gen.operation("referrals.get_referral")
    episode_id = eventually(lambda: get_referral.sync(rid, client=school).episode_id)
    assert isinstance(episode_id, str)
    episode = ok(gen.operation("assessments.get_episode").sync_detailed(episode_id, client=eh), 200)
    assert episode.id == episode_id

    school_agency = agency_id(api, "demo-education")
    plan = {
        "outcomes": [
            {
                "headline": "good_education",
                "description": "Attends school",
                "measure": "attendance %",
                "baseline": "71",
                "target": "95",
                "target_on": SOON,
            }
        ],
        "actions": [
            {
                "description": "Daily check-in",
                "owner": {"agency_id": school_agency, "name": "Ms Head"},
                "due_on": SOON,
                "outcome_refs": [0],
            }
        ],
    }
    agreed = ok(
        gen.operation("assessments.put_plan").sync_detailed(
            episode_id, client=eh, body=gen.model("AssessmentsPlanPut", plan)
        ),
        200,
    )
    assert len(agreed.actions) == 1

    person_id = ok(get_referral.sync_detailed(rid, client=mash), 200).children[0].person_id
    consent = {
        "person_id": person_id,
        "given_by": {"name": f"Samira {family}", "relationship": "parent"},
        "competence": "parental",
        "purposes": ["early_help_service", "information_sharing"],
        "agencies": ["team_around_the_family"],
        "method": "in_person",
        "obtained_at": datetime.now(UTC).isoformat(),
    }
    recorded = ok(
        gen.operation("consent.create_consent").sync_detailed(
            client=eh, body=gen.model("ConsentConsentCreate", consent)
        ),
        201,
    )
    assert recorded.person_id == person_id

    subscription = ok(
        gen.operation("notifications.create_subscription").sync_detailed(
            client=school,
            body=gen.model(
                "NotificationsSubscriptionCreate",
                {"url": "https://hooks.oakfield.example/early-help", "event_types": ["referral.linked"]},
            ),
        ),
        201,
    )
    assert subscription.secret.startswith("whsec_")
    listed = ok(gen.operation("notifications.list_subscriptions").sync_detailed(client=school), 200)
    assert subscription.id in {s.id for s in listed.items}
    gone = gen.operation("notifications.delete_subscription").sync_detailed(subscription.id, client=school)
    assert gone.status_code == 204
