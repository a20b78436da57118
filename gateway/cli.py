"""Command line for operators: agency clients, signing keys, the audit chain, seeding.

    python -m gateway.cli clients create --name "Oakfield Primary" --agency-type education
    python -m gateway.cli clients list
    python -m gateway.cli clients rotate-secret CLIENT_ID
    python -m gateway.cli clients disable CLIENT_ID
    python -m gateway.cli practitioners list [--agency-id AGENCY_ID]
    python -m gateway.cli practitioners disable | enable PRACTITIONER_ID
    python -m gateway.cli keys list | rotate | retire KID
    python -m gateway.cli audit verify
    python -m gateway.cli seed-demo              # dev only
    python -m gateway.cli seed-service-clients   # reads EH_GATEWAY_SVC_<NAME>_SECRET

Settings (database URL and so on) come from the EH_GATEWAY_ environment, as for the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from sqlalchemy import select

from gateway import audit, keys
from gateway import clients as client_ops
from gateway import practitioners as practitioner_ops
from gateway.config import get_settings
from gateway.models import Agency, Client, Practitioner, SigningKey
from gateway.seed import SERVICE_NAMES, seed_demo, seed_service_clients
from shared.db import Database


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


async def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    db = Database(settings.db_url)
    try:
        return await _dispatch(args, db, settings.environment)
    finally:
        await db.dispose()


async def _dispatch(args: argparse.Namespace, db: Database, environment: str) -> int:
    if args.command == "clients":
        if args.action == "create":
            try:
                async with db.session() as session:
                    made = await client_ops.create_client(
                        session,
                        client_id=args.client_id,
                        name=args.name,
                        agency_type=args.agency_type,
                        agency_id=args.agency_id,
                        scopes=args.scopes.split() if args.scopes else None,
                    )
            except client_ops.ClientError as exc:
                print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
                return 2
            _print(
                {
                    "client_id": made.client.client_id,
                    "client_secret": made.secret,
                    "agency_id": made.agency.id,
                    "scopes": made.client.scopes,
                    "note": "the secret is shown once",
                }
            )
            return 0
        if args.action == "list":
            async with db.session(write=False) as session:
                rows = (
                    await session.execute(
                        select(Client, Agency.type).join(Agency).order_by(Client.created_at)
                    )
                ).all()
            _print(
                [
                    {
                        "client_id": c.client_id,
                        "name": c.name,
                        "agency_id": c.agency_id,
                        "agency_type": t,
                        "scopes": c.scopes,
                        "disabled_at": c.disabled_at,
                    }
                    for c, t in rows
                ]
            )
            return 0
        async with db.session() as session:
            client = await client_ops.find_client(session, args.client)
            if client is None:
                print("error: no such client", file=sys.stderr)
                return 1
            if args.action == "rotate-secret":
                secret = await client_ops.rotate_secret(session, client)
                _print({"client_id": client.client_id, "client_secret": secret})
            else:
                await client_ops.disable(session, client)
                _print({"client_id": client.client_id, "disabled_at": client.disabled_at})
        return 0
    if args.command == "practitioners":
        return await _practitioners(args, db)
    if args.command == "keys":
        if args.action == "rotate":
            _print({"kid": await keys.rotate(db), "note": "the previous key still verifies until retired"})
        elif args.action == "retire":
            try:
                ok = await keys.retire(db, args.kid)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            if not ok:
                print("error: no such active key", file=sys.stderr)
                return 1
            _print({"retired": args.kid})
        else:
            async with db.session(write=False) as session:
                signing = (
                    (await session.execute(select(SigningKey).order_by(SigningKey.created_at)))
                    .scalars()
                    .all()
                )
            _print([{"kid": k.kid, "created_at": k.created_at, "retired_at": k.retired_at} for k in signing])
        return 0
    if args.command == "audit":
        result = await audit.verify(db)
        _print({"ok": result.ok, "rows": result.rows, "chains": result.chains, "problems": result.problems})
        return 0 if result.ok else 3
    if args.command == "seed-demo":
        try:
            seeded = await seed_demo(db, environment)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        _print({"created": seeded})
        return 0
    if args.command == "seed-service-clients":
        secrets = {}
        for name in SERVICE_NAMES:
            value = os.environ.get(f"EH_GATEWAY_SVC_{name.upper()}_SECRET")
            if value:
                secrets[f"svc-{name}"] = value
        _print({"created": await seed_service_clients(db, secrets)})
        return 0
    return 1


def _practitioner_row(p: Practitioner) -> dict[str, Any]:
    return {
        "id": p.id,
        "agency_id": p.agency_id,
        "name": p.name,
        "email": p.email,
        "roles": p.roles,
        "team_id": p.team_id,
        "disabled_at": p.disabled_at,
    }


async def _practitioners(args: argparse.Namespace, db: Database) -> int:
    """List, disable or enable practitioners (registering them is the API's job: its rules apply)."""
    if args.action == "list":
        stmt = select(Practitioner).order_by(Practitioner.created_at, Practitioner.id)
        if args.agency_id:
            stmt = stmt.where(Practitioner.agency_id == args.agency_id)
        async with db.session(write=False) as session:
            rows = (await session.execute(stmt)).scalars().all()
        _print([_practitioner_row(p) for p in rows])
        return 0
    async with db.session() as session:
        found = await session.get(Practitioner, args.practitioner_id)
        if found is None:
            print("error: no such practitioner", file=sys.stderr)
            return 1
        await practitioner_ops.set_disabled(session, found, args.action == "disable")
        _print(_practitioner_row(found))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gateway.cli", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("clients", help="agency clients").add_subparsers(dest="action", required=True)
    create = c.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--agency-type", required=True, choices=client_ops.AGENCY_TYPES)
    create.add_argument("--agency-id")
    create.add_argument("--client-id")
    create.add_argument("--scopes", help="space separated; default: the agency type's scopes")
    c.add_parser("list")
    for action in ("rotate-secret", "disable"):
        a = c.add_parser(action)
        a.add_argument("client")
    pr = sub.add_parser("practitioners", help="practitioners (a disabled one is refused within seconds)")
    pr_actions = pr.add_subparsers(dest="action", required=True)
    pr_actions.add_parser("list").add_argument("--agency-id")
    for action in ("disable", "enable"):
        pr_actions.add_parser(action).add_argument("practitioner_id")
    k = sub.add_parser("keys", help="signing keys").add_subparsers(dest="action", required=True)
    k.add_parser("list")
    k.add_parser("rotate")
    r = k.add_parser("retire")
    r.add_argument("kid")
    au = sub.add_parser("audit", help="the audit chain").add_subparsers(dest="action", required=True)
    au.add_parser("verify")
    sub.add_parser("seed-demo", help="demo agencies and clients (dev only)")
    sub.add_parser("seed-service-clients", help="svc-<name> clients from EH_GATEWAY_SVC_<NAME>_SECRET")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
