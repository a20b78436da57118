"""Unknown query parameters are refused with a problem naming them (shared.strict_query)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.app import create_service_app


class Window(BaseModel):
    received_from: str | None = None
    received_to: str | None = None


async def paging(limit: int = 50, cursor: str | None = None) -> dict[str, object]:
    return {"limit": limit, "cursor": cursor}


def _client() -> TestClient:
    app = create_service_app(title="t", service="t")

    @app.get("/v1/things")
    async def things(
        page: Annotated[dict[str, object], Depends(paging)],
        window: Annotated[Window, Query()],
        status: str | None = None,
        person_id: Annotated[str | None, Query(alias="person-id")] = None,
    ) -> dict[str, object]:
        return {"status": status, "person_id": person_id, **page, **window.model_dump()}

    @app.get("/internal/things", include_in_schema=False)
    async def internal() -> dict[str, str]:
        return {"ok": "yes"}

    return TestClient(app)


def test_declared_parameters_of_the_route_its_dependencies_and_query_models_pass() -> None:
    r = _client().get(
        "/v1/things",
        params={"status": "open", "person-id": "p", "limit": 5, "cursor": "c", "received_from": "x"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["limit"] == 5 and r.json()["received_from"] == "x" and r.json()["person_id"] == "p"


def test_an_unknown_parameter_is_a_422_problem_naming_it_and_what_is_accepted() -> None:
    r = _client().get("/v1/things", params={"reference": "RFS-1", "status": "open", "zz": "1"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert [e["field"] for e in body["errors"]] == ["reference", "zz"]
    assert body["errors"][0]["loc"] == ["query", "reference"]
    assert body["errors"][0]["code"] == "extra_forbidden"
    assert "person-id" in body["errors"][0]["message"] and "received_to" in body["errors"][0]["message"]
    assert "reference" in body["detail"]


def test_the_python_name_of_an_aliased_parameter_is_unknown() -> None:
    r = _client().get("/v1/things", params={"person_id": "p"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "person_id"


def test_routes_outside_the_public_contract_are_not_checked() -> None:
    assert _client().get("/internal/things", params={"anything": "1"}).status_code == 200
    assert _client().get("/healthz", params={"probe": "1"}).status_code == 200
