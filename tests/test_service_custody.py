"""Where the storage keyring lives: INKWITNESS_STORAGE_KEY_FILE keeps it out of the data directory, and
serve warns while it is inside."""

from __future__ import annotations

import pytest

from inkwitness.errors import StorageError
from inkwitness.service.app import create_app
from inkwitness.service.custody import STORAGE_KEY_FILE_ENV, key_beside_data, key_path, rotate
from inkwitness.service.settings import Settings

from .conftest import synthetic_signature


def _start_with_data(settings: Settings) -> None:
    app = create_app(settings)
    ops = app.state.ops
    tenant = ops.repo.ensure_tenant("t")
    ops.enrol(tenant, ops.repo.create_subject(tenant, None, None).id, [synthetic_signature(s) for s in range(5)])
    ops.repo.sessions.kw["bind"].dispose()


def test_the_storage_key_can_live_outside_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    outside = tmp_path / "secrets" / "inkwitness.key"
    monkeypatch.setenv(STORAGE_KEY_FILE_ENV, str(outside))
    settings = Settings(data_dir=tmp_path / "data")
    _start_with_data(settings)
    assert key_path(settings) == outside and outside.stat().st_mode & 0o777 == 0o600
    assert not (settings.data_dir / "storage.key").exists() and not key_beside_data(settings)
    assert not any(p.name.endswith(".key") for p in settings.data_dir.rglob("*"))
    # Rotation writes the keyring where it lives.
    before = outside.read_bytes()
    rotate(settings, create_app(settings).state.ops.repo.sessions, grace_seconds=0)
    assert outside.read_bytes() != before and not (settings.data_dir / "storage.key").exists()
    # The data directory alone does not open: without the variable the key is missing.
    monkeypatch.delenv(STORAGE_KEY_FILE_ENV)
    with pytest.raises(StorageError, match="missing but the database holds data"):
        create_app(Settings(data_dir=settings.data_dir))
    monkeypatch.setenv(STORAGE_KEY_FILE_ENV, str(outside))
    create_app(Settings(data_dir=settings.data_dir))


def test_serve_warns_while_the_storage_key_is_in_the_data_directory(tmp_path, monkeypatch, capsys):
    from inkwitness.cli_service import _warn_key_beside_data

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    monkeypatch.delenv(STORAGE_KEY_FILE_ENV, raising=False)
    inside = Settings(data_dir=tmp_path / "data")
    assert key_beside_data(inside)
    _warn_key_beside_data(inside)
    assert STORAGE_KEY_FILE_ENV in capsys.readouterr().err
    monkeypatch.setenv(STORAGE_KEY_FILE_ENV, str(tmp_path / "elsewhere.key"))
    _warn_key_beside_data(inside)
    assert capsys.readouterr().err == ""
