"""What the signer agreed to, recorded in the transparency log beside the sealing.

The sealing's own log entry (operations.sign_document) names the document and the handwriting;
an agreement entry next to it (a ``capture`` event with ``purpose: agreement``, as the log
admits a fixed set of event types and capture events already carry a purpose) names what the signer was shown and accepted: the consent
text's version, language and hash, the typed name if the signer agreed by name, and when. The
log is append-only and never purged, so the agreement outlives the signing request's files.
"""

from __future__ import annotations

import datetime as dt
import re
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


#: Characters kept out of the PDF's /Reason: control characters garble signature panels.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Longest clerk-given text quoted in /Reason (the request's reason may be 500 characters).
REASON_QUOTE = 160


def _quote(text: str) -> str:
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= REASON_QUOTE else text[:REASON_QUOTE - 1] + "…"


def utc_label(iso: str) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM:SS UTC`` (the form of the seal's TSA label)."""
    return dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def seal_reason(accepted: dict[str, Any], req: SigningRequest) -> str:
    """The sealed PDF's /Reason: the consent accepted (version, language, time), the signer and the purpose.

    English only: the seal's visible label uses pyHanko's Latin font, and readers show
    /Reason in their signature panel as written; the clerk's own texts are quoted as given.
    """
    parts = ["Handwritten signature",
             f"consent {accepted['version']} ({accepted['lang']}) accepted {utc_label(accepted['time'])}"]
    if req.signer_name:
        parts.append(f"signer: {_quote(req.signer_name)}")
    if req.requester:
        parts.append(f"requested by: {_quote(req.requester)}")
    if req.reason:
        parts.append(f"purpose: {_quote(req.reason)}")
    return "; ".join(parts)


def log_agreement(log: Any, req: SigningRequest, kind: str, record: dict[str, Any], **links: Any) -> int:
    """Append the signer's agreement to the log; its index. ``kind``: handwritten or typed-name."""
    event = {"type": "capture", "purpose": "agreement", "time": entry_time(), "tenant": req.tenant_id, "subject": req.subject_id,
             "request": req.id, "document_sha256": req.document_sha256, "kind": kind, **record, **links}
    return log.append(event).index
