"""Binding handwriting to one document: the capture-time binding and the log's reuse check.

A handwriting packet is evidence that its writer signed *one* document. Two checks keep
it from being sealed into another:

* **Binding at capture.** The capture client may record, inside the packet's capture
  context, the SHA-256 of the document shown to the signer and a nonce issued by the
  server for this signing::

      "capture": {"extra": {"binding": {"document_sha256": "<hex>", "nonce": "<text>"}}}

  Because the capture context is part of the packet, the binding is covered by the
  packet's SHA-256, the escrow container and the log. :func:`check_binding` refuses a
  packet whose binding names another document (or another nonce than the caller expects).

* **Reuse in the log.** Every sealing logs a ``signing`` event with the packet's and the
  document's SHA-256. :func:`sealings_elsewhere` finds the same packet sealed into another
  document; :func:`append_signing` appends a signing event only if there is none, inside
  the log's own transaction so two concurrent sealings cannot both pass.

* **Server nonces.** :class:`NonceStore` issues a random nonce for one signing of one
  document (``iwn1.`` + 256 random bits), keeps only its SHA-256 with the document's hash,
  the tenant, the signing request and an expiry, and marks it used in the transaction that
  logs the sealing (:func:`append_signing` with ``claim=``), so each nonce seals once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..signature import Signature
from .envelope import EvidenceError
from .log import AppendResult, TransparencyLog

BINDING_KEY = "binding"
_HEX64 = re.compile(r"[0-9a-f]{64}")


#: Server nonces start with this, so a nonce the server never issued is told from a caller's own.
NONCE_PREFIX = "iwn1."


class BindingError(EvidenceError):
    """The handwriting is bound to another document, or was already sealed into one."""


# Each refusal below has its own code (the snake_case of its name: binding_mismatch, binding_missing,
# nonce_unknown, nonce_expired, nonce_used; service/messages.py translates each); other binding
# refusals (a malformed binding, a packet sealed elsewhere) keep ``binding_error``.
class BindingMismatch(BindingError):
    """The packet's binding names another document (or another nonce) than the one being sealed."""


class BindingMissing(BindingError):
    """The packet carries no capture binding (or no nonce), and this signing requires one."""


class NonceUnknown(BindingError):
    """The packet's nonce was not issued by this server for this tenant and signing."""


class NonceExpired(BindingError):
    """The packet's nonce expired before the sealing."""


class NonceUsed(BindingError):
    """The packet's nonce already sealed a document (nonces are single-use)."""


def binding_of(sig: Signature) -> dict[str, Any] | None:
    """The capture binding a packet carries (``capture.extra.binding``), or None."""
    value = sig.capture.extra.get(BINDING_KEY)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BindingError("the packet's capture binding must be an object with document_sha256 and/or nonce")
    return value


def check_binding(sig: Signature, document_sha256: str, expected_nonce: str | None = None,
                  require_nonce_check: bool = False) -> None:
    """Refuse a packet bound at capture to another document, or to a nonce other than ``expected_nonce``.

    A packet without a binding passes (older capture clients send none). With
    ``require_nonce_check`` a packet that carries a nonce is refused unless the caller
    supplies the nonce it issued, so a binding that cannot be checked is never ignored.
    """
    binding = binding_of(sig)
    if binding is None:
        return
    bound_doc = binding.get("document_sha256")
    if bound_doc is not None:
        if not isinstance(bound_doc, str) or not _HEX64.fullmatch(bound_doc.lower()):
            raise BindingError("the packet's capture binding has a malformed document_sha256")
        if bound_doc.lower() != document_sha256.lower():
            raise BindingMismatch(f"the handwriting was captured for document {bound_doc.lower()}, not for this "
                               f"document ({document_sha256.lower()}); refusing to seal it here")
    nonce = binding.get("nonce")
    if nonce is not None:
        if expected_nonce is None:
            if require_nonce_check:
                raise BindingError("the handwriting is bound to a server nonce; pass the nonce issued for this "
                                   "signing to seal it")
        elif not (isinstance(nonce, str) and hmac.compare_digest(nonce.encode(), expected_nonce.encode())):
            raise BindingMismatch("the handwriting was captured for another signing session (nonce mismatch); "
                               "refusing to seal it")
    elif expected_nonce is not None:
        raise BindingMissing("a nonce was issued for this signing but the handwriting carries none")


def sealings_elsewhere(log: TransparencyLog, signature_sha256: str, document_sha256: str,
                       session: Session | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Signing events in the log that sealed this packet into a document other than ``document_sha256``."""
    return [(index, event) for index, event in log.find(session, signature_sha256=signature_sha256, type="signing")
            if event.get("document_sha256") != document_sha256]


def _reuse_message(signature_sha256: str, found: list[tuple[int, dict[str, Any]]]) -> str:
    index, event = found[0]
    return (f"this handwriting (packet sha256 {signature_sha256}) was already sealed into another document "
            f"(log entry {index}, document sha256 {event.get('document_sha256')}); a handwritten signature "
            "cannot be reused for a second document")


def check_not_sealed_elsewhere(log: TransparencyLog, signature_sha256: str, document_sha256: str,
                               session: Session | None = None) -> None:
    """Refuse a packet the log shows sealed into another document."""
    found = sealings_elsewhere(log, signature_sha256, document_sha256, session)
    if found:
        raise BindingError(_reuse_message(signature_sha256, found))


def append_signing(log: TransparencyLog, event: dict[str, Any],
                   claim: Callable[[Session, int], None] | None = None) -> AppendResult:
    """Append a ``signing`` event unless its packet is already sealed into another document (atomic).

    ``claim(session, index)`` runs in the same transaction after the append (e.g. marking a
    nonce used); if it raises, nothing is appended.
    """
    if event.get("type") != "signing" or not event.get("signature_sha256") or not event.get("document_sha256"):
        raise EvidenceError("append_signing needs a signing event with signature_sha256 and document_sha256")
    for _ in range(20):
        try:
            # The lookup runs inside the log's write transaction and lock: a concurrent
            # sealing of the same packet waits, then sees this one.
            with log.transaction() as (session, append):
                check_not_sealed_elsewhere(log, event["signature_sha256"], event["document_sha256"], session)
                result = append(event)
                if claim is not None:
                    claim(session, result.index)
                return result
        except IntegrityError:
            continue  # another process took the index first; retry
    raise EvidenceError("could not append to the log: too much contention")


def reuse_problems(log: TransparencyLog, signature_sha256: str, document_sha256: str) -> list[str]:
    """Sentences for a verifier: the packet also appears in the log for another document."""
    found = sealings_elsewhere(log, signature_sha256, document_sha256)
    if not found:
        return []
    entries = ", ".join(str(i) for i, _ in found[:5])
    return [f"this handwriting (packet sha256 {signature_sha256}) is also logged as sealed into another document "
            f"(log entr{'y' if len(found) == 1 else 'ies'} {entries}): the signature was reused"]


# --- server nonces ------------------------------------------------------------------------------
def nonce_sha256(nonce: str) -> str:
    """The SHA-256 (hex) a nonce is stored and logged under (the nonce itself is never stored)."""
    return hashlib.sha256(nonce.encode()).hexdigest()


def is_server_nonce(nonce: Any) -> bool:
    """Whether a nonce has the form of one this server issues (``iwn1.`` + base64url)."""
    return isinstance(nonce, str) and nonce.startswith(NONCE_PREFIX)


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class IssuedNonce:
    """A nonce just issued: give ``binding()`` to the capture client."""

    nonce: str
    document_sha256: str
    expires_at: dt.datetime

    def binding(self) -> dict[str, str]:
        """What the capture client puts into ``capture.extra.binding``."""
        return {"document_sha256": self.document_sha256, "nonce": self.nonce}


class NonceStore:
    """Server nonces for capture bindings, in the installation's database (table ``binding_nonces``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def issue(self, document_sha256: str, ttl: dt.timedelta, tenant_id: str | None = None,
              request_id: str | None = None) -> IssuedNonce:
        """A fresh nonce (256 random bits) for one signing of the document with this SHA-256."""
        from ..store.models import BindingNonce

        if not _HEX64.fullmatch(document_sha256):
            raise BindingError("document_sha256 must be 64 lowercase hex digits")
        nonce = NONCE_PREFIX + secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.timezone.utc)
        expires = now + ttl
        with self.sessions.begin() as session:
            session.add(BindingNonce(nonce_sha256=nonce_sha256(nonce), tenant_id=tenant_id,
                                     document_sha256=document_sha256, request_id=request_id, expires_at=expires,
                                     created=now))
        return IssuedNonce(nonce, document_sha256, expires)

    def check(self, nonce: str, document_sha256: str, tenant_id: str | None, request_id: str | None = None,
              at: dt.datetime | None = None) -> str:
        """The nonce's SHA-256 if it may seal this document now; else NonceUnknown/Expired/Used or BindingMismatch."""
        from ..store.models import BindingNonce

        digest = nonce_sha256(nonce)
        with self.sessions() as session:
            row = session.get(BindingNonce, digest)
            # Another tenant's nonce, or one issued for another signing request, is as good as unknown.
            if row is None or row.tenant_id != tenant_id or row.request_id != request_id:
                raise NonceUnknown("the handwriting's binding nonce was not issued by this server for this "
                                   "signing; refusing to seal it")
            if row.used_at is not None:
                raise NonceUsed(f"the handwriting's binding nonce was already used (log entry {row.log_index}); "
                                "a nonce seals one document once: capture the signature again")
            if _aware(row.expires_at) <= (at or dt.datetime.now(dt.timezone.utc)):
                raise NonceExpired("the handwriting's binding nonce has expired; ask for a new binding and "
                                   "capture the signature again")
            if row.document_sha256 != document_sha256.lower():
                raise BindingMismatch(f"the binding nonce was issued for document {row.document_sha256}, not for "
                                      f"this document ({document_sha256.lower()}); refusing to seal it here")
        return digest

    @staticmethod
    def claimer(digest: str) -> Callable[[Session, int], None]:
        """A ``claim`` for :func:`append_signing` that marks the nonce used by the sealing at that log index."""
        from ..store.models import BindingNonce

        def claim(session: Session, index: int) -> None:
            now = dt.datetime.now(dt.timezone.utc)
            row = session.get(BindingNonce, digest)
            if row is not None and _aware(row.expires_at) <= now:  # expired while the seal was made
                raise NonceExpired("the handwriting's binding nonce expired before the sealing was logged")
            done = session.execute(update(BindingNonce).where(BindingNonce.nonce_sha256 == digest,
                                                              BindingNonce.used_at.is_(None))
                                   .values(used_at=now, log_index=index))
            if done.rowcount != 1:  # a concurrent sealing claimed it first
                raise NonceUsed("the handwriting's binding nonce was used by another sealing meanwhile")
        return claim
