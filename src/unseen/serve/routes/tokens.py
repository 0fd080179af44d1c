"""Tokens: the admin issues read-only viewer tokens, lists, revokes and rotates tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from unseen.serve.deps import Admin, RepoDep
from unseen.serve.schemas import Problem, TokenCreate, TokenCreated, TokenPublic, TokenRotated
from unseen.store import ConflictError, NotFoundError

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

AUTH = {401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}}
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    responses={**AUTH, 400: {"model": Problem}},
    summary="Issue a read-only token (admin); shown once",
)
def create_token(body: TokenCreate, repo: RepoDep, _: Admin) -> TokenCreated:
    token = repo.add_token(body.role)
    return TokenCreated(role=body.role, token=token, id=repo.principal(token).token_id)


@router.get(
    "",
    response_model=list[TokenPublic],
    responses=AUTH,
    summary="Every token's record, revoked ones included (admin); never the tokens",
)
def list_tokens(repo: RepoDep, _: Admin) -> list[dict]:
    return repo.tokens()


@router.delete(
    "/{token_id}",
    response_model=TokenPublic,
    responses={**AUTH, 404: {"model": Problem}, 409: {"model": Problem}},
    summary="Revoke a token (admin); it stops working at once",
    description="Idempotent. The last valid admin token cannot be revoked (409): rotate it, "
    "or restart the server with a new UNSEEN_ADMIN_TOKEN.",
)
def revoke_token(token_id: TokenId, repo: RepoDep, _: Admin) -> dict:
    try:
        return repo.revoke_token(token_id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post(
    "/{token_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenRotated,
    responses={**AUTH, 404: {"model": Problem}, 409: {"model": Problem}},
    summary="Replace a token by a new one of the same role and station (admin); shown once",
)
def rotate_token(token_id: TokenId, repo: RepoDep, _: Admin) -> dict:
    try:
        record, token = repo.rotate_token(token_id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return {**record, "token": token}
