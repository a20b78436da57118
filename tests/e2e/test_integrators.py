"""What an integrator meets through the real gateway (issue 20, item 4): unknown query
parameters are refused on every service's lists and on the gateway's own."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

ADMIN, SCHOOL, MASH, EH = "demo-admin", "demo-education", "demo-mash", "demo-early-help"


@pytest.mark.parametrize(
    ("client", "path", "known"),
    [
        (MASH, "/v1/referrals", "status"),
        (EH, "/v1/episodes", "status"),
        (MASH, "/v1/consents", "person_id"),
        (EH, "/v1/deadlines", "status"),
        (ADMIN, "/v1/practitioners", "limit"),
    ],
)
def test_an_unknown_query_parameter_is_a_problem_naming_it(api, client, path, known):
    r = api.get(client, path, params={"reference": "RFS-2026-000001"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    error = r.json()["errors"][0]
    assert error["field"] == "reference" and error["loc"] == ["query", "reference"]
    assert known in error["message"]
