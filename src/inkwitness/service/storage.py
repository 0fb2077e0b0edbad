"""Tenant-scoped persistence of subjects, signatures (encrypted), enrolments, verifications and sessions."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import uuid
from collections import OrderedDict
from threading import Lock
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import InkwitnessError
from ..formats import native
from ..signature import Signature
from ..store.models import (ApiKey, Enrolment, SigningSession, StoredSignature, Subject, Tenant,
                            VerificationRecord, utcnow)


class NotFound(InkwitnessError):
    """The resource does not exist for this tenant."""


class Conflict(InkwitnessError):
    """The request conflicts with the stored state."""


class Gone(InkwitnessError):
    """A single-use or expiring resource is no longer usable."""


def new_id() -> str:
    """A random UUID string."""
    return str(uuid.uuid4())


class Vault:
    """AES-256-GCM for packets at rest; the tenant and hash are bound as associated data."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.version = hashlib.sha256(key).hexdigest()[:16]

    def seal(self, tenant_id: str, sha256: str, packet: bytes) -> bytes:
        """Encrypt a packet."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, packet, f"{tenant_id}:{sha256}".encode())

    def open(self, tenant_id: str, sha256: str, blob: bytes) -> bytes:
        """Decrypt a packet, failing loudly if it was altered or moved to another tenant."""
        try:
            return self._aead.decrypt(blob[:12], blob[12:], f"{tenant_id}:{sha256}".encode())
        except InvalidTag as exc:
            raise InkwitnessError("stored signature does not decrypt (altered, or a different storage key)") from exc


class Repository:
    """All database work of the service, always within one tenant."""

    def __init__(self, sessions: sessionmaker[Session], vault: Vault) -> None:
        self.sessions = sessions
        self.vault = vault
        self._packets: OrderedDict[str, Signature] = OrderedDict()
        self._lock = Lock()

    # --- tenants and keys ---------------------------------------------------------------
    def ensure_tenant(self, name: str) -> str:
        """Id of the named tenant, created if needed."""
        with self.sessions.begin() as s:
            tenant = s.scalars(select(Tenant).where(Tenant.name == name)).first()
            if tenant is None:
                tenant = Tenant(id=new_id(), name=name)
                s.add(tenant)
            return tenant.id

    def create_api_key(self, tenant_id: str, name: str, scopes: list[str]) -> str:
        """Create a key; the secret is returned once and only its hash is stored."""
        key_id = secrets.token_hex(4)
        secret = f"iwk_{key_id}_{secrets.token_urlsafe(24)}"
        with self.sessions.begin() as s:
            if s.get(Tenant, tenant_id) is None:
                raise NotFound(f"tenant {tenant_id} not found")
            s.add(ApiKey(id=new_id(), tenant_id=tenant_id, name=name, prefix=key_id,
                         secret_sha256=hashlib.sha256(secret.encode()).hexdigest(), scopes=",".join(sorted(scopes))))
        return secret

    def any_api_key(self) -> bool:
        """Whether any key exists (bootstrap)."""
        with self.sessions() as s:
            return s.scalars(select(ApiKey.id).limit(1)).first() is not None

    def lookup_key(self, secret: str) -> tuple[str, set[str]] | None:
        """(tenant id, scopes) of a valid key, or None."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self.sessions() as s:
            key = s.scalars(select(ApiKey).where(ApiKey.secret_sha256 == digest, ApiKey.revoked.is_(False))).first()
            if key is None or not secrets.compare_digest(key.secret_sha256, digest):
                return None
            return key.tenant_id, set(key.scopes.split(","))

    # --- subjects -------------------------------------------------------------------------
    def create_subject(self, tenant_id: str, external_ref: str | None, display_name: str | None) -> Subject:
        """Create a subject; a duplicate external reference is a conflict."""
        subject = Subject(id=new_id(), tenant_id=tenant_id, external_ref=external_ref, display_name=display_name)
        try:
            with self.sessions.begin() as s:
                s.add(subject)
        except IntegrityError as exc:
            raise Conflict(f"a subject with external_ref {external_ref!r} already exists") from exc
        return subject

    def tenant_of_subject(self, subject_id: str) -> str:
        """The tenant a subject belongs to (for operators with direct database access)."""
        with self.sessions() as s:
            subject = s.get(Subject, subject_id)
            if subject is None:
                raise NotFound(f"subject {subject_id} not found")
            return subject.tenant_id

    def subject(self, tenant_id: str, subject_id: str) -> Subject:
        """A subject of this tenant, or NotFound."""
        with self.sessions() as s:
            subject = s.get(Subject, subject_id)
            if subject is None or subject.tenant_id != tenant_id:
                raise NotFound(f"subject {subject_id} not found")
            return subject

    # --- signatures -----------------------------------------------------------------------
    def store_signature(self, s: Session, tenant_id: str, subject_id: str | None, sig: Signature, role: str
                        ) -> StoredSignature:
        """Add an encrypted signature to the session's transaction (ids are set here, so no flush is needed)."""
        packet = sig.canonical_bytes()
        row = StoredSignature(id=new_id(), tenant_id=tenant_id, subject_id=subject_id, sha256=sig.sha256, role=role,
                              packet_encrypted=self.vault.seal(tenant_id, sig.sha256, packet),
                              key_version=self.vault.version, points=len(sig), duration_ms=sig.duration_ms)
        s.add(row)
        return row

    def load_signature(self, row: StoredSignature) -> Signature:
        """Decrypt and parse a stored signature (cached by id)."""
        with self._lock:
            if row.id in self._packets:
                self._packets.move_to_end(row.id)
                return self._packets[row.id]
        sig = native.loads(self.vault.open(row.tenant_id, row.sha256, row.packet_encrypted))
        with self._lock:
            self._packets[row.id] = sig
            while len(self._packets) > 512:
                self._packets.popitem(last=False)
        return sig

    def subject_signature_ids(self, tenant_id: str, subject_id: str, limit: int = 200,
                              duration_ms: tuple[float, float] | None = None) -> list[tuple[str, str]]:
        """(id, sha256) of the subject's stored signatures, newest first, optionally within a duration range.

        Only light columns are read; packets are fetched by id when a caller needs them.
        """
        query = select(StoredSignature.id, StoredSignature.sha256).where(
            StoredSignature.tenant_id == tenant_id, StoredSignature.subject_id == subject_id)
        if duration_ms is not None:
            query = query.where(StoredSignature.duration_ms.between(*duration_ms))
        with self.sessions() as s:
            return [(i, h) for i, h in s.execute(query.order_by(StoredSignature.created.desc()).limit(limit))]

    def signature_row(self, signature_id: str) -> StoredSignature:
        """One stored signature row (with its encrypted packet)."""
        with self.sessions() as s:
            row = s.get(StoredSignature, signature_id)
            if row is None:
                raise NotFound(f"signature {signature_id} not found")
            return row

    def has_identical(self, tenant_id: str, subject_id: str, sha256: str) -> bool:
        """Whether exactly this packet is already stored for the subject."""
        with self.sessions() as s:
            return s.scalars(select(StoredSignature.id).where(
                StoredSignature.tenant_id == tenant_id, StoredSignature.subject_id == subject_id,
                StoredSignature.sha256 == sha256).limit(1)).first() is not None

    # --- enrolments and verifications ---------------------------------------------------------
    def active_enrolment_id(self, tenant_id: str, subject_id: str) -> str:
        """Id of the subject's current enrolment (NotFound for unknown subjects or no enrolment)."""
        with self.sessions() as s:
            found = s.scalars(select(Enrolment.id).where(
                Enrolment.tenant_id == tenant_id, Enrolment.subject_id == subject_id, Enrolment.active.is_(True))
                .order_by(Enrolment.created.desc()).limit(1)).first()
        if found is None:
            self.subject(tenant_id, subject_id)
            raise NotFound(f"subject {subject_id} is not enrolled")
        return found

    def active_enrolment(self, tenant_id: str, subject_id: str) -> tuple[Enrolment, list[StoredSignature]]:
        """The subject's current enrolment and its references."""
        with self.sessions() as s:
            enrolment = s.scalars(select(Enrolment).where(
                Enrolment.tenant_id == tenant_id, Enrolment.subject_id == subject_id, Enrolment.active.is_(True))
                .order_by(Enrolment.created.desc())).first()
            if enrolment is None:
                raise NotFound(f"subject {subject_id} is not enrolled")
            rows = {r.id: r for r in s.scalars(select(StoredSignature).where(
                StoredSignature.id.in_(enrolment.reference_ids)))}
            return enrolment, [rows[i] for i in enrolment.reference_ids]

    def save_enrolment(self, tenant_id: str, subject_id: str, refs: list[Signature]) -> Enrolment:
        """Store references and a new active enrolment, retiring the old one."""
        with self.sessions.begin() as s:
            rows = [self.store_signature(s, tenant_id, subject_id, sig, "reference") for sig in refs]
            s.execute(update(Enrolment).where(Enrolment.tenant_id == tenant_id, Enrolment.subject_id == subject_id)
                      .values(active=False))
            enrolment = Enrolment(id=new_id(), tenant_id=tenant_id, subject_id=subject_id,
                                  reference_ids=[r.id for r in rows], active=True)
            s.add(enrolment)
        return enrolment

    def save_verification(self, tenant_id: str, subject_id: str, enrolment_id: str | None, sig: Signature,
                          result: dict[str, Any], replay: bool, log: Any = None,
                          event: dict[str, Any] | None = None) -> tuple[VerificationRecord, int | None]:
        """Store the questioned signature and the outcome, with its log entry in the same commit."""
        context = log.transaction() if log is not None else _plain(self.sessions)
        with context as (s, append):
            row = self.store_signature(s, tenant_id, subject_id, sig, "questioned")
            record = VerificationRecord(id=new_id(), tenant_id=tenant_id, subject_id=subject_id,
                                        enrolment_id=enrolment_id, signature_id=row.id, score=result["score"],
                                        decision=result["decision"], replay=replay, result=result)
            s.add(record)
            index = append({**(event or {}), "verification": record.id}).index if append else None
        return record, index

    def history(self, tenant_id: str, subject_id: str) -> dict[str, Any]:
        """Enrolments and verifications of a subject (no biometric data)."""
        self.subject(tenant_id, subject_id)
        with self.sessions() as s:
            enrolments = s.scalars(select(Enrolment).where(Enrolment.tenant_id == tenant_id,
                                                           Enrolment.subject_id == subject_id)
                                   .order_by(Enrolment.created)).all()
            verifications = s.scalars(select(VerificationRecord).where(
                VerificationRecord.tenant_id == tenant_id, VerificationRecord.subject_id == subject_id)
                .order_by(VerificationRecord.created)).all()
            return {
                "enrolments": [{"id": e.id, "created": e.created.isoformat(), "active": e.active,
                                "references": len(e.reference_ids)} for e in enrolments],
                "verifications": [{"id": v.id, "created": v.created.isoformat(), "score": v.score,
                                   "decision": v.decision, "replay": v.replay} for v in verifications],
            }

    # --- signing sessions ----------------------------------------------------------------------
    def create_session(self, tenant_id: str, subject_id: str, purpose: str, ttl_seconds: int) -> tuple[str, str,
                                                                                                          dt.datetime]:
        """Create a single-use session; returns (id, token, expiry). Only the token's hash is stored."""
        self.subject(tenant_id, subject_id)
        token = secrets.token_urlsafe(24)
        expires = utcnow() + dt.timedelta(seconds=ttl_seconds)
        session_id = new_id()
        with self.sessions.begin() as s:
            s.add(SigningSession(id=session_id, tenant_id=tenant_id, subject_id=subject_id, purpose=purpose,
                                 token_sha256=hashlib.sha256(token.encode()).hexdigest(), expires_at=expires))
        return session_id, token, expires

    def peek_session(self, token: str) -> SigningSession:
        """A usable session for a token (not consumed), or Gone/NotFound."""
        with self.sessions() as s:
            row = s.scalars(select(SigningSession).where(
                SigningSession.token_sha256 == hashlib.sha256(token.encode()).hexdigest())).first()
            if row is None:
                raise NotFound("unknown signing session")
            if row.used_at is not None:
                raise Gone("this signing link was already used")
            if _aware(row.expires_at) < utcnow():
                raise Gone("this signing link has expired")
            return row

    def consume_session(self, token: str) -> SigningSession:
        """Atomically mark a session used; a second use or an expired link raises Gone."""
        row = self.peek_session(token)
        with self.sessions.begin() as s:
            done = s.execute(update(SigningSession).where(SigningSession.id == row.id,
                                                          SigningSession.used_at.is_(None))
                             .values(used_at=utcnow()))
            if done.rowcount != 1:
                raise Gone("this signing link was already used")
        return row

    def finish_session(self, session_id: str, outcome: dict[str, Any]) -> None:
        """Record what the session produced."""
        with self.sessions.begin() as s:
            s.execute(update(SigningSession).where(SigningSession.id == session_id).values(outcome=outcome))

    def session_status(self, tenant_id: str, session_id: str) -> dict[str, Any]:
        """Status of a session for the clerk who opened it."""
        with self.sessions() as s:
            row = s.get(SigningSession, session_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound(f"signing session {session_id} not found")
            state = "used" if row.used_at else "expired" if _aware(row.expires_at) < utcnow() else "open"
            return {"id": row.id, "subject_id": row.subject_id, "purpose": row.purpose, "state": state,
                    "expires_at": _aware(row.expires_at).isoformat(), "outcome": row.outcome}


@contextlib.contextmanager
def _plain(sessions: sessionmaker[Session]):  # noqa: ANN202
    with sessions.begin() as s:
        yield s, None


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
