"""Every route of the OpenAPI spec x every role x own/other tenant, on SQLite and PostgreSQL.

The table below is the authorisation matrix: which roles may call each route. The test
reads the routes from the running app's OpenAPI document, so a new route without a row
fails here until someone decides who may call it. A role the matrix denies must get 401
(no key), 403 (scope) or 404 (another tenant's resource), never a 2xx; a role it allows
must never get 401 or 403 (a 4xx for the deliberately minimal body is fine).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from .service_fixtures import Service, postgres_server, postgres_url, running_service  # noqa: F401

PLATFORM, ADMIN, OPERATOR, CAPTURE = "platform", "admin", "operator", "capture"
STAFF = {ADMIN, OPERATOR}
#: (method, path) -> roles allowed on the caller's own tenant's resources. "public" routes are
#: reached with a signing-link token instead of a key.
MATRIX: dict[tuple[str, str], set[str] | str] = {
    ("POST", "/v1/tenants"): {PLATFORM},
    ("POST", "/v1/api-keys"): {PLATFORM, ADMIN},
    ("GET", "/v1/api-keys"): {PLATFORM, ADMIN},
    ("DELETE", "/v1/api-keys/{key_id}"): {PLATFORM, ADMIN},
    ("POST", "/v1/api-keys/{key_id}/roll"): {PLATFORM, ADMIN},
    ("POST", "/v1/subjects"): STAFF,
    ("GET", "/v1/subjects/{subject_id}"): STAFF,
    ("POST", "/v1/subjects/{subject_id}/enrolments"): STAFF,
    ("POST", "/v1/subjects/{subject_id}/enrolments/{pending_id}/approve"): STAFF,
    ("POST", "/v1/subjects/{subject_id}/verifications"): STAFF | {CAPTURE},
    ("GET", "/v1/subjects/{subject_id}/history"): STAFF,
    ("POST", "/v1/subjects/{subject_id}/reports"): STAFF,
    ("POST", "/v1/subjects/{subject_id}/fingers"): STAFF,
    ("POST", "/v1/signing-sessions"): STAFF,
    ("GET", "/v1/signing-sessions/{session_id}"): STAFF,
    ("POST", "/v1/documents/bindings"): STAFF,
    ("POST", "/v1/documents/sign"): STAFF,
    ("POST", "/v1/documents/verify"): STAFF,
    ("POST", "/v1/documents/requests"): STAFF,
    ("GET", "/v1/documents/requests"): STAFF,
    ("POST", "/v1/documents/preview"): STAFF,
    ("GET", "/v1/documents/requests/{request_id}"): STAFF,
    ("GET", "/v1/documents/requests/{request_id}/events"): STAFF,
    ("GET", "/v1/documents/requests/{request_id}/pages/{page}.png"): STAFF,
    ("GET", "/v1/documents/requests/{request_id}/sealed.pdf"): STAFF,
    ("GET", "/v1/documents/requests/{request_id}/evidence.zip"): STAFF,
    ("GET", "/v1/documents/requests/{request_id}/report.pdf"): STAFF,
    ("GET", "/v1/log/checkpoint"): {PLATFORM, ADMIN, OPERATOR, CAPTURE},
    ("GET", "/v1/log/proof/{index}"): {PLATFORM, ADMIN, OPERATOR, CAPTURE},
    ("GET", "/v1/log/consistency"): {PLATFORM, ADMIN, OPERATOR, CAPTURE},
    ("GET", "/v1/evidence/{index}"): STAFF,
    ("GET", "/healthz"): "public",
    ("GET", "/v1/capture/{token}"): "public",
    ("POST", "/v1/capture/{token}"): "public",
    ("GET", "/v1/capture/{token}/request"): "public",
    ("GET", "/v1/capture/{token}/pages/{page}.png"): "public",
    ("POST", "/v1/capture/{token}/sign"): "public",
    ("POST", "/v1/capture/{token}/typed"): "public",
    ("POST", "/v1/capture/{token}/decline"): "public",
    ("GET", "/v1/capture/{token}/copy.pdf"): "public",
}
#: Routes whose resource belongs to a tenant: another tenant's keys must not reach it.
TENANT_RESOURCE = re.compile(r"\{(subject_id|session_id|request_id|key_id|index|pending_id)\}")


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request, tmp_path) -> Iterator[Service]:
    """The app on each backend, with the per-key rate limits off (they are tested on their own):
    this test calls every route as every role within a second."""
    yield from running_service(request, tmp_path, capture_rate_per_second=0.0, key_rate_per_second=0.0)


def _routes(svc: Service) -> list[tuple[str, str]]:
    spec = svc.client.get("/openapi.json").json()
    return sorted((method.upper(), path) for path, ops in spec["paths"].items() for method in ops)


def _resources(svc: Service) -> dict[str, str]:
    """One resource of tenant A per path parameter (a subject, a session, a key, a log entry)."""
    subject = svc.client.post("/v1/subjects", json={"external_ref": "matrix"}, headers=svc.operator)
    assert subject.status_code in (200, 201), subject.text
    subject_id = subject.json()["id"]
    session = svc.client.post("/v1/signing-sessions", json={"subject_id": subject_id, "purpose": "verify"},
                              headers=svc.operator)
    # A key of its own for the key routes: revoking or rolling it must not disarm the roles under test.
    spare = svc.client.post("/v1/api-keys", json={"name": "spare", "scopes": ["capture"]}, headers=svc.admin)
    assert spare.is_success, spare.text
    keys = svc.client.get("/v1/api-keys", headers=svc.admin).json()["keys"]
    key_id = next(k["id"] for k in keys if k["name"] == "spare")
    return {"subject_id": subject_id, "session_id": session.json().get("id", "0" * 16) if session.is_success
            else "0" * 16, "key_id": key_id, "request_id": "0" * 24, "index": "0", "page": "1", "pending_id": "0" * 16,
            "token": "x" * 32}


def _call(svc: Service, method: str, path: str, params: dict[str, str], headers: dict[str, str] | None):
    url = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)
    if path == "/v1/log/consistency":
        url += "?from=0&to=0"
    kwargs = {"headers": headers or {}}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return svc.client.request(method, url, **kwargs)


def test_every_route_has_a_row_in_the_matrix(service):
    missing = [r for r in _routes(service) if r not in MATRIX and not r[1].startswith(("/docs", "/redoc"))]
    assert not missing, f"decide who may call {missing} and add them to MATRIX"


def test_each_role_reaches_only_what_the_matrix_allows_on_its_own_tenant(service):
    params = _resources(service)
    roles = {PLATFORM: service.platform, ADMIN: service.admin, OPERATOR: service.operator,
             CAPTURE: service.capture}
    failures = []
    for method, path in _routes(service):
        allowed = MATRIX.get((method, path))
        if allowed is None or allowed == "public":
            continue
        anonymous = _call(service, method, path, params, None)
        if anonymous.status_code != 401:
            failures.append(f"{method} {path} without a key: {anonymous.status_code}")
        for role, headers in roles.items():
            got = _call(service, method, path, params, headers).status_code
            if role in allowed and got in (401, 403):
                failures.append(f"{method} {path} as {role}: {got}, but the matrix allows it")
            if role not in allowed and not (got in (401, 403) or (got == 404 and role == PLATFORM)):
                failures.append(f"{method} {path} as {role}: {got}, but the matrix denies it")
    assert not failures, "\n".join(failures)


def test_another_tenants_keys_never_reach_a_tenants_resources(service):
    params = _resources(service)
    failures = []
    for method, path in _routes(service):
        allowed = MATRIX.get((method, path))
        if allowed in (None, "public") or not TENANT_RESOURCE.search(path):
            continue
        for role, headers in (("admin of B", service.other_admin), ("operator of B", service.other)):
            got = _call(service, method, path, params, headers)
            if got.is_success:
                failures.append(f"{method} {path} as {role} on tenant A's resource: {got.status_code}")
    assert not failures, "\n".join(failures)
