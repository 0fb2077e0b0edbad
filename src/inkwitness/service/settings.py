"""Service configuration: where data lives and what the service may sign with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STORAGE_KEY_ENV = "INKWITNESS_STORAGE_KEY"


@dataclass
class Settings:
    """Everything ``create_app`` needs; the CLI fills it from options and environment."""

    data_dir: Path = Path("inkwitness-data")
    database_url: str | None = None
    storage_key_file: Path | None = None
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 2 * 1024 * 1024
    max_document_bytes: int = 20 * 1024 * 1024
    session_ttl_seconds: int = 15 * 60
    tsa_url: str | None = None
    escrow_public_key: Path | None = None
    pki_dir: Path | None = None
    origin: str = "inkwitness.local/log"

    def storage_key(self) -> bytes:
        """The AES-256 key for biometric data at rest: env, key file, or a new key file (0600).

        The service itself opens its key through :func:`custody.open_vault`, which also refuses a
        missing key when the database holds data, and a key the data is not sealed under.
        """
        from .custody import _decode, key_path, write_new_key

        env = os.environ.get(STORAGE_KEY_ENV)
        if env:
            return _decode(env.encode(), STORAGE_KEY_ENV)
        path = key_path(self)
        if not path.exists():
            return write_new_key(path)
        return _decode(path.read_bytes(), str(path))
