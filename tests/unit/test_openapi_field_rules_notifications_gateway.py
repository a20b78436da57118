"""The rules a caller can break are on the fields (issue 23), for the notifications service and
the gateway's admin and registry endpoints, as tests/unit/test_openapi_typed_referrals_consent.py
checks them for referrals, consent and assessments.

Two checks a service: every field a validator of the model checks (a `field_validator`, or a
validator in the field's type such as `CleanName`) carries a description in the merged
document; and each rule the code enforces beyond the model (services/notifications
channels/webhooks.py `check_destination`; gateway/clients.py and gateway/practitioners.py) is
named in its field's description.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import AfterValidator, BaseModel, BeforeValidator, PlainValidator, WrapValidator

from devtools.openapi_doc import merged_document
from gateway.admin import ClientCreate
from gateway.practitioners_api import PractitionerCreate, PractitionerUpdate, TeamCreate
from services.notifications.schemas import DeadlineRuleUpdate, SubscriptionCreate
from shared.validation import CleanName

VALIDATORS = (AfterValidator, BeforeValidator, PlainValidator, WrapValidator)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return merged_document()


def validated_fields(model: type[BaseModel]) -> set[str]:
    """The fields a validator checks beyond their JSON Schema type and bounds."""
    fields = {
        name
        for decorator in model.__pydantic_decorators__.field_validators.values()
        for name in decorator.info.fields
    }
    fields |= {
        name
        for name, info in model.model_fields.items()
        if any(isinstance(m, VALIDATORS) or m is CleanName for m in info.metadata)
    }
    return fields


def undescribed(doc: dict[str, Any], component: str, model: type[BaseModel]) -> list[str]:
    props = doc["components"]["schemas"][component]["properties"]
    return [f"{component}.{f}" for f in sorted(validated_fields(model)) if not props[f].get("description")]


def props(doc: dict[str, Any], component: str) -> dict[str, Any]:
    return doc["components"]["schemas"][component]["properties"]  # type: ignore[no-any-return]


def test_the_check_finds_validated_fields():
    assert validated_fields(SubscriptionCreate) == {"url", "event_types"}
    assert validated_fields(PractitionerUpdate) == {"name"}


def test_notifications_rules_are_on_the_fields(doc):
    assert undescribed(doc, "Notifications_SubscriptionCreate", SubscriptionCreate) == []
    url = props(doc, "Notifications_SubscriptionCreate")["url"]["description"]
    for rule in ("user:password@", "https", "private", "loopback", "resolve", "webhook-url-not-allowed"):
        assert rule in url, rule
    events = props(doc, "Notifications_SubscriptionCreate")["event_types"]
    assert events["items"]["enum"] and "unknown" in events["description"]
    target = props(doc, "Notifications_DeadlineRuleUpdate")["escalation_target"]
    assert target["pattern"] and "email" in target["description"] and "agency type" in target["description"]
    assert undescribed(doc, "Notifications_DeadlineRuleUpdate", DeadlineRuleUpdate) == []
    params = {p["name"]: p for p in doc["paths"]["/v1/deadlines"]["get"]["parameters"]}
    assert "overdue" in params["status"]["description"]
    assert all(params[n].get("description") for n in ("assignee_email", "episode_id", "referral_id", "team"))
    feed = {p["name"]: p for p in doc["paths"]["/v1/notifications"]["get"]["parameters"]}
    assert feed["unread"]["description"]
    kind = doc["paths"]["/v1/deadline-rules/{kind}"]["put"]["parameters"][0]
    assert kind["name"] == "kind" and "404" in kind["description"]


def test_gateway_admin_and_registry_rules_are_on_the_fields(doc):
    for component, model in [
        ("ClientCreate", ClientCreate),
        ("TeamCreate", TeamCreate),
        ("PractitionerCreate", PractitionerCreate),
        ("PractitionerUpdate", PractitionerUpdate),
    ]:
        assert undescribed(doc, component, model) == [], component
    client = props(doc, "ClientCreate")
    assert client["client_id"]["anyOf"][0]["pattern"] and "unique" in client["client_id"]["description"]
    assert "CLI" in client["agency_type"]["description"] and client["agency_type"]["enum"]
    assert "agency type may have" in client["scopes"]["description"]
    for component in ("TeamCreate", "PractitionerCreate", "PractitionerUpdate"):
        assert "bidirectional" in props(doc, component)["name"]["description"], component
    practitioner = props(doc, "PractitionerCreate")
    assert "email-taken" in practitioner["email"]["description"]
    assert "council_admin" in practitioner["roles"]["description"]
    assert "own agency" in practitioner["team_id"]["description"]
    assert "Council admin only" in practitioner["agency_id"]["description"]
    update = props(doc, "PractitionerUpdate")
    assert all("may not be null" in update[f]["description"] for f in ("name", "email", "roles"))
    assert "identity provider" in update["roles"]["description"]
