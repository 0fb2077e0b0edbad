"""Security properties of the service on SQLite and PostgreSQL: roles, least privilege, bounded work,
honest faults, key custody and lifecycle, headers and rate limits."""

from __future__ import annotations

from .conftest import synthetic_signature
from .service_fixtures import Service, postgres_server, postgres_url, service  # noqa: F401

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


def _subject(svc: Service, headers=None) -> str:
    r = svc.client.post("/v1/subjects", json={}, headers=headers or svc.operator)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _enrolled(svc: Service) -> str:
    sid = _subject(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=svc.operator)
    assert r.status_code == 201, r.text
    return sid


# --- 1. roles: tenant isolation for administration ----------------------------------------------
def test_a_tenant_admin_cannot_create_tenants_or_learn_their_ids(service):
    svc = service
    for headers in (svc.admin, svc.other_admin, svc.operator):
        r = svc.client.post("/v1/tenants", json={"name": "bank-a"}, headers=headers)
        assert r.status_code == 403, r.text
        assert svc.tenant_a not in r.text
    r = svc.client.post("/v1/tenants", json={"name": "bank-a"}, headers=svc.platform)
    assert r.status_code == 409 and svc.tenant_a not in r.text
    r = svc.client.post("/v1/tenants", json={"name": "bank-c"}, headers=svc.platform)
    assert r.status_code == 201 and r.json()["id"] not in (svc.tenant_a, svc.tenant_b)


def test_a_tenant_admin_cannot_mint_keys_for_another_tenant(service):
    svc = service
    sid = _enrolled(svc)
    r = svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"], "tenant_id": svc.tenant_a},
                        headers=svc.other_admin)
    assert r.status_code == 403, r.text
    # Its own tenant, named or implied, is fine; the minted key still sees nothing of tenant A.
    for body in ({"name": "x", "scopes": ["operator"], "tenant_id": svc.tenant_b},
                 {"name": "x", "scopes": ["operator"]}):
        r = svc.client.post("/v1/api-keys", json=body, headers=svc.other_admin)
        assert r.status_code == 201 and r.json()["tenant_id"] == svc.tenant_b
        minted = {"Authorization": f"Bearer {r.json()['key']}"}
        assert svc.client.get(f"/v1/subjects/{sid}/history", headers=minted).status_code == 404


def test_the_platform_key_onboards_tenants_but_reads_no_tenant_data(service):
    svc = service
    sid = _enrolled(svc)
    tenant = svc.client.post("/v1/tenants", json={"name": "bank-d"}, headers=svc.platform).json()["id"]
    r = svc.client.post("/v1/api-keys", json={"name": "first admin", "scopes": ["admin"], "tenant_id": tenant},
                        headers=svc.platform)
    assert r.status_code == 201 and r.json()["tenant_id"] == tenant
    assert svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"]},
                           headers=svc.platform).status_code == 403
    assert svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"], "tenant_id": "nope"},
                           headers=svc.platform).status_code == 404
    assert svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.platform).status_code == 403
    assert svc.client.post("/v1/subjects", json={}, headers=svc.platform).status_code == 403
    # Operators and capture keys mint nothing.
    for headers in (svc.operator, svc.capture):
        r = svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["capture"]}, headers=headers)
        assert r.status_code == 403
