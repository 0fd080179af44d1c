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


def client_address(request) -> str:
    """The peer's address (uvicorn puts the proxy's X-Forwarded-For here when it is trusted)."""
    return request.client.host if request.client else "unknown"


def authenticate(app, addr: str, token: str | None) -> Principal:
    """The token's principal, or HTTPException 401 (no/unknown/revoked) or 429 (this address
    sent too many unknown tokens lately: refused whatever it sends until the window passes)."""
    limiter = app.state.auth_limiter
    wait = limiter.retry_after(addr)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many unknown tokens from {addr}; try again in {wait:.0f} s",
            headers={"Retry-After": str(max(int(wait + 0.999), 1))},
        )
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing token: send the header 'Authorization: Bearer TOKEN'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = app.state.repo.principal(token)
    if found is None:
        limiter.fail(addr)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown token: it was never issued by this server, or it was revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def who(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    return authenticate(request.app, client_address(request), cred.credentials if cred else None)


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
