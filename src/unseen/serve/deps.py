"""Dependencies shared by the routers, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from unseen.store import Principal, Repo

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `unseen serve` (admin), POST /api/v1/stations or /api/v1/tokens.",
)


def get_repo(request: Request) -> Repo:
    return request.app.state.repo


RepoDep = Annotated[Repo, Depends(get_repo)]


def who(
    repo: RepoDep, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if cred is None or not cred.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing token: send the header 'Authorization: Bearer TOKEN'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = repo.principal(cred.credentials)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown token: it was never issued by this server",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


Anyone = Annotated[Principal, Depends(who)]


def _role(name: str):
    def check(p: Anyone) -> Principal:
        if p.role != name:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs a {name} token; yours has role {p.role!r}"
            )
        return p

    return check


Admin = Annotated[Principal, Depends(_role("admin"))]
StationAuth = Annotated[Principal, Depends(_role("station"))]
