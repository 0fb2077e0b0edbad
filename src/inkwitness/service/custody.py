"""Custody of the storage key: load it, never silently replace it, and check it against the database.

A new key is made only for an empty database. The database records the version (a SHA-256
prefix) of the key its data is sealed under, so a missing, swapped or corrupt key stops the
service at start-up with one clear line instead of leaving old subjects undecryptable.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import StorageError
from ..store.models import ServiceState, StoredSignature, utcnow
from .settings import STORAGE_KEY_ENV, Settings
from .storage import Vault

#: ``service_state`` row holding the storage key version the data is sealed under.
KEY_VERSION = "storage_key_version"


def key_path(settings: Settings) -> Path:
    """Where the storage key file lives."""
    return settings.storage_key_file or settings.data_dir / "storage.key"


def _decode(text: bytes, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StorageError(f"the storage key in {where} is corrupt (not base64)") from exc
    if len(key) != 32:
        raise StorageError(f"the storage key in {where} is corrupt: {len(key)} bytes, expected 32 (AES-256)")
    return key


def stored_version(sessions: sessionmaker[Session]) -> str | None:
    """The key version the database's data is sealed under: recorded, else found on stored signatures."""
    with sessions() as s:
        recorded = s.get(ServiceState, KEY_VERSION)
        if recorded is not None:
            return recorded.value
        versions = s.scalars(select(StoredSignature.key_version).distinct().limit(2)).all()
    if len(versions) > 1:
        raise StorageError("the database holds data sealed under more than one storage key; restore the original "
                           "key before starting")
    return versions[0] if versions else None


def write_new_key(path: Path) -> bytes:
    """Create a fresh key file, readable by its owner only from the first byte."""
    key = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64encode(key) + b"\n")
    return key


def load_key(settings: Settings, sessions: sessionmaker[Session]) -> bytes:
    """The storage key from the environment or the key file; a new file only when the database holds no data."""
    env = os.environ.get(STORAGE_KEY_ENV)
    if env:
        return _decode(env.encode(), STORAGE_KEY_ENV)
    path = key_path(settings)
    if path.exists():
        try:
            return _decode(path.read_bytes(), str(path))
        except OSError as exc:
            raise StorageError(f"cannot read the storage key {path}: {exc.strerror}") from exc
    version = stored_version(sessions)
    if version is not None:
        raise StorageError(f"the storage key {path} is missing but the database holds data sealed under key "
                           f"version {version}; restore the key file (or set {STORAGE_KEY_ENV}) before starting")
    return write_new_key(path)


def open_vault(settings: Settings, sessions: sessionmaker[Session]) -> Vault:
    """A vault with the right key: refuse to start if it is not the key the database's data is sealed under."""
    vault = Vault(load_key(settings, sessions))
    version = stored_version(sessions)
    if version is not None and version != vault.version:
        raise StorageError(f"the storage key (version {vault.version}) is not the one the database's data is sealed "
                           f"under (version {version}); restore the original key before starting")
    try:
        with sessions.begin() as s:
            if s.get(ServiceState, KEY_VERSION) is None:
                s.add(ServiceState(name=KEY_VERSION, value=vault.version, updated=utcnow()))
    except IntegrityError:  # another worker recorded it first: check what it recorded
        if stored_version(sessions) != vault.version:
            raise StorageError("the storage key is not the one another worker started with") from None
    return vault
