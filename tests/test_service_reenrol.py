"""Re-enrolment on SQLite and PostgreSQL: new references that verify against the current template replace
it at once; others wait for a second key of the tenant to approve them (not the requesting key, not after
expiry, once), and both paths are audited and logged."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from sqlalchemy import update

from inkwitness.signature import Device, Signature, make_signature
from inkwitness.store.models import PendingEnrolment

from .conftest import synthetic_signature
from .service_fixtures import Service, postgres_server, postgres_url, service  # noqa: F401

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


def other_writer(seed: int, n: int = 200) -> Signature:
    """Another person's signature: a different trajectory and rhythm than ``synthetic_signature``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 10.0
    phase = np.linspace(0, 4 * np.pi, n)
    x = 2000 + 700 * np.cos(2.5 * phase) + phase * 900 + rng.normal(0, 3, n)
    y = 2500 + 1300 * np.sin(0.6 * phase) * np.cos(3 * phase) + rng.normal(0, 3, n)
    starts = np.zeros(n, dtype=bool)
    starts[[n // 4, n // 2]] = True
    p = np.clip(0.6 + 0.25 * np.cos(phase * 3) + rng.normal(0, 0.02, n), 0, 1)
    return make_signature(x=np.round(x), y=np.round(y), t=t, pressure=p, stroke_start=starts,
                          channels={"tilt_x": np.round(10 * np.cos(phase), 1), "tilt_y": np.full(n, 5.0)},
                          device=Device(kind="pen", sampling_rate_hz=100.0, pressure_levels=1024))


OTHER = [other_writer(seed).to_dict() for seed in range(300, 305)]


def _enrolled(svc: Service) -> str:
    sid = svc.client.post("/v1/subjects", json={}, headers=svc.operator).json()["id"]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=svc.operator)
    assert r.status_code == 201, r.text
    return sid


def _history(svc: Service, sid: str) -> dict:
    return svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()


def _last_log_entry(svc: Service) -> dict:
    log = svc.client.app.state.ops.evidence.log
    return json.loads(log.entry(log.size() - 1)[0])


def test_another_writers_references_wait_for_a_second_key(service):
    svc = service
    sid = _enrolled(svc)
    first = _history(svc, sid)["enrolments"][0]["id"]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": OTHER, "replace": True},
                        headers=svc.operator)
    assert r.status_code == 202, r.text
    pending = r.json()
    assert pending["status"] == "pending-approval" and not pending["check"]["verified"]
    assert pending["check"]["accepted"] <= 2 and pending["approve"].endswith(f"/{pending['id']}/approve")
    # Nothing changed yet: the old template still decides.
    history = _history(svc, sid)
    assert [(e["id"], e["active"]) for e in history["enrolments"]] == [(first, True)]
    assert history["audit"][-1]["action"] == "enrolment.pending"
    assert history["audit"][-1]["pending"] == pending["id"] and history["audit"][-1]["replaces"] == first
    url = f"/v1/subjects/{sid}/enrolments/{pending['id']}/approve"
    # The requesting key cannot approve its own request; capture keys and other tenants cannot approve at all.
    r = svc.client.post(url, headers=svc.operator)
    assert r.status_code == 403 and "another key" in r.json()["error"]
    assert svc.client.post(url, headers=svc.capture).status_code == 403
    assert svc.client.post(url, headers=svc.other_admin).status_code == 404
    assert svc.client.post(f"/v1/subjects/{sid}/enrolments/{'0' * 16}/approve", headers=svc.admin).status_code == 404
    r = svc.client.post(url, headers=svc.admin)
    assert r.status_code == 201, r.text
    approved = r.json()
    assert approved["replaced"] == first and approved["requested_by"] == history["audit"][-1]["actor"]
    assert svc.client.post(url, headers=svc.admin).status_code == 409  # once
    history = _history(svc, sid)
    assert [e["active"] for e in history["enrolments"]] == [False, True]
    replaced = history["audit"][-1]
    assert replaced["action"] == "enrolment.replace" and replaced["actor"] == approved["approved_by"]
    assert replaced["approval"] == {"pending": pending["id"], "requested_by": approved["requested_by"]}
    entry = _last_log_entry(svc)
    assert entry["approved_by"] == approved["approved_by"] and entry["by"] == approved["requested_by"]
    assert entry["replaces"] == first and len(entry["references"]) == 5
    # The new writer's template now decides.
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": other_writer(310).to_dict()},
                        headers=svc.operator)
    assert r.status_code == 201 and r.json()["decision"] == "genuine", r.text


def test_a_pending_re_enrolment_expires_and_goes_stale(service):
    svc = service
    sid = _enrolled(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": OTHER, "replace": True},
                        headers=svc.operator)
    assert r.status_code == 202, r.text
    pending = r.json()["id"]
    with svc.client.app.state.ops.repo.sessions.begin() as s:
        s.execute(update(PendingEnrolment).values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)))
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments/{pending}/approve", headers=svc.admin)
    assert r.status_code == 410 and "expired" in r.json()["error"]
    # A second request; the enrolment it was to replace is replaced meanwhile: approving it is a conflict.
    more = [other_writer(seed).to_dict() for seed in range(320, 325)]
    pending = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": more, "replace": True},
                              headers=svc.operator).json()["id"]
    newer = [synthetic_signature(seed).to_dict() for seed in range(210, 215)]
    assert svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": newer, "replace": True},
                           headers=svc.operator).status_code == 201
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments/{pending}/approve", headers=svc.admin)
    assert r.status_code == 409 and "changed" in r.json()["error"]


def test_an_enrol_link_with_another_writer_waits_for_another_key_than_the_links_creator(service):
    svc = service
    sid = _enrolled(svc)
    token = svc.client.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "enrol", "replace": True},
                            headers=svc.operator).json()["token"]
    r = svc.client.post(f"/v1/capture/{token}", json={"signatures": OTHER})
    assert r.status_code == 201 and r.json() == {"enrolled": False, "references": 5, "pending_approval": True}
    audit = _history(svc, sid)["audit"][-1]
    assert audit["action"] == "enrolment.pending" and audit["actor"].startswith("session:")
    url = f"/v1/subjects/{sid}/enrolments/{audit['pending']}/approve"
    assert svc.client.post(url, headers=svc.operator).status_code == 403  # the link's creator
    assert svc.client.post(url, headers=svc.admin).status_code == 201
