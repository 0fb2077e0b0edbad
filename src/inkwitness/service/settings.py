"""Service configuration: where data lives and what the service may sign with."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InkwitnessError

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
        """The AES-256 key for biometric data at rest: env, key file, or a new key file (0600)."""
        env = os.environ.get(STORAGE_KEY_ENV)
        if env:
            try:
                key = base64.b64decode(env, validate=True)
            except ValueError as exc:
                raise InkwitnessError(f"{STORAGE_KEY_ENV} is not base64") from exc
        else:
            path = self.storage_key_file or self.data_dir / "storage.key"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
                path.chmod(0o600)
            key = base64.b64decode(path.read_bytes().strip())
        if len(key) != 32:
            raise InkwitnessError("the storage key must be 32 bytes (AES-256), base64-encoded")
        return key
