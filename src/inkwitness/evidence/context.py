"""Where evidence lives on disk: one data directory holding the database, the log key and the PKI."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from ..store import open_database, sqlite_url
from ..store.models import Artifact
from .envelope import EvidenceError
from .log import TransparencyLog, load_or_create_log_key

DEFAULT_DATA_DIR = Path("inkwitness-data")
DATA_DIR_ENV = "INKWITNESS_DATA_DIR"
DATABASE_URL_ENV = "INKWITNESS_DATABASE_URL"


@dataclass
class EvidenceContext:
    """The data directory and database of one inkwitness installation."""

    data_dir: Path
    database_url: str | None = None
    origin: str = "inkwitness.local/log"

    @classmethod
    def resolve(cls, data_dir: Path | None = None, database_url: str | None = None) -> EvidenceContext:
        """From options, else environment, else ``./inkwitness-data`` with SQLite inside it."""
        folder = data_dir or Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, database_url or os.environ.get(DATABASE_URL_ENV))

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Session factory (migrations applied)."""
        return open_database(self.database_url or sqlite_url(self.data_dir))

    @cached_property
    def log(self) -> TransparencyLog:
        """The transparency log, signing with the key in the data directory."""
        sqlite = not self.database_url or self.database_url.startswith("sqlite")
        return TransparencyLog(self.sessions, load_or_create_log_key(self.data_dir / "log-signing-key.pem"),
                               origin=self.origin, lock_file=self.data_dir / "log.lock" if sqlite else None)

    @property
    def pki_dir(self) -> Path:
        """Default location of the sealing PKI (``inkwitness pki init``)."""
        return self.data_dir / "pki"

    @property
    def cosignature_dir(self) -> Path:
        """Where witness co-signatures of this log's checkpoints are kept (one note per tree size)."""
        return self.data_dir / "cosignatures"

    def add_cosignatures(self, note: str) -> tuple[int, int]:
        """Keep the signature lines of a co-signed checkpoint; returns (tree size, lines kept).

        The body must be one of this log's own signed checkpoints: co-signatures of anything
        else are refused rather than stored.
        """
        from .checkpoint import open_checkpoint
        from .witness import add_signature_lines

        cp = open_checkpoint(note, self.log.verifier_key)
        own = self.log.checkpoint_at(cp.size)
        if own.split("\n\n", 1)[0] != note.split("\n\n", 1)[0]:
            raise EvidenceError(f"the co-signed checkpoint of size {cp.size} is not this log's checkpoint")
        path = self.cosignature_dir / f"{cp.size}.note"
        current = path.read_text() if path.exists() else own
        lines = [line for line in note.split("\n\n", 1)[1].splitlines() if line.strip()]
        merged = add_signature_lines(current, lines)
        self.cosignature_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(merged)
        return cp.size, len(merged.splitlines()) - len(own.splitlines())

    def cosigned_checkpoint(self, min_size: int = 1) -> str | None:
        """The largest co-signed checkpoint covering at least ``min_size`` entries, if any."""
        if not self.cosignature_dir.is_dir():
            return None
        sizes = sorted((int(p.stem) for p in self.cosignature_dir.glob("*.note") if p.stem.isdigit()), reverse=True)
        for size in sizes:
            if size >= min_size:
                return (self.cosignature_dir / f"{size}.note").read_text()
        return None

    def store_artifact(self, data: bytes, kind: str, log_index: int | None = None,
                       tenant_id: str | None = None) -> str:
        """Keep a sealed PDF or container by its SHA-256; returns the hash."""
        digest = hashlib.sha256(data).hexdigest()
        with self.sessions.begin() as session:
            if session.get(Artifact, digest) is None:
                session.add(Artifact(sha256=digest, kind=kind, data=data, log_index=log_index, tenant_id=tenant_id))
        return digest

    def artifacts_for(self, log_index: int) -> dict[str, bytes]:
        """Artifacts recorded with a log entry, by kind."""
        from sqlalchemy import select

        with self.sessions() as session:
            rows = session.scalars(select(Artifact).where(Artifact.log_index == log_index)).all()
            return {row.kind: row.data for row in rows}
