"""Retention of signing requests: ended ones go after the retention period, open ones and the log stay."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from inkwitness.cli import app
from inkwitness.errors import InkwitnessError
from inkwitness.service.ceremony.store import COPY_RETENTION, RequestStore, SigningRequest, purge_requests, token_key
from inkwitness.service.settings import REQUEST_RETENTION_ENV, Settings

NOW = dt.datetime(2026, 12, 5, 12, tzinfo=dt.timezone.utc)


def _file(root, request_id: str, state: str, ended_days_ago: float, expires_in_days: float = 1.0,
          at: dt.datetime = NOW) -> None:
    ended = (at - dt.timedelta(days=ended_days_ago)).isoformat()
    req = SigningRequest(id=request_id, tenant_id="t", subject_id="s", document_name="a.pdf", document_sha256="0" * 64,
                         pages=[(595.0, 842.0)], page=1, box=(1.0, 2.0, 3.0, 4.0), requester="r", reason="y",
                         signer_name=None, expires_at=(at + dt.timedelta(days=expires_in_days)).isoformat(),
                         created_at=ended, state=state,
                         events=[] if state in ("open", "viewed") else [{"state": state, "time": ended}])
    store = RequestStore(root, vault=None)  # type: ignore[arg-type]  # save() encrypts nothing
    store.save(req)
    for blob in ("document", "sealed"):
        (root / "requests" / request_id / f"{blob}.bin").write_bytes(b"sealed bytes")
    (root / "tokens").mkdir(parents=True, exist_ok=True)
    (root / "tokens" / token_key(f"token-{request_id}")).write_text(request_id)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "ceremony"
    _file(root, "old-signed", "signed", 40)
    _file(root, "old-declined", "declined", 31)
    _file(root, "recent-typed", "typed", 3)
    _file(root, "expired-long-ago", "open", 45, expires_in_days=-35)
    _file(root, "expired-lately", "viewed", 10, expires_in_days=-2)
    _file(root, "still-open", "open", 45, expires_in_days=2)
    return root


def test_purge_deletes_requests_ended_before_the_retention(tree):
    month = dt.timedelta(days=30)
    expected = ["expired-long-ago", "old-declined", "old-signed"]
    assert purge_requests(tree, month, NOW, dry_run=True) == expected
    assert len(list((tree / "requests").iterdir())) == 6
    assert purge_requests(tree, month, NOW) == expected
    left = sorted(p.name for p in (tree / "requests").iterdir())
    assert left == ["expired-lately", "recent-typed", "still-open"]
    links = sorted(p.read_text() for p in (tree / "tokens").iterdir())
    assert links == left
    assert purge_requests(tree, month, NOW) == []
    # A request still open is kept however old, until its link expires.
    assert purge_requests(tree, dt.timedelta(0), NOW) == ["expired-lately", "recent-typed"]


def test_retention_setting_and_environment(monkeypatch):
    monkeypatch.delenv(REQUEST_RETENTION_ENV, raising=False)
    assert Settings().request_retention() == dt.timedelta(days=30)
    monkeypatch.setenv(REQUEST_RETENTION_ENV, "7")
    assert Settings().request_retention() == dt.timedelta(days=7)
    assert Settings(request_retention_days=1).request_retention() == COPY_RETENTION
    monkeypatch.setenv(REQUEST_RETENTION_ENV, "soon")
    with pytest.raises(InkwitnessError):
        Settings().request_retention()
    with pytest.raises(InkwitnessError, match=REQUEST_RETENTION_ENV):
        Settings().validate()


@pytest.mark.parametrize("days", [0, 0.5, -1, 40000, float("nan")])
def test_retention_never_ends_the_signers_copy_early(days):
    # The signer may download the sealed copy for a day: the request's folder holds it.
    with pytest.raises(InkwitnessError, match="copy"):
        Settings(request_retention_days=days).request_retention()


def test_serve_refuses_a_bad_retention_in_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "inkwitness"
    env = {**__import__("os").environ, REQUEST_RETENTION_ENV: "soon"}
    done = subprocess.run([str(exe), "serve", "--data-dir", str(tmp_path / "d"), "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {REQUEST_RETENTION_ENV} must be a number of days"


def test_purge_deletes_the_folder_it_judged_not_the_id_its_json_names(tmp_path):
    root = tmp_path / "ceremony"
    _file(root, "still-open", "open", 45, expires_in_days=2)
    _file(root, "ended", "signed", 40)
    # A mis-copied (or tampered) request.json naming another request, or a path out of the folder.
    original = (root / "requests" / "ended" / "request.json").read_text()
    for name, claimed in (("ended", "still-open"), ("ended2", "../../outside")):
        (root / "requests" / name).mkdir(exist_ok=True)
        data = original.replace('"id": "ended"', f'"id": "{claimed}"')
        assert data != original
        (root / "requests" / name / "request.json").write_text(data)
    (tmp_path / "outside").mkdir()
    assert sorted(purge_requests(root, dt.timedelta(days=30), NOW)) == ["ended", "ended2"]
    assert (root / "requests" / "still-open").exists() and (tmp_path / "outside").exists()
    assert sorted(p.name for p in (root / "requests").iterdir()) == ["still-open"]


def test_cli_requests_purge(tmp_path, monkeypatch):
    monkeypatch.delenv(REQUEST_RETENTION_ENV, raising=False)
    root = tmp_path / "ceremony"
    now = dt.datetime.now(dt.timezone.utc)
    _file(root, "done", "signed", 400, at=now)
    _file(root, "fresh", "signed", 0.01, at=now)
    runner = CliRunner()
    dry = runner.invoke(app, ["requests", "purge", "--data-dir", str(tmp_path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "done" in dry.stdout and (root / "requests" / "done").exists()
    real = runner.invoke(app, ["requests", "purge", "--data-dir", str(tmp_path)])
    assert real.exit_code == 0 and not (root / "requests" / "done").exists()
    assert (root / "requests" / "fresh").exists()
    # Shorter than the signer's copy is kept: refused, nothing goes.
    shorter = runner.invoke(app, ["requests", "purge", "--data-dir", str(tmp_path), "--older-than-days", "0"])
    assert shorter.exit_code != 0 and "copy" in str(shorter.exception)
    assert (root / "requests" / "fresh").exists()
    _file(root, "yesterday", "signed", 1.5, at=now)
    day = runner.invoke(app, ["requests", "purge", "--data-dir", str(tmp_path), "--older-than-days", "1"])
    assert day.exit_code == 0 and not (root / "requests" / "yesterday").exists()
    assert (root / "requests" / "fresh").exists()
