"""What the signer agreed to, recorded in the transparency log beside the sealing.

The sealing's own log entry (operations.sign_document) names the document and the handwriting;
an ``agreement`` entry next to it names what the signer was shown and accepted: the consent
text's version, language and hash, when, and (keyed hashes of) the typed name and the signer's
name. The log is append-only and never purged, so the agreement outlives the signing request's
files; names go into it only as HMAC-SHA256 under a random salt kept in the request's folder, so
once the request is purged they can no longer be tied to a person (see docs/ceremony.md).

Entries written before the log had the ``agreement`` type are ``capture`` events with
``purpose: agreement``; :func:`is_agreement` and :func:`agreements_of` read both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING, Any

from ...evidence.log import entry_time
from ..storage import NotFound
from ..validation import strip_format_characters
from .consent import CONSENT_VERSION, consent_sha256, notice_sha256
from .store import SigningRequest, now

if TYPE_CHECKING:
    from ...evidence.log import TransparencyLog
    from .store import RequestStore

#: The log event type of an agreement (older entries: ``capture`` with ``purpose: agreement``).
AGREEMENT_TYPE = "agreement"
#: Name of the request's salt blob (32 random bytes, encrypted beside the document; purged with it).
SALT_BLOB = "salt"


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
    # Bidi controls and zero-width characters are refused on input; any stored before go here too,
    # as they would reorder or hide what the signature panel shows.
    text = " ".join(_CONTROL.sub(" ", strip_format_characters(text)).split())
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


def request_salt(store: RequestStore, req: SigningRequest) -> bytes:
    """The request's salt for names in the log (made on first use; deleted when the request is purged)."""
    try:
        return store.blob(req, SALT_BLOB)
    except NotFound:
        salt = secrets.token_bytes(32)
        store.put_blob(req, SALT_BLOB, salt)
        return salt


def name_hmac(salt: bytes, name: str) -> str:
    """HMAC-SHA256 (hex) of a name under the request's salt: checkable while the salt exists, then unlinkable."""
    return hmac.new(salt, name.strip().encode("utf-8"), hashlib.sha256).hexdigest()


def is_agreement(event: dict[str, Any]) -> bool:
    """Whether a log event is an agreement (the ``agreement`` type, or an older ``capture`` one)."""
    return event.get("type") == AGREEMENT_TYPE or (event.get("type") == "capture"
                                                  and event.get("purpose") == "agreement")


def agreements_of(log: TransparencyLog, request_id: str) -> list[tuple[int, dict[str, Any]]]:
    """The agreement entries of a signing request, old and new form, in log order."""
    return [(i, e) for i, e in log.find(request=request_id) if is_agreement(e)]


def log_agreement(log: TransparencyLog, req: SigningRequest, kind: str, record: dict[str, Any],
                  salt: bytes | None = None, **links: Any) -> int:
    """Append the signer's agreement to the log; its index. ``kind``: handwritten or typed-name.

    With ``salt``, the signer's name (when the request names one) is logged as ``signer_name_hmac``.
    """
    event = {"type": AGREEMENT_TYPE, "time": entry_time(), "tenant": req.tenant_id, "subject": req.subject_id,
             "request": req.id, "document_sha256": req.document_sha256, "kind": kind, **record, **links}
    if salt is not None and req.signer_name:
        event["signer_name_hmac"] = name_hmac(salt, req.signer_name)
    return log.append(event).index
