"""Escrow encryption of biometric packets: only the escrow (notary) key holder can read them.

A container is a small JSON document::

    {"format": "inkwitness.escrow/1", "header": {...}, "key": ..., "nonce": ..., "ciphertext": ...}

The packet is encrypted with a fresh AES-256-GCM key. That key reaches the escrow holder
either through X25519 (ephemeral-static ECDH, HKDF-SHA256) or RSA-OAEP-SHA256. The whole
header -- escrow key id, SHA-256 of the document the signature is bound to, SHA-256 of the
signature packet, creation time -- is the AEAD associated data, so moving a container to
another document or editing its header makes decryption fail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import InkwitnessError

CONTAINER_FORMAT = "inkwitness.escrow/1"
ALG_X25519 = "X25519-HKDF-SHA256+A256GCM"
ALG_RSA = "RSA-OAEP-SHA256+A256GCM"
_HKDF_INFO = b"inkwitness escrow v1"
MAX_CONTAINER_BYTES = 64 * 1024 * 1024


class EvidenceError(InkwitnessError):
    """Evidence is malformed, does not verify, or a key does not fit."""


PublicKey = x25519.X25519PublicKey | rsa.RSAPublicKey
PrivateKey = x25519.X25519PrivateKey | rsa.RSAPrivateKey


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise EvidenceError(f"container field {what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise EvidenceError(f"container field {what} is not valid base64") from exc


def key_id(public_key: PublicKey) -> str:
    """SHA-256 of the key's SubjectPublicKeyInfo (DER), hex: names a key everywhere."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def generate_escrow_key(kind: str = "x25519") -> PrivateKey:
    """A new escrow private key: ``x25519`` (default) or ``rsa`` (3072 bits)."""
    if kind == "x25519":
        return x25519.X25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise EvidenceError(f"unknown escrow key type {kind!r} (x25519 or rsa)")


def private_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM of a private key, encrypted when a passphrase is given."""
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def public_pem(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> PrivateKey:
    """Read an escrow private key (PEM)."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), passphrase)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"{path} is not a usable private key: {exc}") from exc
    if not isinstance(key, (x25519.X25519PrivateKey, rsa.RSAPrivateKey)):
        raise EvidenceError(f"{path}: escrow keys must be X25519 or RSA")
    return key


def load_public_key(path: str | Path) -> PublicKey:
    """Read an escrow public key (PEM)."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except ValueError as exc:
        raise EvidenceError(f"{path} is not a public key: {exc}") from exc
    if not isinstance(key, (x25519.X25519PublicKey, rsa.RSAPublicKey)):
        raise EvidenceError(f"{path}: escrow keys must be X25519 or RSA")
    return key


@dataclass(frozen=True)
class Container:
    """A parsed escrow container (still encrypted)."""

    header: dict[str, Any]
    key: bytes
    nonce: bytes
    ciphertext: bytes

    @property
    def document_sha256(self) -> str:
        """The document the packet is bound to."""
        return str(self.header["document_sha256"])

    @property
    def signature_sha256(self) -> str:
        """The SHA-256 of the encrypted signature packet."""
        return str(self.header["signature_sha256"])

    @property
    def key_id(self) -> str:
        """Which escrow key can open it."""
        return str(self.header["key_id"])

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes of the container."""
        obj = {"format": CONTAINER_FORMAT, "header": self.header, "key": _b64(self.key),
               "nonce": _b64(self.nonce), "ciphertext": _b64(self.ciphertext)}
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @property
    def sha256(self) -> str:
        """SHA-256 of the container bytes (recorded in the log)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes) -> Container:
        """Parse container bytes; malformed input raises EvidenceError."""
        if len(data) > MAX_CONTAINER_BYTES:
            raise EvidenceError("escrow container is too large")
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EvidenceError(f"escrow container is not JSON: {exc}") from exc
        if not isinstance(obj, dict) or obj.get("format") != CONTAINER_FORMAT:
            raise EvidenceError(f"not an {CONTAINER_FORMAT} container")
        header = obj.get("header")
        required = {"alg", "key_id", "document_sha256", "signature_sha256", "created"}
        if not isinstance(header, dict) or not required <= set(header):
            raise EvidenceError(f"escrow container header must carry {', '.join(sorted(required))}")
        if header["alg"] not in (ALG_X25519, ALG_RSA):
            raise EvidenceError(f"unknown escrow algorithm {header['alg']!r}")
        return cls(header, _unb64(obj.get("key"), "key"), _unb64(obj.get("nonce"), "nonce"),
                   _unb64(obj.get("ciphertext"), "ciphertext"))


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    # Both public keys go into the KDF so that a key cannot be reused across recipients.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_HKDF_INFO).derive(shared)


def seal(packet: bytes, signature_sha256: str, document_sha256: str, escrow: PublicKey,
         created: str | None = None, extra: dict[str, Any] | None = None) -> Container:
    """Encrypt a signature packet to the escrow key, bound to a document hash."""
    if hashlib.sha256(packet).hexdigest() != signature_sha256:
        raise EvidenceError("signature_sha256 does not match the packet bytes")
    for name, value in (("signature_sha256", signature_sha256), ("document_sha256", document_sha256)):
        if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
            raise EvidenceError(f"{name} must be a lowercase hex SHA-256")
    header: dict[str, Any] = {
        "alg": ALG_X25519 if isinstance(escrow, x25519.X25519PublicKey) else ALG_RSA,
        "key_id": key_id(escrow),
        "document_sha256": document_sha256,
        "signature_sha256": signature_sha256,
        "created": created or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if extra:
        header["extra"] = extra
    nonce = os.urandom(12)
    if isinstance(escrow, x25519.X25519PublicKey):
        ephemeral = x25519.X25519PrivateKey.generate()
        eph_pub = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        rcp_pub = escrow.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        cek = _derive(ephemeral.exchange(escrow), eph_pub, rcp_pub)
        wrapped = eph_pub
    elif isinstance(escrow, rsa.RSAPublicKey):
        cek = AESGCM.generate_key(bit_length=256)
        wrapped = escrow.encrypt(cek, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                   label=None))
    else:
        raise EvidenceError("escrow key must be X25519 or RSA")
    ciphertext = AESGCM(cek).encrypt(nonce, packet, _aad(header))
    return Container(header, wrapped, nonce, ciphertext)


def open_container(container: Container, escrow: PrivateKey, document_sha256: str | None = None) -> bytes:
    """Decrypt with the escrow private key; checks the key, the binding and the packet hash."""
    if key_id(escrow.public_key()) != container.key_id:
        raise EvidenceError(f"this escrow key ({key_id(escrow.public_key())[:16]}...) is not the one the "
                            f"container was sealed to ({container.key_id[:16]}...)")
    if document_sha256 is not None and document_sha256 != container.document_sha256:
        raise EvidenceError(f"container is bound to document {container.document_sha256}, not {document_sha256}")
    try:
        if isinstance(escrow, x25519.X25519PrivateKey):
            if container.header["alg"] != ALG_X25519 or len(container.key) != 32:
                raise EvidenceError("container algorithm does not match an X25519 key")
            eph = x25519.X25519PublicKey.from_public_bytes(container.key)
            rcp_pub = escrow.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            cek = _derive(escrow.exchange(eph), container.key, rcp_pub)
        else:
            if container.header["alg"] != ALG_RSA:
                raise EvidenceError("container algorithm does not match an RSA key")
            cek = escrow.decrypt(container.key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                             algorithm=hashes.SHA256(), label=None))
        packet = AESGCM(cek).decrypt(container.nonce, container.ciphertext, _aad(container.header))
    except (InvalidTag, ValueError) as exc:
        raise EvidenceError("container does not decrypt: it was altered, or its header was changed") from exc
    if hashlib.sha256(packet).hexdigest() != container.signature_sha256:
        raise EvidenceError("decrypted packet does not match the signature hash in the header")
    return packet


def find_key(container: Container, keys: list[PrivateKey]) -> PrivateKey:
    """The key among ``keys`` that the container was sealed to (old keys stay usable after rotation)."""
    for key in keys:
        if key_id(key.public_key()) == container.key_id:
            return key
    raise EvidenceError(f"none of the given escrow keys opens this container (needs key {container.key_id[:16]}...)")


def seal_fingerprint(fingerprint: Any, document_sha256: str, escrow: PublicKey, template: bytes | None = None,
                     signature_sha256: str | None = None, created: str | None = None) -> Container:
    """Encrypt a finger-press (image and ISO/IEC 19794-2 template) to the escrow key, bound to the document.

    ``fingerprint`` is an :class:`inkwitness.fingerprint.Fingerprint`. The header's
    ``signature_sha256`` is the hash of the encrypted packet, as for signatures; ``extra``
    names the capture and, when given, the signature it was pressed beside.
    """
    from ..fingerprint.packet import fingerprint_packet

    packet = fingerprint_packet(fingerprint, template)
    extra: dict[str, Any] = {"kind": "fingerprint", "fingerprint_sha256": fingerprint.sha256}
    if signature_sha256 is not None:
        extra["beside_signature_sha256"] = signature_sha256
    return seal(packet, hashlib.sha256(packet).hexdigest(), document_sha256, escrow, created, extra)


def open_fingerprint(container: Container, escrow: PrivateKey, document_sha256: str | None = None
                     ) -> tuple[Any, bytes | None]:
    """Decrypt a finger-press container: the Fingerprint and its template bytes (None when not escrowed)."""
    from ..fingerprint.packet import parse_fingerprint_packet
    from ..fingerprint.sample import InvalidFingerprint

    extra = container.header.get("extra") or {}
    if extra.get("kind") != "fingerprint":
        raise EvidenceError("this escrow container does not hold a finger-press")
    packet = open_container(container, escrow, document_sha256)
    try:
        fp, template = parse_fingerprint_packet(packet)
    except InvalidFingerprint as exc:
        raise EvidenceError(f"finger-press packet is malformed: {exc}") from exc
    if fp.sha256 != extra.get("fingerprint_sha256"):
        raise EvidenceError("finger-press packet does not match the capture hash in the header")
    return fp, template
