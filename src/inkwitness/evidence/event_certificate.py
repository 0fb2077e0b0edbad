"""Event certificates: a short-lived certificate for one signer and one document, per signing act.

The "event certificate" pattern of Chinese e-signature platforms: for each signing act the
CA issues a certificate with a fresh key pair to the signer (CN = display name,
serialNumber = a pseudonymous subject id, OU = ``event certificate``), valid for an hour
by default, with the SHA-256 of the document the signer was shown bound into it. The key
signs that one act and is then discarded; only the certificate is kept (in the PKI
folder's ``events/``, so that the OCSP responder can vouch for it and it can be revoked).

The document hash is carried in a non-critical extension under a private OID of the UUID
arc 2.25 (ITU-T X.667, no registration needed)::

    EventDocumentHash ::= SEQUENCE {
        hashAlgorithm  AlgorithmIdentifier,   -- id-sha256
        hashValue      OCTET STRING }         -- SHA-256 of the document before this signing
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .envelope import EvidenceError
from .pki import PkiPaths, issue_leaf, load_ca

#: The extension that binds a document's SHA-256 into an event certificate.
EVENT_DOCUMENT_HASH_OID = "2.25.153151838477344658238385754077002318784"
#: Default validity of an event certificate: long enough to sign, short enough not to matter after.
DEFAULT_VALIDITY = dt.timedelta(hours=1)
EVENT_UNIT = "event certificate"


class _DocumentHash(core.Sequence):
    _fields = [("hash_algorithm", algos.DigestAlgorithm), ("hash_value", core.OctetString)]


@dataclass(frozen=True)
class EventCertificate:
    """A freshly issued event certificate and its one-use private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey


def _hash_extension(document_sha256: str) -> x509.UnrecognizedExtension:
    value = _DocumentHash({"hash_algorithm": {"algorithm": "sha256"},
                           "hash_value": bytes.fromhex(document_sha256)})
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(EVENT_DOCUMENT_HASH_OID), value.dump())


def _subject(paths: PkiPaths, signer_name: str, subject_id: str) -> x509.Name:
    ca, _ = load_ca(paths)
    org = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, signer_name),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, subject_id),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, EVENT_UNIT),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(org))])


def issue_event_certificate(paths: PkiPaths, signer_name: str, document_sha256: str,
                            subject_id: str | None = None,
                            validity: dt.timedelta = DEFAULT_VALIDITY) -> EventCertificate:
    """Issue a short-lived certificate for one signing act by ``signer_name`` on the document ``document_sha256``.

    Without ``subject_id`` a random pseudonym stands in the subject's serialNumber.
    """
    if not signer_name.strip() or len(signer_name) > 64:
        raise EvidenceError("an event certificate needs the signer's display name (1 to 64 characters)")
    if len(document_sha256) != 64 or any(c not in "0123456789abcdef" for c in document_sha256):
        raise EvidenceError("an event certificate binds a SHA-256 in hex (64 lowercase hex digits)")
    if not dt.timedelta(minutes=1) <= validity <= dt.timedelta(days=1):
        raise EvidenceError("an event certificate lives between 1 minute and 1 day")
    pseudonym = subject_id or f"anon-{secrets.token_hex(8)}"
    if len(pseudonym) > 64:
        raise EvidenceError("the subject id of an event certificate is at most 64 characters")
    # Backdated a little, as the other certificates are, for clocks slightly behind.
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    # RSA 2048 rather than the CA's 3072: the key signs once, within the hour, and is
    # discarded; the signature's strength over time rests on the time-stamps and the seal.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = issue_leaf(paths, _subject(paths, signer_name.strip(), pseudonym), key.public_key(), start,
                      start + dt.timedelta(minutes=5) + validity, extra=[_hash_extension(document_sha256)])
    # Kept so that the OCSP responder vouches for it and it can be revoked; the key is not.
    paths.events.mkdir(exist_ok=True)
    (paths.events / f"{cert.serial_number:x}.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return EventCertificate(cert, key)


def bound_document_hash(cert: Any) -> str | None:
    """The document SHA-256 (hex) an event certificate (asn1crypto) is bound to; None for other certificates."""
    for ext in cert["tbs_certificate"]["extensions"] or []:
        if ext["extn_id"].dotted != EVENT_DOCUMENT_HASH_OID:
            continue
        try:
            parsed = _DocumentHash.load(bytes(ext["extn_value"].contents))
            if parsed["hash_algorithm"]["algorithm"].native != "sha256":
                raise ValueError("not SHA-256")
            return bytes(parsed["hash_value"].native).hex()
        except (ValueError, TypeError, KeyError) as exc:
            raise EvidenceError(f"the event certificate's document hash extension is damaged: {exc}") from exc
    return None


def subject_id_of(cert: Any) -> str | None:
    """The (pseudonymous) subject id in a certificate's subject serialNumber, if any."""
    return cert.subject.native.get("serial_number")
