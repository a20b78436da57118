"""The gateway's merged OpenAPI document, built without starting a process.

Each service's app is created (not started) and asked for its document, and the gateway merges
them exactly as `GET /openapi.json` does, so the contract checks in `tests/unit` and a spec kept
in the repository read the same document integrators download.

python -m devtools.openapi_doc > openapi.json
"""

from __future__ import annotations

import json
import sys
from importlib import import_module
from typing import Any

from devtools.stack import GATEWAY, SERVICES


def _app(factory: str) -> Any:
    module, name = factory.split(":")
    return getattr(import_module(module), name)()


def service_documents() -> dict[str, dict[str, Any]]:
    return {name: _app(process.app).openapi() for name, process in SERVICES.items()}


def merged_document() -> dict[str, Any]:
    from gateway.openapi import gateway_document, merge
    from gateway.routes import RouteTable, load_routes

    gateway = _app(GATEWAY.app)
    base = gateway_document(gateway, gateway.state.gw.settings)
    return merge(base, service_documents(), RouteTable(load_routes()))


if __name__ == "__main__":
    json.dump(merged_document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
