"""Property-based API testing from the OpenAPI spec (schemathesis): no 5xx, all documented."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from unseen.serve import Settings, bootstrap_admin, create_app
from unseen.store import Repo

TOKENS = {"admin": secrets.token_urlsafe(32)}
_dir = Path(tempfile.mkdtemp(prefix="unseen-schemathesis-"))
_repo = Repo.open(str(_dir / "api.sqlite"))
_settings = Settings(admin_token=TOKENS["admin"], solve_fix=False, auth_failures=10**6)
bootstrap_admin(_repo, _settings)
_station, TOKENS["station"] = _repo.add_station("dinard", 48.6325, -2.06)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_settings, _repo))


# no 5xx, and every response is documented (status, body schema, content type, headers)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    allow_header_conformance,
    response_headers_conformance,
]


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case):
    token = TOKENS["station" if case.path == "/api/v1/observations" else "admin"]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
    # a generated case may have revoked or rotated our tokens: issue new ones for the next
    if _repo.principal(TOKENS["admin"]) is None:
        TOKENS["admin"] = _repo.add_token("admin")
    if _repo.principal(TOKENS["station"]) is None:
        TOKENS["station"] = _repo.rotate_station_token(_station["id"])[1]
