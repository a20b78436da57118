"""ETag / If-Match for mutable resources, from a version counter on the row."""

from __future__ import annotations

from fastapi import Request, Response

from shared.problems import PreconditionFailed, PreconditionRequired


def etag_for(resource_id: object, version: int) -> str:
    return f'"{resource_id}-{version}"'


def set_etag(response: Response, resource_id: object, version: int) -> None:
    response.headers["ETag"] = etag_for(resource_id, version)


def check_if_match(request: Request, resource_id: object, version: int, *, required: bool = True) -> None:
    header = request.headers.get("if-match")
    if header is None:
        if required:
            raise PreconditionRequired("This update needs an If-Match header with the current ETag")
        return
    current = etag_for(resource_id, version)
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    if "*" in candidates or current in candidates:
        return
    raise PreconditionFailed("The resource has changed since you read it; fetch it again")
