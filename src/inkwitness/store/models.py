"""SQLAlchemy models: tenants, keys, subjects, encrypted signatures, enrolments, verifications,
signing sessions, and the transparency log. Biometric packets are stored only encrypted."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    """Timezone-aware now, for defaults."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Tenant(Base):
    """An organisation; its data is invisible to every other tenant."""

    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the prefix identifies it in listings.

    A key without a tenant is a platform-operator key (scope ``platform``).
    """

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), index=True, nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Written at most once a minute per key and process: a write per request would cost throughput.
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Subject(Base):
    """A person who signs."""

    __tablename__ = "subjects"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (UniqueConstraint("tenant_id", "external_ref", name="uq_subject_ref"),)


class StoredSignature(Base):
    """A captured signature: its SHA-256 in clear, its packet encrypted (AES-256-GCM)."""

    __tablename__ = "signatures"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id"), index=True, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(20))  # reference | questioned | document
    packet_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    key_version: Mapped[str] = mapped_column(String(64), index=True)  # rotation and /healthz look rows up by it
    points: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # A coarse copy of the time functions (encrypted like the packet): the replay check
    # screens stored samples with it instead of decrypting and re-extracting each packet.
    replay_fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Enrolment(Base):
    """A template built from reference signatures."""

    __tablename__ = "enrolments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    reference_ids: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VerificationRecord(Base):
    """The outcome of one verification."""

    __tablename__ = "verifications"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    enrolment_id: Mapped[str | None] = mapped_column(ForeignKey("enrolments.id"), nullable=True)
    signature_id: Mapped[str] = mapped_column(ForeignKey("signatures.id"))
    score: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(20))
    replay: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict] = mapped_column(JSON)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SigningSession(Base):
    """A single-use, expiring link for cross-device signing; only the token's hash is stored."""

    __tablename__ = "signing_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # enrol | verify
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # An enrol link for an already enrolled subject replaces the enrolment only if the clerk said so.
    replace: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BindingNonce(Base):
    """A server nonce issued for one signing of one document (capture binding); only its SHA-256 is stored.

    Single use: ``used_at`` is set in the transaction that logs the sealing, so a nonce seals once.
    """

    __tablename__ = "binding_nonces"
    nonce_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    document_sha256: Mapped[str] = mapped_column(String(64))
    # The signing request (ceremony) the nonce was issued for; None for the plain API.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    log_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FingerEnrolment(Base):
    """A subject's enrolled finger: the ISO/IEC 19794-2 templates of several impressions, encrypted, and the
    separate fingerprint consent it was given under."""

    __tablename__ = "finger_enrolments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    finger: Mapped[int] = mapped_column(Integer)  # ISO finger position 0-10
    # JSON list of hex templates, sealed by the storage key (fingerprints are sensitive personal information).
    templates_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    templates_sha256: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[str] = mapped_column(String(64), index=True)  # rotation and /healthz look rows up by it
    impressions: Mapped[int] = mapped_column(Integer)
    consent: Mapped[dict] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PendingEnrolment(Base):
    """A re-enrolment whose references did not verify against the subject's current template: it waits,
    with its references stored (role ``pending``), for a second key of the tenant to approve it."""

    __tablename__ = "pending_enrolments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    reference_ids: Mapped[list[str]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(80))  # "key:<id>" or "session:<id>"
    # The key that asked (or created the signing link); it may not approve its own request.
    requester_key: Mapped[str | None] = mapped_column(String(36), nullable=True)
    replaces: Mapped[str | None] = mapped_column(String(36), nullable=True)  # the enrolment active when asked
    detail: Mapped[dict] = mapped_column(JSON)  # how the references scored against the current template
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    enrolment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServiceState(Base):
    """Installation-wide values: the storage key version the data is sealed under, the key revocation counter."""

    __tablename__ = "service_state"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """Who changed what and when, e.g. an enrolment replaced or a key revoked (no biometric data)."""

    __tablename__ = "audit_events"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), index=True, nullable=True)
    actor: Mapped[str] = mapped_column(String(80))  # "key:<id>" or "session:<id>"
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    detail: Mapped[dict] = mapped_column(JSON)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LogEntry(Base):
    """One transparency-log leaf: canonical JSON of an event (never coordinates)."""

    __tablename__ = "log_entries"
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LogCheckpoint(Base):
    """A signed tree head after an append."""

    __tablename__ = "log_checkpoints"
    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Artifact(Base):
    """Evidence kept by hash: sealed PDFs and escrow containers (both safe to store: no clear biometrics)."""

    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # pdf | container
    log_index: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_signatures_tenant_subject_sha", StoredSignature.tenant_id, StoredSignature.subject_id, StoredSignature.sha256)
# The replay check filters a subject's newest samples by duration: with duration in the
# index, SQLite need not walk past each packet (stored before that column) to read it.
Index("ix_signatures_replay", StoredSignature.subject_id, StoredSignature.created, StoredSignature.duration_ms)
