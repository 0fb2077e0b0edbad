"""The escrow packet of a finger-press: the capture and its ISO/IEC 19794-2:2005 template, as canonical JSON."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from .minutiae import read_template
from .sample import Fingerprint, InvalidFingerprint

PACKET_FORMAT = "inkwitness.fingerprint-packet/1"


def fingerprint_packet(fp: Fingerprint, template: bytes | None = None) -> bytes:
    """Canonical bytes holding the capture and (optionally) its template, each with its SHA-256."""
    obj: dict[str, Any] = {"format": PACKET_FORMAT, "fingerprint": fp.to_dict(), "fingerprint_sha256": fp.sha256}
    if template is not None:
        read_template(template)  # refuse anything that is not a minutiae record
        obj["template_iso19794_2"] = base64.b64encode(template).decode("ascii")
        obj["template_sha256"] = hashlib.sha256(template).hexdigest()
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_fingerprint_packet(data: bytes) -> tuple[Fingerprint, bytes | None]:
    """The capture and template bytes of a packet; every hash inside is checked."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidFingerprint(f"fingerprint packet is not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("format") != PACKET_FORMAT:
        raise InvalidFingerprint(f"not an {PACKET_FORMAT} packet")
    fp = Fingerprint.from_dict(obj.get("fingerprint"))
    if fp.sha256 != obj.get("fingerprint_sha256"):
        raise InvalidFingerprint("fingerprint packet: the capture does not match its SHA-256")
    template = None
    if "template_iso19794_2" in obj:
        template = base64.b64decode(obj["template_iso19794_2"], validate=True)
        if hashlib.sha256(template).hexdigest() != obj.get("template_sha256"):
            raise InvalidFingerprint("fingerprint packet: the template does not match its SHA-256")
    return fp, template
