"""Abuse limits of the service on SQLite and PostgreSQL: a burst of failed verifications of one subject
raises an alert and locks the subject for capture keys, capture keys share a per-subject limit, and a
key may have only so many requests in progress."""

from __future__ import annotations

import anyio
import httpx
import pytest

from inkwitness.service.auth import AuthGate, concurrency_for
from inkwitness.service.ratelimit import FailureWindow, InFlight

from .conftest import synthetic_signature
from .service_fixtures import postgres_server, postgres_url, running_service  # noqa: F401

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


@pytest.fixture(params=["sqlite", "postgresql"])
def strict(request, tmp_path):
    """The app with a lockout after 3 failures and a per-subject bucket that hardly refills during a test."""
    yield from running_service(request, tmp_path, failure_threshold=3, lockout_seconds=300.0,
                               capture_subject_rate_per_second=0.01)


def _enrolled(svc) -> str:
    sid = svc.client.post("/v1/subjects", json={}, headers=svc.operator).json()["id"]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=svc.operator)
    assert r.status_code == 201, r.text
    return sid


def test_a_burst_of_failed_verifications_alerts_and_locks_the_subject_for_capture_keys(strict, caplog):
    svc = strict
    sid, other = _enrolled(svc), _enrolled(svc)
    for ref in REFS[:3]:  # replays of enrolment samples: failures, whatever the model thinks of them
        r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": ref}, headers=svc.capture)
        assert r.status_code == 201 and r.json()["decision"] == "forgery"
    locked = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": REFS[3]}, headers=svc.capture)
    assert locked.status_code == 429, locked.text
    assert 200 < int(locked.headers["retry-after"]) <= 300 and "locked" in locked.json()["error"]
    assert "ALERT" in caplog.text and sid in caplog.text
    audit = svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()["audit"]
    alert = [a for a in audit if a["action"] == "subject.locked"]
    assert len(alert) == 1 and alert[0]["failures"] == 3 and alert[0]["actor"] == "system"
    # Not stored: the locked attempt cost no comparison.
    assert len(svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()["verifications"]) == 3
    # Other subjects and staff keys are not locked out.
    r = svc.client.post(f"/v1/subjects/{other}/verifications", json={"signature": synthetic_signature(31).to_dict()},
                        headers=svc.capture)
    assert r.status_code == 201
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(32).to_dict()},
                        headers=svc.operator)
    assert r.status_code == 201
    # The lock is read within the caller's tenant.
    repo = svc.client.app.state.ops.repo
    assert repo.locked_for(svc.tenant_b, sid) == 0.0 and repo.locked_for(svc.tenant_a, sid) > 200


def test_capture_keys_share_a_per_subject_limit(strict):
    svc = strict
    sid = _enrolled(svc)
    repo = svc.client.app.state.ops.repo
    second = {"Authorization": f"Bearer {repo.create_api_key(svc.tenant_a, 'pad 2', ['capture'])}"}
    burst = svc.settings.capture_subject_burst
    assert burst <= svc.settings.capture_burst * 2
    statuses = []
    for i in range(burst + 2):  # alternating keys: each stays well under its own burst
        r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": {}},
                            headers=svc.capture if i % 2 else second)
        statuses.append(r.status_code)
    assert statuses[:burst] == [422] * burst and statuses[burst:] == [429, 429], statuses
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": {}}, headers=svc.capture)
    assert "subject" in r.json()["error"] and int(r.headers["retry-after"]) >= 1
    # Another subject has its own bucket.
    r = svc.client.post(f"/v1/subjects/{_enrolled(svc)}/verifications", json={"signature": {}}, headers=second)
    assert r.status_code == 422


def test_a_key_may_have_only_so_many_requests_in_progress():
    release = anyio.Event()
    entered = []

    async def slow(scope, receive, send):  # noqa: ANN001
        entered.append(scope["path"])
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    class Keys:
        def authenticate(self, secret):  # noqa: ANN001
            return {"pad": ("k1", "t", frozenset({"capture"})), "clerk": ("k2", "t", frozenset({"operator"}))}[secret]

        def locked_for(self, tenant, subject):  # noqa: ANN001
            return 0.0

    gate = AuthGate(slow, Keys(), concurrency=concurrency_for(2, 3))

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            results: list[int] = []

            async def call(key: str) -> None:
                results.append((await client.get("/v1/x", headers={"X-API-Key": key})).status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(2):
                    tg.start_soon(call, "pad")
                while len(entered) < 2:
                    await anyio.sleep(0.01)
                refused = await client.get("/v1/x", headers={"X-API-Key": "pad"})
                assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
                tg.start_soon(call, "clerk")  # another key is not affected
                while len(entered) < 3:
                    await anyio.sleep(0.01)
                release.set()
            # Finished requests free their slots.
            assert (await client.get("/v1/x", headers={"X-API-Key": "pad"})).status_code == 200
            return results

    assert anyio.run(main) == [200, 200, 200]
    assert gate.in_flight._count == {}


def test_in_flight_and_failure_window_bookkeeping():
    flight = InFlight()
    assert flight.enter("a", 1) and not flight.enter("a", 1) and flight.enter("b", 1) and flight.enter("c", 0)
    flight.leave("a")
    assert flight.enter("a", 1)
    now = [0.0]
    window = FailureWindow(10.0, clock=lambda: now[0])
    assert [window.note("s") for _ in range(3)] == [1, 2, 3]
    now[0] = 10.5
    assert window.note("s") == 1  # older failures left the window
    window.clear("s")
    assert window.note("s") == 1


def test_serve_gives_in_flight_requests_a_shutdown_deadline(tmp_path, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from inkwitness.cli import app as cli
    from inkwitness.service.asgi import SETTINGS_ENV

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    monkeypatch.setenv(SETTINGS_ENV, "")  # serve sets it for its workers; restored after the test
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    args = ["serve", "--data-dir", str(tmp_path / "d"), "--tsa-url", "http://127.0.0.1:9/tsa",
            "--bootstrap-key-file", str(tmp_path / "keys.txt")]
    result = CliRunner().invoke(cli, [*args, "--shutdown-timeout", "7"])
    assert result.exit_code == 0, result.output
    assert seen["timeout_graceful_shutdown"] == 7
    CliRunner().invoke(cli, args)
    assert seen["timeout_graceful_shutdown"] == 30  # the default: shutdown never waits without end
