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
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..signature import Signature
from .envelope import EvidenceError
from .log import AppendResult, TransparencyLog

BINDING_KEY = "binding"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class BindingError(EvidenceError):
    """The handwriting is bound to another document, or was already sealed into one."""


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
            raise BindingError(f"the handwriting was captured for document {bound_doc.lower()}, not for this "
                               f"document ({document_sha256.lower()}); refusing to seal it here")
    nonce = binding.get("nonce")
    if nonce is not None:
        if expected_nonce is None:
            if require_nonce_check:
                raise BindingError("the handwriting is bound to a server nonce; pass the nonce issued for this "
                                   "signing to seal it")
        elif not (isinstance(nonce, str) and hmac.compare_digest(nonce.encode(), expected_nonce.encode())):
            raise BindingError("the handwriting was captured for another signing session (nonce mismatch); "
                               "refusing to seal it")
    elif expected_nonce is not None:
        raise BindingError("a nonce was issued for this signing but the handwriting carries none")


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


def append_signing(log: TransparencyLog, event: dict[str, Any]) -> AppendResult:
    """Append a ``signing`` event unless its packet is already sealed into another document (atomic)."""
    if event.get("type") != "signing" or not event.get("signature_sha256") or not event.get("document_sha256"):
        raise EvidenceError("append_signing needs a signing event with signature_sha256 and document_sha256")
    for _ in range(20):
        try:
            # The lookup runs inside the log's write transaction and lock: a concurrent
            # sealing of the same packet waits, then sees this one.
            with log.transaction() as (session, append):
                check_not_sealed_elsewhere(log, event["signature_sha256"], event["document_sha256"], session)
                return append(event)
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
