"""Code lists (`GET /v1/code-lists`, `GET /v1/code-lists/{name}`). Served by the gateway itself.

Every fixed list of the API with labels (`shared/codes.py`): needs with their Supporting
Families headline, outcomes, closure reasons, consent methods... Any valid token may read them
(they hold no personal data); a caller need not parse the OpenAPI to build a picker.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from gateway.challenges import NO_CREDENTIALS, bearer_token, unauthorized
from shared.codes import CODE_LISTS
from shared.problems import NotFound
from shared.tokens import TokenInvalid

CACHE_CONTROL = "private, max-age=3600"


async def authenticated(request: Request, response: Response) -> None:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise unauthorized(NO_CREDENTIALS, invalid_token=False)
    try:
        request.state.identity = await request.app.state.gw.auth.identify(token)  # for the audit row
    except TokenInvalid as exc:
        raise unauthorized(str(exc), invalid_token=True) from exc
    response.headers["Cache-Control"] = CACHE_CONTROL


router = APIRouter(prefix="/v1", tags=["code-lists"], dependencies=[Depends(authenticated)])


class CodeRead(BaseModel):
    model_config = {"extra": "allow"}

    code: str = Field(description="The stable value sent and received by the API")
    label: str = Field(description="How to show it to people")
    headline: str | None = Field(None, description="needs only: the Supporting Families headline code")
    headline_label: str | None = Field(None, description="needs only: the headline's label")


class CodeListRead(BaseModel):
    name: str
    description: str
    used_in: list[str] = Field(description="Where in the API the codes are sent or received")
    codes: list[CodeRead]


class CodeListIndex(BaseModel):
    items: list[CodeListRead]


class UnknownCodeList(NotFound):
    type_slug, title = "unknown-code-list", "Unknown code list"


def _read(name: str) -> dict[str, Any]:
    return CODE_LISTS[name].as_json()


@router.get("/code-lists", response_model=CodeListIndex, response_model_exclude_none=True)
async def list_code_lists() -> dict[str, Any]:
    return {"items": [_read(name) for name in CODE_LISTS]}


@router.get("/code-lists/{name}", response_model=CodeListRead, response_model_exclude_none=True)
async def get_code_list(name: Annotated[str, Path(max_length=60)]) -> dict[str, Any]:
    if name not in CODE_LISTS:
        raise UnknownCodeList(f"No code list {name!r}; the lists are: {', '.join(CODE_LISTS)}")
    return _read(name)
