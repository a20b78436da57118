"""The insight dashboard (`GET /dashboard`): one HTML page that shows every report as a chart.

The page holds no data. In the browser it asks for a token (a bearer token pasted in, or a
client id and secret it exchanges at `/oauth/token`), then, for the chosen period, fetches each
report's SVG (`?format=svg`) through the gateway with that token and shows it, with a link to
the CSV. Without a valid token no chart renders and a message says why. The token lives in the
page's memory only (never stored, never sent anywhere but this gateway).

Strict headers: a Content-Security-Policy with no inline script or style (the script and the
stylesheet are separate files of this origin; charts are `blob:` images), no framing, no
referrer, `nosniff`, and `no-store` (shared.app) on the page and on every report.
Adding a report to the page is one line in `REPORTS` of `dashboard_static/dashboard.js`
(docs/reports.md).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import Response

STATIC = Path(__file__).resolve().parent / "dashboard_static"
FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


def _file(name: str, media_type: str) -> Response:
    return Response((STATIC / name).read_bytes(), media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/dashboard")
async def dashboard() -> Response:
    return _file("dashboard.html", "text/html; charset=utf-8")


@router.get("/dashboard/{name}")
async def dashboard_file(name: str) -> Response:
    if name not in FILES:
        return Response("Not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    return _file(name, FILES[name])
