"""Tenant-scoped persistence of subjects, signatures (encrypted), enrolments, verifications and sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from threading import Lock
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import InkwitnessError, StorageError
from ..formats import native
from ..signature import Signature
from ..store.models import (ApiKey, AuditEvent, Enrolment, FingerEnrolment, PendingEnrolment, SigningSession,
                            StoredSignature, Subject, Tenant, VerificationRecord, utcnow)
from .ratelimit import FailureWindow

_log = logging.getLogger("inkwitness.service")


class NotFound(InkwitnessError):
    """The resource does not exist for this tenant."""


class Conflict(InkwitnessError):
    """The request conflicts with the stored state."""


class Undecryptable(StorageError):
    """Stored data does not decrypt: a server-side fault (503), never the client's (4xx)."""


class StaleKey(StorageError):
    """A rotation made another key the sealing key and this process cannot re-read the keyring (503):
    a write sealed under the old key would be lost once that key retires, so it is refused."""


class Gone(InkwitnessError):
    """A single-use or expiring resource is no longer usable."""


def new_id() -> str:
    """A random UUID string."""
    return str(uuid.uuid4())


class Vault:
    """AES-256-GCM for packets at rest under a keyring; the tenant and hash are bound as associated data.

    The first key seals; every key in the ring opens what was sealed under it. A ``reload`` hook
    (see :mod:`custody`) lets a running service pick up a rotated keyring without a restart.
    """

    #: Seconds between checks of the keyring's source: a rotation is seen within this long.
    RELOAD_EVERY_SECONDS = 1.0

    def __init__(self, key: bytes | Sequence[bytes], reload: Callable[[], list[bytes] | None] | None = None,
                 recorded: Callable[[], str | None] | None = None) -> None:
        self._reload = reload
        self._recorded = recorded  # the sealing version the database records (see custody), checked before sealing
        self._checked = time.monotonic()
        self._install([key] if isinstance(key, bytes) else list(key))

    def _install(self, keys: list[bytes]) -> None:
        if not keys:
            raise StorageError("the storage keyring holds no key")
        ring = {key_version(k): AESGCM(k) for k in keys}
        # One assignment: readers in other threads see the old ring or the new one, never a mix.
        self._ring = (key_version(keys[0]), ring)

    @property
    def version(self) -> str:
        """Version of the key new data is sealed under (the newest)."""
        return self._ring[0]

    @property
    def versions(self) -> frozenset[str]:
        """Versions of every key held (the newest and those kept until no row uses them)."""
        return frozenset(self._ring[1])

    def refresh(self, force: bool = False) -> None:
        """Re-read the keyring's source if it may have changed (at most once a second unless forced)."""
        now = time.monotonic()
        if self._reload is None or (not force and now - self._checked < self.RELOAD_EVERY_SECONDS):
            return
        self._checked = now
        keys = self._reload()
        if keys:
            self._install(keys)

    def current(self) -> tuple[str, AESGCM]:
        """(version, cipher) of the sealing key: pass it to several ``seal`` calls so they agree."""
        self.refresh()
        version, ring = self._ring
        if self._recorded is not None:
            recorded = self._recorded()
            # Behind a rotation (the recorded version is not in this ring): re-read the keyring, else refuse.
            if recorded is not None and recorded not in ring:
                self.refresh(force=True)
                version, ring = self._ring
                if recorded not in ring:
                    raise StaleKey(f"storage key version {recorded} seals new data since a rotation, but this process "
                                   f"cannot re-read the keyring and holds version {version} only; writes are refused "
                                   "until it is given the new keyring (restart it)")
        return version, ring[version]

    def seal(self, tenant_id: str, sha256: str, packet: bytes, purpose: str = "",
             key: tuple[str, AESGCM] | None = None) -> bytes:
        """Encrypt a packet (or, with a purpose, data derived from it) under ``key``, else the newest key."""
        _, aead = key or self.current()
        nonce = secrets.token_bytes(12)
        return nonce + aead.encrypt(nonce, packet, _associated(tenant_id, sha256, purpose))

    def open(self, tenant_id: str, sha256: str, blob: bytes, purpose: str = "", version: str | None = None) -> bytes:
        """Decrypt, failing loudly if the blob was altered or moved to another tenant, packet or purpose.

        With ``version`` (rows record it) only that key is tried; without (files), every key held.
        """
        ring = self._ring[1]
        if version is not None and version not in ring:
            self.refresh(force=True)  # a rotation in another process may have added it
            ring = self._ring[1]
            if version not in ring:
                raise Undecryptable(f"stored data is sealed under storage key version {version}, which this "
                                    "service does not hold")
        candidates = [ring[version]] if version is not None else list(ring.values())
        for aead in candidates:
            try:
                return aead.decrypt(blob[:12], blob[12:], _associated(tenant_id, sha256, purpose))
            except InvalidTag:
                continue
        raise Undecryptable("stored data does not decrypt (altered, or a different storage key)")

    def missing(self, in_use: set[str]) -> list[str]:
        """Versions in ``in_use`` this vault does not hold (after re-reading its keyring)."""
        if in_use - self.versions:
            self.refresh(force=True)
        return sorted(in_use - self.versions)


def key_version(key: bytes) -> str:
    """A key's version: the first 16 hex digits of its SHA-256 (recorded on every row it seals)."""
    return hashlib.sha256(key).hexdigest()[:16]


def versions_in_use(s: Session) -> set[str]:
    """Every key version some encrypted row is sealed under.

    A loose index scan (``min`` above the last one found), so a few index probes however many
    rows there are: cheap enough for /healthz.
    """
    found: set[str] = set()
    for column in (StoredSignature.key_version, FingerEnrolment.key_version):
        last = None
        while True:
            query = select(func.min(column))
            last = s.scalar(query if last is None else query.where(column > last))
            if last is None:
                break
            found.add(last)
    return found


# Built once: the verification path runs these on every request.
_KEY = (select(ApiKey.id, ApiKey.tenant_id, ApiKey.scopes, ApiKey.expires_at, ApiKey.secret_sha256)
        .where(ApiKey.secret_sha256 == bindparam("digest"), ApiKey.revoked.is_(False)))
_IDENTICAL = (select(StoredSignature.id)
              .where(StoredSignature.tenant_id == bindparam("tenant"), StoredSignature.subject_id == bindparam("subject"),
                     StoredSignature.sha256 == bindparam("sha")).limit(1))
_CANDIDATES = (select(StoredSignature.id, StoredSignature.sha256)
               .where(StoredSignature.tenant_id == bindparam("tenant"),
                      StoredSignature.subject_id == bindparam("subject"))
               .order_by(StoredSignature.created.desc()))
_FINGERPRINTS = (select(StoredSignature.id, StoredSignature.replay_fingerprint, StoredSignature.key_version)
                 .where(StoredSignature.id.in_(bindparam("ids", expanding=True))))
_INSERT_SIGNATURE = insert(StoredSignature.__table__)
_INSERT_VERIFICATION = insert(VerificationRecord.__table__)
_ACTIVE_ENROLMENT = (select(Enrolment.id)
                     .where(Enrolment.tenant_id == bindparam("tenant"), Enrolment.subject_id == bindparam("subject"),
                            Enrolment.active.is_(True))
                     .order_by(Enrolment.created.desc()).limit(1))


def remember(cache: OrderedDict, lock: Lock, key: Any, value: Any, cap: int) -> None:
    """Insert into a bounded LRU cache under ``lock`` (every cache insertion goes through here)."""
    with lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > cap:
            cache.popitem(last=False)


def _associated(tenant_id: str, sha256: str, purpose: str) -> bytes:
    return f"{tenant_id}:{sha256}{':' + purpose if purpose else ''}".encode()


#: What a key lookup finds: key id, tenant id (None for a platform key) and scopes.
KeyFound = tuple[str, str | None, frozenset[str]]

#: A key's last use is written at most this often per key and process.
LAST_USED_EVERY_SECONDS = 60.0
#: Decrypted packets kept per process.
PACKET_CACHE_SIZE = 512
#: Decrypted replay fingerprints kept per process (~2 kB each).
FINGERPRINT_CACHE_SIZE = 4096

#: Vault purpose of the replay fingerprint stored beside a packet.
FINGERPRINT = "replay-fingerprint"


class Repository:
    """All database work of the service, always within one tenant."""

    def __init__(self, sessions: sessionmaker[Session], vault: Vault) -> None:
        self.sessions = sessions
        self.vault = vault
        self._packets: OrderedDict[str, Signature] = OrderedDict()
        self._last_used: dict[str, float] = {}
        self._fingerprints: OrderedDict[str, bytes] = OrderedDict()
        self._lock = Lock()
        # Failed verifications per subject (this process) and what a burst of them triggers.
        self.failure_threshold = 0
        self.lockout_seconds = 0.0
        self._failures = FailureWindow(0.0)

    def configure_lockout(self, threshold: int, window_seconds: float, lockout_seconds: float) -> None:
        """Alert (audit ``subject.locked``, warning in the log) when ``threshold`` verifications of one subject
        fail within ``window_seconds`` in this process, and lock the subject for ``lockout_seconds``
        (see :meth:`locked_for`). ``threshold`` 0 turns this off."""
        self.failure_threshold = threshold
        self.lockout_seconds = lockout_seconds
        self._failures = FailureWindow(window_seconds)

    def _note_failure(self, tenant_id: str, subject_id: str) -> None:
        """Count a failed verification (forgery or replay); on a burst, record the alert and lock."""
        if self.failure_threshold <= 0:
            return
        count = self._failures.note((tenant_id, subject_id))
        if count < self.failure_threshold:
            return
        self._failures.clear((tenant_id, subject_id))
        until = utcnow() + dt.timedelta(seconds=self.lockout_seconds)
        try:
            with self.sessions.begin() as s:
                self.audit(s, tenant_id, "system", "subject.locked", subject_id,
                           {"failures": count, "window_seconds": self._failures.window, "until": until.isoformat()})
        except Exception:  # the verification is stored; a lost alert must not turn it into an error
            _log.exception("could not record the lock of subject %s", subject_id)
        _log.warning("ALERT: %d failed verifications of subject %s (tenant %s) within %g s; capture keys are "
                     "refused for this subject until %s", count, subject_id, tenant_id, self._failures.window,
                     until.isoformat())

    def locked_for(self, tenant_id: str, subject_id: str) -> float:
        """Seconds the subject stays locked after a burst of failed verifications (0.0: not locked).

        Read from the database, so a lock raised by one worker or node holds in all of them.
        """
        if self.lockout_seconds <= 0:
            return 0.0
        with self.sessions() as s:
            created = s.scalars(select(AuditEvent.created).where(
                AuditEvent.target == subject_id, AuditEvent.tenant_id == tenant_id,
                AuditEvent.action == "subject.locked").order_by(AuditEvent.created.desc()).limit(1)).first()
        if created is None:
            return 0.0
        left = self.lockout_seconds - (utcnow() - _aware(created)).total_seconds()
        return max(0.0, left)

    def ping(self) -> None:
        """A round trip to the database (raises when it is unreachable, locked or broken), and a check that
        every key version rows are sealed under is held (else those rows are unreadable: not ready)."""
        with self.sessions() as s:
            in_use = versions_in_use(s)
        missing = self.vault.missing(in_use)
        if missing:
            raise Undecryptable(f"rows are sealed under storage key version(s) {', '.join(missing)}, which this "
                                "service does not hold; restore them to the keyring")

    # --- tenants and keys ---------------------------------------------------------------
    def create_tenant(self, name: str, actor: str = "system") -> str:
        """Create a tenant; an existing name is a conflict (its id is never disclosed)."""
        try:
            with self.sessions.begin() as s:
                if s.scalars(select(Tenant.id).where(Tenant.name == name)).first() is not None:
                    raise Conflict("a tenant with this name already exists")
                tenant = Tenant(id=new_id(), name=name)
                s.add(tenant)
                s.flush()  # the audit row refers to the tenant
                self.audit(s, tenant.id, actor, "tenant.create", tenant.id, {"name": name})
        except IntegrityError as exc:
            raise Conflict("a tenant with this name already exists") from exc
        return tenant.id

    def ensure_tenant(self, name: str) -> str:
        """Id of the named tenant, created if needed (command line and tests only, never over HTTP)."""
        with self.sessions.begin() as s:
            tenant = s.scalars(select(Tenant).where(Tenant.name == name)).first()
            if tenant is None:
                tenant = Tenant(id=new_id(), name=name)
                s.add(tenant)
            return tenant.id

    def create_api_key(self, tenant_id: str | None, name: str, scopes: list[str],
                       expires_at: dt.datetime | None = None, actor: str = "system") -> str:
        """Create a key (tenant None: a platform key); the secret is returned once and only its hash is stored."""
        key_id = secrets.token_hex(4)
        secret = f"iwk_{key_id}_{secrets.token_urlsafe(24)}"
        if expires_at is not None and _aware(expires_at) <= utcnow():
            raise Conflict("expires_at must be in the future")
        with self.sessions.begin() as s:
            if tenant_id is not None and s.get(Tenant, tenant_id) is None:
                raise NotFound(f"tenant {tenant_id} not found")
            row = ApiKey(id=new_id(), tenant_id=tenant_id, name=name, prefix=key_id, expires_at=expires_at,
                         secret_sha256=hashlib.sha256(secret.encode()).hexdigest(), scopes=",".join(sorted(scopes)))
            s.add(row)
            self.audit(s, tenant_id, actor, "key.create", row.id, {"prefix": key_id, "scopes": sorted(scopes)})
        return secret

    def any_api_key(self) -> bool:
        """Whether any key exists (bootstrap)."""
        with self.sessions() as s:
            return s.scalars(select(ApiKey.id).limit(1)).first() is not None

    def authenticate(self, secret: str) -> KeyFound | None:
        """(key id, tenant id or None, scopes) of a valid key, or None (unknown, revoked or expired).

        Read from the database on every request: a revocation takes effect at once in every
        worker process (one indexed read; the per-process cache this replaced kept revoked keys
        working for seconds).
        """
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self.sessions() as s:
            row = s.connection().execute(_KEY, {"digest": digest}).first()
        if row is None or not secrets.compare_digest(row.secret_sha256, digest):
            return None
        if row.expires_at is not None and _aware(row.expires_at) <= utcnow():
            return None
        now = time.monotonic()
        if now - self._last_used.get(row.id, -math.inf) >= LAST_USED_EVERY_SECONDS:
            self._last_used[row.id] = now
            with self.sessions.begin() as s:
                s.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=utcnow()))
        return row.id, row.tenant_id, frozenset(row.scopes.split(","))

    def list_keys(self, tenant_id: str | None) -> list[dict[str, Any]]:
        """Keys of a tenant (None: platform keys), newest first, without secrets."""
        with self.sessions() as s:
            rows = s.scalars(select(ApiKey).where(ApiKey.tenant_id.is_(None) if tenant_id is None
                                                  else ApiKey.tenant_id == tenant_id)
                             .order_by(ApiKey.created.desc())).all()
            return [_key_info(r) for r in rows]

    def roll_key(self, key_ref: str, tenant_id: str | None, any_tenant: bool = False,
                 actor: str = "system") -> tuple[str, dict[str, Any]]:
        """Replace a key by a new one with the same tenant, name, scopes and expiry; the old one is revoked."""
        old = self.revoke_key(key_ref, tenant_id, any_tenant, actor)
        expires = dt.datetime.fromisoformat(old["expires_at"]) if old["expires_at"] else None
        if expires is not None and expires <= utcnow():
            expires = None
        return self.create_api_key(old["tenant_id"], old["name"], old["scopes"], expires, actor), old

    def revoke_key(self, key_ref: str, tenant_id: str | None, any_tenant: bool = False,
                   actor: str = "system") -> dict[str, Any]:
        """Revoke a key by id or prefix, within a tenant (or any tenant for the platform); effective at once."""
        with self.sessions.begin() as s:
            query = select(ApiKey).where((ApiKey.id == key_ref) | (ApiKey.prefix == key_ref))
            if not any_tenant:
                query = query.where(ApiKey.tenant_id.is_(None) if tenant_id is None else ApiKey.tenant_id == tenant_id)
            rows = s.scalars(query).all()
            if not rows:
                raise NotFound(f"API key {key_ref} not found")
            if len(rows) > 1:
                raise Conflict(f"{key_ref} names more than one key; use the key id")
            key = rows[0]
            if not key.revoked:
                key.revoked, key.revoked_at = True, utcnow()
                self.audit(s, key.tenant_id, actor, "key.revoke", key.id, {"prefix": key.prefix})
            return _key_info(key)

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
    def store_signature(self, s: Session, tenant_id: str, subject_id: str | None, sig: Signature, role: str,
                        fingerprint: bytes | None = None) -> StoredSignature:
        """Add an encrypted signature to the session's transaction (ids are set here, so no flush is needed)."""
        row = self._signature_row(tenant_id, subject_id, sig, role, fingerprint)
        s.add(row)
        return row

    def _signature_row(self, tenant_id: str, subject_id: str | None, sig: Signature, role: str,
                       fingerprint: bytes | None = None) -> StoredSignature:
        key = self.vault.current()  # one key for the packet and its fingerprint, recorded on the row
        sealed = None if fingerprint is None else self.vault.seal(tenant_id, sig.sha256, fingerprint, FINGERPRINT, key)
        return StoredSignature(id=new_id(), tenant_id=tenant_id, subject_id=subject_id, sha256=sig.sha256, role=role,
                               packet_encrypted=self.vault.seal(tenant_id, sig.sha256, sig.canonical_bytes(), key=key),
                               key_version=key[0], points=len(sig), duration_ms=sig.duration_ms,
                               replay_fingerprint=sealed)

    def load_signature(self, row: StoredSignature, keep: bool = True) -> Signature:
        """Decrypt and parse a stored signature (cached by id unless ``keep`` is false)."""
        with self._lock:
            if row.id in self._packets:
                self._packets.move_to_end(row.id)
                return self._packets[row.id]
        sig = native.loads(self.vault.open(row.tenant_id, row.sha256, row.packet_encrypted,
                                           version=row.key_version))
        if keep:
            remember(self._packets, self._lock, row.id, sig, PACKET_CACHE_SIZE)
        return sig

    def replay_candidates(self, tenant_id: str, subject_id: str,
                          sha256: str) -> tuple[bool, list[tuple[str, str, bytes | None]]]:
        """Whether this packet is stored for the subject, and (id, sha256, replay fingerprint or None)
        of every stored sample of the subject.

        Packets are not read: a caller fetches one by id only when its fingerprint is close.
        Fingerprints never change, so decrypted ones are kept per process.
        """
        with self.sessions() as s:
            identical = self._identical(s, tenant_id, subject_id, sha256)
            connection = s.connection()
            rows = connection.execute(_CANDIDATES, {"tenant": tenant_id, "subject": subject_id}).all()
            with self._lock:
                known = {i: self._fingerprints.get(i) for i, _ in rows}
            missing = [i for i, fp in known.items() if fp is None]
            sealed: dict[str, tuple[bytes | None, str]] = {}
            # Chunks keep the IN list within every backend's parameter limit.
            for start in range(0, len(missing), 500):
                sealed.update((i, (blob, version)) for i, blob, version in
                              connection.execute(_FINGERPRINTS, {"ids": missing[start:start + 500]}).all())
        shas = dict(rows)
        for i, (blob, version) in sealed.items():
            if blob is not None:
                known[i] = self.vault.open(tenant_id, shas[i], blob, FINGERPRINT, version)
                remember(self._fingerprints, self._lock, i, known[i], FINGERPRINT_CACHE_SIZE)
        return identical, [(i, h, known[i]) for i, h in rows]

    def cached_fingerprint(self, signature_id: str) -> bytes | None:
        """A decrypted replay fingerprint this process has seen, or None."""
        with self._lock:
            return self._fingerprints.get(signature_id)

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
            return self._identical(s, tenant_id, subject_id, sha256)

    @staticmethod
    def _identical(s: Session, tenant_id: str, subject_id: str, sha256: str) -> bool:
        # Core execution on the session's connection: the ORM layer adds nothing for a lookup.
        return s.connection().execute(_IDENTICAL, {"tenant": tenant_id, "subject": subject_id,
                                                   "sha": sha256}).first() is not None

    # --- enrolments and verifications ---------------------------------------------------------
    def active_enrolment_id(self, tenant_id: str, subject_id: str) -> str:
        """Id of the subject's current enrolment (NotFound for unknown subjects or no enrolment)."""
        with self.sessions() as s:
            found = s.connection().scalar(_ACTIVE_ENROLMENT, {"tenant": tenant_id, "subject": subject_id})
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

    def save_enrolment(self, tenant_id: str, subject_id: str, refs: list[Signature],
                       fingerprints: list[bytes | None] | None = None, actor: str = "system",
                       replace: bool = False, expected: str | None = None,
                       detail: dict[str, Any] | None = None) -> tuple[Enrolment, str | None]:
        """Store references and a new active enrolment; replacing one needs ``replace`` and is audited.

        With ``expected`` (the enrolment the references were verified against) a replacement is refused
        if another enrolment became active meanwhile. ``detail`` is added to the audit event.
        Returns the enrolment and the id of the one it replaced (None for a first enrolment).
        """
        fingerprints = fingerprints or [None] * len(refs)
        with self.sessions.begin() as s:
            previous = s.connection().scalar(_ACTIVE_ENROLMENT, {"tenant": tenant_id, "subject": subject_id})
            if previous is not None and not replace:
                raise Conflict(f"subject {subject_id} is already enrolled; re-enrolment must be asked for "
                               "explicitly (replace: true)")
            if expected is not None and previous != expected:
                raise Conflict(f"the enrolment of subject {subject_id} changed while this re-enrolment was checked "
                               "against it; send it again")
            rows = [self.store_signature(s, tenant_id, subject_id, sig, "reference", fp)
                    for sig, fp in zip(refs, fingerprints, strict=True)]
            s.execute(update(Enrolment).where(Enrolment.tenant_id == tenant_id, Enrolment.subject_id == subject_id)
                      .values(active=False))
            enrolment = Enrolment(id=new_id(), tenant_id=tenant_id, subject_id=subject_id,
                                  reference_ids=[r.id for r in rows], active=True)
            s.add(enrolment)
            self.audit(s, tenant_id, actor, "enrolment.replace" if previous else "enrolment.create", subject_id,
                       {"enrolment": enrolment.id, "replaces": previous, "references": len(refs), **(detail or {})})
        return enrolment, previous

    def save_pending_enrolment(self, tenant_id: str, subject_id: str, refs: list[Signature],
                               fingerprints: list[bytes | None], actor: str, requester_key: str | None,
                               replaces: str, detail: dict[str, Any], ttl_seconds: float) -> PendingEnrolment:
        """Store a re-enrolment that awaits a second key's approval (its references with role ``pending``); audited."""
        with self.sessions.begin() as s:
            rows = [self.store_signature(s, tenant_id, subject_id, sig, "pending", fp)
                    for sig, fp in zip(refs, fingerprints, strict=True)]
            pending = PendingEnrolment(id=new_id(), tenant_id=tenant_id, subject_id=subject_id,
                                       reference_ids=[r.id for r in rows], requested_by=actor,
                                       requester_key=requester_key, replaces=replaces, detail=detail,
                                       expires_at=utcnow() + dt.timedelta(seconds=ttl_seconds))
            s.add(pending)
            self.audit(s, tenant_id, actor, "enrolment.pending", subject_id,
                       {"pending": pending.id, "replaces": replaces, "references": len(refs),
                        "expires_at": pending.expires_at.isoformat(), **detail})
        return pending

    def pending_enrolment(self, tenant_id: str, subject_id: str, pending_id: str) -> PendingEnrolment:
        """A re-enrolment awaiting approval (NotFound outside this tenant and subject)."""
        with self.sessions() as s:
            row = s.get(PendingEnrolment, pending_id)
            if row is None or row.tenant_id != tenant_id or row.subject_id != subject_id:
                raise NotFound(f"no re-enrolment {pending_id} awaits approval for subject {subject_id}")
            return row

    def approve_enrolment(self, tenant_id: str, subject_id: str, pending_id: str,
                          actor: str) -> tuple[Enrolment, str | None, PendingEnrolment]:
        """Make a pending re-enrolment the active enrolment, once (Conflict if already approved or if the
        enrolment it was to replace is no longer the active one; Gone once expired); audited."""
        now = utcnow()
        with self.sessions.begin() as s:
            row = s.get(PendingEnrolment, pending_id)
            if row is None or row.tenant_id != tenant_id or row.subject_id != subject_id:
                raise NotFound(f"no re-enrolment {pending_id} awaits approval for subject {subject_id}")
            if row.approved_at is None and _aware(row.expires_at) <= now:
                raise Gone(f"re-enrolment {pending_id} expired unapproved at {_aware(row.expires_at).isoformat()}; "
                           "enrol again")
            # Claimed by a conditional UPDATE: of two concurrent approvals exactly one succeeds.
            claimed = s.execute(update(PendingEnrolment).where(
                PendingEnrolment.id == pending_id, PendingEnrolment.approved_at.is_(None))
                .values(approved_at=now, approved_by=actor)).rowcount
            if claimed != 1:
                raise Conflict(f"re-enrolment {pending_id} was already approved")
            previous = s.connection().scalar(_ACTIVE_ENROLMENT, {"tenant": tenant_id, "subject": subject_id})
            if previous != row.replaces:
                raise Conflict(f"the enrolment of subject {subject_id} changed since re-enrolment {pending_id} was "
                               "asked for; enrol again")
            s.execute(update(StoredSignature).where(StoredSignature.id.in_(row.reference_ids))
                      .values(role="reference"))
            s.execute(update(Enrolment).where(Enrolment.tenant_id == tenant_id, Enrolment.subject_id == subject_id)
                      .values(active=False))
            enrolment = Enrolment(id=new_id(), tenant_id=tenant_id, subject_id=subject_id,
                                  reference_ids=list(row.reference_ids), active=True)
            s.add(enrolment)
            row.enrolment_id = enrolment.id
            self.audit(s, tenant_id, actor, "enrolment.replace", subject_id,
                       {"enrolment": enrolment.id, "replaces": previous, "references": len(row.reference_ids),
                        "approval": {"pending": row.id, "requested_by": row.requested_by}})
            s.flush()
            s.expunge(row)
        return enrolment, previous, row

    def is_enrolled(self, tenant_id: str, subject_id: str) -> bool:
        """Whether the subject (of this tenant) has an active enrolment."""
        with self.sessions() as s:
            return s.connection().scalar(_ACTIVE_ENROLMENT, {"tenant": tenant_id, "subject": subject_id}) is not None

    def save_finger_enrolment(self, tenant_id: str, subject_id: str, finger: int, templates: list[bytes],
                              consent: dict[str, Any], actor: str, replace: bool) -> tuple[FingerEnrolment, str | None]:
        """Store a finger's templates (encrypted) with its consent; replacing an active one needs ``replace``."""
        import json

        blob = json.dumps([t.hex() for t in templates]).encode()
        digest = hashlib.sha256(blob).hexdigest()
        key = self.vault.current()
        with self.sessions.begin() as s:
            self.subject(tenant_id, subject_id)
            current = s.scalars(select(FingerEnrolment).where(
                FingerEnrolment.tenant_id == tenant_id, FingerEnrolment.subject_id == subject_id,
                FingerEnrolment.finger == finger, FingerEnrolment.active.is_(True)).with_for_update()).first()
            if current is not None and not replace:
                raise Conflict(f"finger {finger} of subject {subject_id} is already enrolled; re-enrolment must be "
                               "asked for explicitly (replace: true)")
            previous = None
            if current is not None:
                current.active = False
                previous = current.id
            row = FingerEnrolment(id=new_id(), tenant_id=tenant_id, subject_id=subject_id, finger=finger,
                                  templates_encrypted=self.vault.seal(tenant_id, digest, blob, "finger-templates", key),
                                  templates_sha256=digest, key_version=key[0],
                                  impressions=len(templates), consent=consent, active=True)
            s.add(row)
            self.audit(s, tenant_id, actor, "finger.replace" if previous else "finger.enrol", subject_id,
                       {"finger_enrolment": row.id, "finger": finger, "replaces": previous,
                        "impressions": len(templates)})
        return row, previous

    def finger_templates(self, tenant_id: str, subject_id: str, finger: int | None = None
                         ) -> tuple[str, int, list[bytes]] | None:
        """(enrolment id, finger, decrypted templates) of the subject's active finger enrolment, or None."""
        import json

        with self.sessions() as s:
            query = select(FingerEnrolment).where(FingerEnrolment.tenant_id == tenant_id,
                                                  FingerEnrolment.subject_id == subject_id,
                                                  FingerEnrolment.active.is_(True))
            if finger is not None:
                query = query.where(FingerEnrolment.finger == finger)
            row = s.scalars(query.order_by(FingerEnrolment.created.desc()).limit(1)).first()
            if row is None:
                return None
            blob = self.vault.open(tenant_id, row.templates_sha256, row.templates_encrypted, "finger-templates",
                                   row.key_version)
            return row.id, row.finger, [bytes.fromhex(h) for h in json.loads(blob)]

    @staticmethod
    def audit(s: Session, tenant_id: str | None, actor: str, action: str, target: str | None,
              detail: dict[str, Any]) -> None:
        """Add an audit event to the session's transaction (it commits with the change it describes)."""
        s.add(AuditEvent(id=new_id(), tenant_id=tenant_id, actor=actor, action=action, target=target,
                         detail=detail))

    def save_verification(self, tenant_id: str, subject_id: str, enrolment_id: str | None, sig: Signature,
                          result: dict[str, Any], replay: bool, event: dict[str, Any] | None = None,
                          commit: Callable[[Callable[[Session, Any], Any]], Any] | None = None,
                          on_identical: Callable[[], None] | None = None,
                          fingerprint: bytes | None = None) -> tuple[VerificationRecord, int | None]:
        """Store the questioned signature and the outcome, with its log entry in the same commit.

        ``commit`` runs the write inside a log transaction (a group committer's ``submit``);
        without it the write is a plain transaction with no log entry. A packet identical to
        one stored meanwhile (a concurrent submission) is caught inside the write transaction,
        where writers are serialised: ``on_identical`` then turns the result into a replay.
        """
        # Encrypt and build the rows before taking the write lock.
        row = self._signature_row(tenant_id, subject_id, sig, "questioned", fingerprint)
        record_id = new_id()

        def write(s: Session, append: Any) -> tuple[VerificationRecord, int | None]:
            if not replay and on_identical is not None and self._identical(s, tenant_id, subject_id, sig.sha256):
                on_identical()
            record = VerificationRecord(id=record_id, tenant_id=tenant_id, subject_id=subject_id,
                                        enrolment_id=enrolment_id, signature_id=row.id, score=result["score"],
                                        decision=result["decision"], replay=result["decision"] == "replay",
                                        result=stored_result(result))
            # Plain INSERTs: the ORM's unit of work costs more CPU than the writes themselves here.
            connection = s.connection()
            connection.execute(_INSERT_SIGNATURE, _values(row))
            connection.execute(_INSERT_VERIFICATION, _values(record))
            entry = {**(event or {}), "decision": result["decision"], "verification": record_id}
            return record, (append(entry).index if append else None)

        if commit is not None:
            saved = commit(write)
        else:
            with self.sessions.begin() as s:
                saved = write(s, None)
        if fingerprint is not None:
            remember(self._fingerprints, self._lock, row.id, fingerprint, FINGERPRINT_CACHE_SIZE)
        if result["decision"] != "genuine":
            self._note_failure(tenant_id, subject_id)
        return saved

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
            audit = s.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant_id,
                                                       AuditEvent.target == subject_id)
                              .order_by(AuditEvent.created)).all()
            return {
                "audit": [{"action": a.action, "actor": a.actor, "created": _aware(a.created).isoformat(),
                           **a.detail} for a in audit],
                "enrolments": [{"id": e.id, "created": e.created.isoformat(), "active": e.active,
                                "references": len(e.reference_ids)} for e in enrolments],
                "verifications": [{"id": v.id, "created": v.created.isoformat(), "score": v.score,
                                   "decision": v.decision, "replay": v.replay} for v in verifications],
            }

    # --- signing sessions ----------------------------------------------------------------------
    def create_session(self, tenant_id: str, subject_id: str, purpose: str, ttl_seconds: int,
                       replace: bool = False, created_by: str | None = None) -> tuple[str, str, dt.datetime]:
        """Create a single-use session; returns (id, token, expiry). Only the token's hash is stored."""
        self.subject(tenant_id, subject_id)
        if purpose == "enrol" and not replace and self.is_enrolled(tenant_id, subject_id):
            raise Conflict(f"subject {subject_id} is already enrolled; an enrol link that replaces the "
                           "enrolment must be asked for explicitly (replace: true)")
        token = secrets.token_urlsafe(24)
        expires = utcnow() + dt.timedelta(seconds=ttl_seconds)
        session_id = new_id()
        with self.sessions.begin() as s:
            s.add(SigningSession(id=session_id, tenant_id=tenant_id, subject_id=subject_id, purpose=purpose,
                                 token_sha256=hashlib.sha256(token.encode()).hexdigest(), expires_at=expires,
                                 replace=replace, created_by=created_by))
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

    def release_session(self, session_id: str) -> None:
        """Make a consumed session usable again: processing failed, so the signer may retry."""
        with self.sessions.begin() as s:
            s.execute(update(SigningSession).where(SigningSession.id == session_id, SigningSession.outcome.is_(None))
                      .values(used_at=None))

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


def _values(obj: Any) -> dict[str, Any]:
    """Column values set on a new ORM object; unset ones are left to the column defaults."""
    return {c.key: v for c in obj.__table__.columns if (v := getattr(obj, c.key)) is not None}


#: What a stored verification outcome keeps. Reasons quote the references' feature means and
#: spreads (derived biometrics): they are shown to the caller once and never stored in clear.
STORED_RESULT_FIELDS = ("score", "decision", "threshold", "components")


def stored_result(result: dict[str, Any]) -> dict[str, Any]:
    """The part of a verification outcome that is kept in the database (no derived biometrics)."""
    kept = {k: result[k] for k in STORED_RESULT_FIELDS if k in result}
    if result.get("decision") == "replay":
        kept["replay"] = True
    return kept


def _key_info(key: ApiKey) -> dict[str, Any]:
    """What a key listing shows (never the secret or its hash)."""
    def when(value: dt.datetime | None) -> str | None:
        return None if value is None else _aware(value).isoformat()

    return {"id": key.id, "prefix": key.prefix, "name": key.name, "tenant_id": key.tenant_id,
            "scopes": key.scopes.split(","), "created": when(key.created), "expires_at": when(key.expires_at),
            "last_used_at": when(key.last_used_at), "revoked": key.revoked, "revoked_at": when(key.revoked_at)}


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
