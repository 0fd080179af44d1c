"""Tokens: the admin issues read-only viewer tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from unseen.serve.deps import Admin, RepoDep
from unseen.serve.schemas import Problem, TokenCreate, TokenCreated

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    responses={400: {"model": Problem}, 401: {"model": Problem}, 403: {"model": Problem}},
    summary="Issue a read-only token (admin); shown once",
)
def create_token(body: TokenCreate, repo: RepoDep, _: Admin) -> TokenCreated:
    return TokenCreated(role=body.role, token=repo.add_token(body.role))
