"""The per-request comparison budget: a verification or enrolment that runs past it is stopped between DTW
comparisons, answered 503 with Retry-After and a clear code, and stores nothing; without a budget the
engine behaves as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inkwitness.errors import ComparisonBudgetExceeded
from inkwitness.verification import DEADLINE, Verifier, comparison_budget

from .conftest import synthetic_signature
from .service_fixtures import Service, running_service

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


@pytest.fixture(params=["sqlite"])
def service(request, tmp_path) -> Iterator[Service]:
    yield from running_service(request, tmp_path)


def test_the_engine_stops_between_comparisons_once_the_deadline_passed():
    refs = [synthetic_signature(seed) for seed in range(5)]
    plain = Verifier().fit(refs).score(synthetic_signature(9))
    with comparison_budget(60.0):
        assert DEADLINE.get() is not None
        assert Verifier().fit(refs).score(synthetic_signature(9)) == plain  # a budget changes no result
        with comparison_budget(1e-9), pytest.raises(ComparisonBudgetExceeded):
            Verifier().fit(refs)  # the consistency check's pairwise DTWs
        with comparison_budget(3600.0):  # an inner budget never extends an outer one
            assert DEADLINE.get() <= __import__("time").monotonic() + 60.0
    assert DEADLINE.get() is None
    verifier = Verifier().fit(refs, check_consistency=False)
    with comparison_budget(1e-9), pytest.raises(ComparisonBudgetExceeded):
        verifier.measure(synthetic_signature(9))
    with comparison_budget(0):  # 0: no budget
        assert DEADLINE.get() is None


def test_a_verification_over_budget_is_a_503_and_stores_nothing(service):
    svc = service
    sid = svc.client.post("/v1/subjects", json={}, headers=svc.operator).json()["id"]
    assert svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS},
                           headers=svc.operator).status_code == 201
    assert svc.settings.verify_cpu_budget_seconds == 10.0
    ok = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(9).to_dict()},
                         headers=svc.operator)
    assert ok.status_code == 201, ok.text
    svc.client.app.state.ops.settings.verify_cpu_budget_seconds = 1e-6
    for headers in (svc.operator, svc.capture):
        r = svc.client.post(f"/v1/subjects/{sid}/verifications",
                            json={"signature": synthetic_signature(10).to_dict()},
                            headers={**headers, "Accept-Language": "zh-CN"})
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0, r.text
        body = r.json()
        assert body["code"] == "comparison_budget_exceeded" and "budget" in body["error"]
        assert body["lang"] == "zh" and "预算" in body["message"]
    history = svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()
    assert len(history["verifications"]) == 1  # only the one within budget
    # An enrolment's comparisons have the same budget: refused, nothing stored.
    other = svc.client.post("/v1/subjects", json={}, headers=svc.operator).json()["id"]
    r = svc.client.post(f"/v1/subjects/{other}/enrolments", json={"references": REFS}, headers=svc.operator)
    assert r.status_code == 503 and r.json()["code"] == "comparison_budget_exceeded"
    assert svc.client.get(f"/v1/subjects/{other}/history", headers=svc.operator).json()["enrolments"] == []
    # The same signature within budget again: stored as a fresh verification (the stopped one left no trace).
    svc.client.app.state.ops.settings.verify_cpu_budget_seconds = 10.0
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(10).to_dict()},
                        headers=svc.operator)
    assert r.status_code == 201 and not r.json()["replay"], r.text
