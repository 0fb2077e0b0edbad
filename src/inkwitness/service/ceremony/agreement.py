"""What the signer agreed to, recorded in the transparency log beside the sealing.

The sealing's own log entry (operations.sign_document) names the document and the handwriting;
an agreement entry next to it (a ``capture`` event with ``purpose: agreement``, as the log
admits a fixed set of event types and capture events already carry a purpose) names what the signer was shown and accepted: the consent
text's version, language and hash, the typed name if the signer agreed by name, and when. The
log is append-only and never purged, so the agreement outlives the signing request's files.
"""

from __future__ import annotations

from typing import Any

from ...evidence.log import entry_time
from .consent import CONSENT_VERSION, consent_sha256, notice_sha256
from .store import SigningRequest, now


def consent_record(lang: str) -> dict[str, Any]:
    """The consent to recording handwriting, as accepted now in ``lang``."""
    return {"version": CONSENT_VERSION, "lang": lang, "text_sha256": consent_sha256(lang), "time": now()}


def notice_record(lang: str) -> dict[str, Any]:
    """The typed-name notice (less evidential weight), as accepted now in ``lang``."""
    return {"version": CONSENT_VERSION, "lang": lang, "text_sha256": notice_sha256(lang), "time": now()}


def log_agreement(log: Any, req: SigningRequest, kind: str, record: dict[str, Any], **links: Any) -> int:
    """Append the signer's agreement to the log; its index. ``kind``: handwritten or typed-name."""
    event = {"type": "capture", "purpose": "agreement", "time": entry_time(), "tenant": req.tenant_id, "subject": req.subject_id,
             "request": req.id, "document_sha256": req.document_sha256, "kind": kind, **record, **links}
    return log.append(event).index
