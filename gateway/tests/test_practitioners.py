"""The practitioner and team registry (`/v1/practitioners`, `/v1/teams`, scope practitioners:manage)."""

from __future__ import annotations

import pytest

from gateway import seed
from gateway.tests.practitioner_helpers import acting_for, agency, exchange, register, with_registry


@pytest.fixture
async def reg(gwh):
    return with_registry(gwh)


async def test_an_agency_system_registers_and_manages_its_practitioners_and_teams(reg):
    school = await agency(reg, "education")
    team = await reg.client.post("/v1/teams", headers=school.headers, json={"name": "Pastoral"})
    assert team.status_code == 201, team.text
    team = team.json()
    assert team["agency_id"] == school.agency_id and team["name"] == "Pastoral" and team["created_at"]
    made = await reg.client.post(
        "/v1/practitioners",
        headers=school.headers,
        json={
            "name": "Tom Teacher",
            "email": "Tom.Teacher@School.example",
            "roles": ["agency_practitioner"],
            "team_id": team["id"],
        },
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    p = made.json()
    assert set(p) == {"id", "agency_id", "name", "email", "roles", "team_id", "disabled_at", "created_at"}
    assert p["email"] == "tom.teacher@school.example" and p["roles"] == ["agency_practitioner"]
    assert p["agency_id"] == school.agency_id and p["team_id"] == team["id"] and p["disabled_at"] is None
    got = await reg.client.get(f"/v1/practitioners/{p['id']}", headers=school.headers)
    assert got.status_code == 200 and got.json() == p
    listed = (await reg.client.get("/v1/practitioners", headers=school.headers)).json()
    assert [x["id"] for x in listed["items"]] == [p["id"]] and listed["next_cursor"] is None
    by_email = (
        await reg.client.get("/v1/practitioners?email=TOM.teacher@school.example", headers=school.headers)
    ).json()
    assert [x["id"] for x in by_email["items"]] == [p["id"]]
    assert (await reg.client.get("/v1/practitioners?email=x@y.example", headers=school.headers)).json()[
        "items"
    ] == []
    teams = (await reg.client.get("/v1/teams", headers=school.headers)).json()["items"]
    assert [t["id"] for t in teams] == [team["id"]]
    assert (await reg.client.get(f"/v1/teams/{team['id']}", headers=school.headers)).json() == team
    patched = await reg.client.patch(
        f"/v1/practitioners/{p['id']}", headers=school.headers, json={"name": "Tom T", "team_id": None}
    )
    assert (
        patched.status_code == 200 and patched.json()["name"] == "Tom T" and patched.json()["team_id"] is None
    )
    disabled = await reg.client.post(f"/v1/practitioners/{p['id']}/disable", headers=school.headers)
    assert disabled.status_code == 200 and disabled.json()["disabled_at"]
    enabled = await reg.client.post(f"/v1/practitioners/{p['id']}/enable", headers=school.headers)
    assert enabled.status_code == 200 and enabled.json()["disabled_at"] is None


async def test_another_agencys_practitioners_and_teams_are_404(reg):
    school, police = await agency(reg, "education"), await agency(reg, "police")
    officer = await register(reg, police, name="Pat Officer", roles=["agency_practitioner"])
    team = (await reg.client.post("/v1/teams", headers=police.headers, json={"name": "CID"})).json()
    pid = officer["id"]
    for method, path, body in (
        ("GET", f"/v1/practitioners/{pid}", None),
        ("PATCH", f"/v1/practitioners/{pid}", {"roles": ["agency_admin"]}),
        ("POST", f"/v1/practitioners/{pid}/disable", None),
        ("POST", f"/v1/practitioners/{pid}/enable", None),
        ("GET", f"/v1/teams/{team['id']}", None),
        ("GET", "/v1/practitioners/00000000-0000-4000-9000-999999999999", None),
    ):
        resp = await reg.client.request(method, path, headers=school.headers, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
    assert (await reg.client.get("/v1/practitioners", headers=school.headers)).json()["items"] == []
    assert (await reg.client.get("/v1/teams", headers=school.headers)).json()["items"] == []
    # Naming another agency is the council admin's alone (the same answer whether it exists).
    for path in (
        f"/v1/practitioners?agency_id={police.agency_id}",
        f"/v1/teams?agency_id={police.agency_id}",
    ):
        resp = await reg.client.get(path, headers=school.headers)
        assert resp.status_code == 403 and resp.json()["type"].endswith("/not-agency-admin")
    resp = await reg.client.post(
        "/v1/practitioners",
        headers=school.headers,
        json={
            "name": "X",
            "email": "x@x.example",
            "roles": ["agency_practitioner"],
            "agency_id": police.agency_id,
        },
    )
    assert resp.status_code == 403
    # The officer is untouched.
    got = await reg.client.get(f"/v1/practitioners/{pid}", headers=police.headers)
    assert got.json()["roles"] == ["agency_practitioner"] and got.json()["disabled_at"] is None


async def test_roles_teams_and_emails_are_checked(reg):
    school, police = await agency(reg, "education"), await agency(reg, "police")
    police_team = (await reg.client.post("/v1/teams", headers=police.headers, json={"name": "CID"})).json()

    async def create(**over):
        body = {"name": "Tess", "email": "tess@school.example", "roles": ["agency_practitioner"], **over}
        return await reg.client.post("/v1/practitioners", headers=school.headers, json=body)

    for roles in (["mash_screener"], ["early_help_manager"], ["council_admin"], ["wizard"], []):
        resp = await create(roles=roles)
        assert resp.status_code == 422, (roles, resp.text)
        assert resp.json()["errors"][0]["field"] == "roles"
    for team_id in (police_team["id"], "no-such-team"):
        resp = await create(team_id=team_id)
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "team_id"
    resp = await create(email="not-an-email")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "email"
    resp = await create(is_admin=True)
    assert resp.status_code == 422
    # A name that displays as something else (a right-to-left override) is refused; one with
    # invisible characters or decomposed accents is stored clean and composed.
    resp = await create(name="Tess \u202eniarT")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "name"
    assert "bidirectional" in resp.json()["errors"][0]["message"]
    zoe = await create(name="Zoe\u0301 Sm\u200bith", email="zoe@school.example")
    assert zoe.status_code == 201 and zoe.json()["name"] == "Zo\u00e9 Smith"
    assert (await create()).status_code == 201
    dup = await create(email="TESS@school.example")
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "email"
    # The same email in another agency is someone else's business.
    assert (await register(reg, police, email="tess@school.example", roles=["agency_practitioner"]))["id"]
    other = await register(reg, school, name="Ola", roles=["agency_practitioner"])
    resp = await reg.client.patch(
        f"/v1/practitioners/{other['id']}", headers=school.headers, json={"email": "tess@school.example"}
    )
    assert resp.status_code == 409
    resp = await reg.client.patch(
        f"/v1/practitioners/{other['id']}", headers=school.headers, json={"roles": ["mash_manager"]}
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "roles"
    resp = await reg.client.patch(
        f"/v1/practitioners/{other['id']}", headers=school.headers, json={"team_id": police_team["id"]}
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "team_id"


async def test_only_agency_admins_among_practitioners_manage_the_registry(reg):
    eh = await agency(reg, "early_help")
    worker = await register(reg, eh, name="Ellie", roles=["early_help_practitioner", "early_help_manager"])
    admin = await register(reg, eh, name="Ada", roles=["agency_admin"])
    as_worker = await acting_for(reg, eh, worker["id"])
    resp = await reg.client.get("/v1/practitioners", headers=as_worker)
    assert resp.status_code == 403 and resp.json()["type"].endswith("/not-agency-admin")
    resp = await reg.client.post(
        "/v1/practitioners",
        headers=as_worker,
        json={"name": "X", "email": "x@eh.example", "roles": ["early_help_manager"]},
    )
    assert resp.status_code == 403
    assert (
        await reg.client.post(f"/v1/practitioners/{admin['id']}/disable", headers=as_worker)
    ).status_code == 403
    as_admin = await acting_for(reg, eh, admin["id"])
    made = await reg.client.post(
        "/v1/practitioners",
        headers=as_admin,
        json={"name": "Eve", "email": "eve@eh.example", "roles": ["early_help_manager"]},
    )
    assert made.status_code == 201 and made.json()["agency_id"] == eh.agency_id
    assert (await reg.client.post("/v1/teams", headers=as_admin, json={"name": "North"})).status_code == 201


async def test_callers_without_the_scope_service_credentials_and_no_token_are_refused(reg):
    school = await agency(reg, "education", scopes=["referrals:read"])
    resp = await reg.client.get("/v1/practitioners", headers=school.headers)
    assert resp.status_code == 403 and 'scope="practitioners:manage"' in resp.headers["www-authenticate"]
    svc = await agency(reg, "service")
    resp = await reg.client.get("/v1/practitioners", headers=svc.headers)
    assert resp.status_code == 403 and resp.json()["type"].endswith("/not-agency-admin")
    resp = await reg.client.get("/v1/practitioners")
    assert resp.status_code == 401
    resp = await reg.client.get("/v1/teams", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["www-authenticate"]


async def test_the_council_admin_manages_every_agency(reg):
    council, school = await agency(reg, "admin"), await agency(reg, "education")
    team = await reg.client.post(
        "/v1/teams", headers=council.headers, json={"name": "Year 6", "agency_id": school.agency_id}
    )
    assert team.status_code == 201 and team.json()["agency_id"] == school.agency_id
    made = await reg.client.post(
        "/v1/practitioners",
        headers=council.headers,
        json={
            "name": "Tina",
            "email": "tina@school.example",
            "roles": ["agency_practitioner", "agency_admin"],
            "agency_id": school.agency_id,
            "team_id": team.json()["id"],
        },
    )
    assert made.status_code == 201, made.text
    p = made.json()
    assert p["agency_id"] == school.agency_id and p["roles"] == ["agency_admin", "agency_practitioner"]
    # Another agency's roles are checked against that agency's type.
    resp = await reg.client.post(
        "/v1/practitioners",
        headers=council.headers,
        json={
            "name": "T",
            "email": "t@school.example",
            "roles": ["council_admin"],
            "agency_id": school.agency_id,
        },
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "roles"
    resp = await reg.client.post(
        "/v1/practitioners",
        headers=council.headers,
        json={
            "name": "T",
            "email": "t@school.example",
            "roles": ["agency_admin"],
            "agency_id": "no-such-agency",
        },
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "agency_id"
    listed = (
        await reg.client.get(f"/v1/practitioners?agency_id={school.agency_id}", headers=council.headers)
    ).json()
    assert [x["id"] for x in listed["items"]] == [p["id"]]
    everyone = (await reg.client.get("/v1/practitioners", headers=council.headers)).json()["items"]
    assert p["id"] in [x["id"] for x in everyone]
    assert (await reg.client.get(f"/v1/practitioners/{p['id']}", headers=council.headers)).status_code == 200
    assert (
        await reg.client.post(f"/v1/practitioners/{p['id']}/disable", headers=council.headers)
    ).status_code == 200
    # The school's own system sees what the council did.
    got = (await reg.client.get(f"/v1/practitioners/{p['id']}", headers=school.headers)).json()
    assert got["disabled_at"] is not None


async def test_only_the_council_admin_grants_council_admin(reg):
    council = await agency(reg, "admin")
    it_admin = await register(reg, council, name="Ivy", roles=["agency_admin"])
    cara = await register(reg, council, name="Cara", roles=["council_admin"])
    as_ivy = await acting_for(reg, council, it_admin["id"])
    body = {"name": "Carl", "email": "carl@council.example", "roles": ["council_admin"]}
    resp = await reg.client.post("/v1/practitioners", headers=as_ivy, json=body)
    assert resp.status_code == 403 and resp.json()["type"].endswith("/not-agency-admin")
    # Ivy manages her own agency only, not the others.
    school = await agency(reg, "education")
    resp = await reg.client.get(f"/v1/practitioners?agency_id={school.agency_id}", headers=as_ivy)
    assert resp.status_code == 403
    as_cara = await acting_for(reg, council, cara["id"])
    assert (await reg.client.post("/v1/practitioners", headers=as_cara, json=body)).status_code == 201
    assert (
        await reg.client.get(f"/v1/practitioners?agency_id={school.agency_id}", headers=as_cara)
    ).status_code == 200


async def test_registry_calls_are_audited_with_the_practitioner(reg):
    eh = await agency(reg, "early_help")
    admin = await register(reg, eh, name="Ada", roles=["agency_admin"])
    as_admin = await acting_for(reg, eh, admin["id"])
    await reg.client.get("/v1/practitioners", headers=as_admin, params={"email": "someone@x.example"})
    council = await agency(reg, "admin")
    rows = (
        await reg.client.get(f"/v1/admin/audit?practitioner_id={admin['id']}", headers=council.headers)
    ).json()["items"]
    assert [(r["route"], r["status"], r["client_id"]) for r in rows] == [
        ("/v1/practitioners", 200, eh.client_id)
    ]


async def test_demo_practitioners_are_seeded_once_and_can_be_acted_for(reg):
    await seed.seed_demo(reg.gw.db, "dev")
    await seed.seed_demo(reg.gw.db, "dev")  # idempotent
    council = {"Authorization": f"Bearer {await reg.token('demo-admin', 'demo-admin-secret')}"}
    everyone = (await reg.client.get("/v1/practitioners?limit=200", headers=council)).json()["items"]
    by_id = {p["id"]: p for p in everyone}
    assert len(everyone) == len(seed.DEMO_PRACTITIONERS) == 15
    for d in seed.DEMO_PRACTITIONERS:
        p = by_id[d.id]
        assert (p["name"], p["email"], p["roles"]) == (d.name, d.email, sorted(d.roles))
        assert p["agency_id"] == seed.DEMO_AGENCY_IDS[d.client_id] and p["team_id"] == seed.demo_team_id(
            d.client_id
        )
        assert d.email.endswith(".example")
    sam = next(d for d in seed.DEMO_PRACTITIONERS if d.name == "Sam Screener")
    assert sam.id == "00000000-0000-4000-9000-000000000001"
    resp = await exchange(reg, "demo-mash", "demo-mash-secret", sam.email)
    assert resp.status_code == 200, resp.text
    # Tina is at the second school, a different agency from Tom's.
    tom, tina = (
        next(d for d in seed.DEMO_PRACTITIONERS if d.name == n) for n in ("Tom Teacher", "Tina Teacher")
    )
    assert by_id[tom.id]["agency_id"] != by_id[tina.id]["agency_id"]
    assert (await exchange(reg, "demo-education", "demo-education-secret", tina.id)).status_code == 400


async def test_the_migration_keeps_existing_clients_and_audit_chains(tmp_path):
    """Rows written before 0002 (an agency, its client, an audit chain) read and verify after it."""
    import asyncio
    from datetime import UTC, datetime
    from pathlib import Path

    from sqlalchemy import text

    from gateway import audit as audit_ops
    from gateway.clients import hash_secret
    from shared.db import Database, alembic_upgrade
    from shared.testing import create_test_database, drop_test_database

    gateway_dir = Path(__file__).resolve().parents[1]
    url = await create_test_database(tmp_path, "gateway")
    await asyncio.to_thread(alembic_upgrade, gateway_dir, url, "0001")
    db = Database(url)
    try:
        now = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
        rows = []
        prev = audit_ops.GENESIS
        for seq in (1, 2):
            row = {
                "chain_id": "old-chain",
                "seq": seq,
                "at": now,
                "client_id": "old-school",
                "agency_id": "a-1",
                "method": "GET",
                "route": "/v1/referrals",
                "resource_id": None,
                "status": 200,
                "latency_ms": 1.5,
                "request_id": f"r{seq}",
                "prev_hash": prev,
            }
            row["hash"] = prev = audit_ops.row_hash(row)
            rows.append(row)
        async with db.session() as session:
            await session.execute(
                text(
                    "INSERT INTO agency (id, name, type, created_at) VALUES ('a-1', 'Old School', 'education', :at)"
                ),
                {"at": now},
            )
            await session.execute(
                text(
                    "INSERT INTO client (id, client_id, name, agency_id, secret_hash, scopes, created_at) "
                    "VALUES ('c-1', 'old-school', 'Old School', 'a-1', :h, '[\"referrals:read\"]', :at)"
                ),
                {"h": hash_secret("s3cret"), "at": now},
            )
            cols = ", ".join(rows[0])
            await session.execute(
                text(f"INSERT INTO audit_record ({cols}) VALUES ({', '.join(':' + c for c in rows[0])})"),
                rows,
            )
        await db.dispose()
        await asyncio.to_thread(alembic_upgrade, gateway_dir, url)
        db = Database(url)
        result = await audit_ops.verify(db)
        assert result.ok and result.rows == 2, result.problems
        # New rows, with and without a practitioner, join the old ones and all verify.
        writer = audit_ops.AuditWriter(db, 1.0)
        for pid in (None, "00000000-0000-4000-9000-000000000001"):
            writer.record(
                audit_ops.Entry(
                    at=datetime.now(UTC),
                    client_id="old-school",
                    agency_id="a-1",
                    method="GET",
                    route="/v1/referrals",
                    resource_id=None,
                    status=200,
                    latency_ms=2.0,
                    request_id="new",
                    practitioner_id=pid,
                )
            )
        assert await writer.flush() == 2
        result = await audit_ops.verify(db)
        assert result.ok and result.rows == 4, result.problems
        async with db.session(write=False) as session:
            practitioners = (await session.execute(text("SELECT count(*) FROM practitioner"))).scalar_one()
            old = (
                await session.execute(
                    text("SELECT practitioner_id FROM audit_record WHERE chain_id = 'old-chain'")
                )
            ).all()
        assert practitioners == 0 and [r[0] for r in old] == [None, None]
    finally:
        await db.dispose()
        await drop_test_database(url)


async def test_operators_list_disable_and_enable_practitioners_from_the_command_line(reg):
    import asyncio
    import json

    from gateway.tests.test_cli import cli

    school = await agency(reg, "education")
    tom = await register(reg, school, name="Tom", roles=["agency_practitioner"])
    listed = json.loads(
        (
            await asyncio.to_thread(cli, reg.db_url, "practitioners", "list", "--agency-id", school.agency_id)
        ).stdout
    )
    assert [p["id"] for p in listed] == [tom["id"]]
    done = await asyncio.to_thread(cli, reg.db_url, "practitioners", "disable", tom["id"])
    assert done.returncode == 0 and json.loads(done.stdout)["disabled_at"]
    assert (await exchange(reg, school.client_id, school.secret, tom["id"])).json()[
        "error"
    ] == "invalid_grant"
    assert (await asyncio.to_thread(cli, reg.db_url, "practitioners", "enable", tom["id"])).returncode == 0
    assert (await exchange(reg, school.client_id, school.secret, tom["id"])).status_code == 200
    assert (await asyncio.to_thread(cli, reg.db_url, "practitioners", "disable", "nobody")).returncode == 1


async def test_the_registry_is_in_the_merged_openapi_document(reg):
    doc = (await reg.client.get("/openapi.json")).json()
    assert set(doc["paths"]["/v1/practitioners/{practitioner_id}"]) >= {"get", "patch"}
    assert "post" in doc["paths"]["/v1/practitioners/{practitioner_id}/disable"]
    assert set(doc["paths"]["/v1/teams"]) == {"get", "post"}
    assert "PractitionerRead" in doc["components"]["schemas"]
