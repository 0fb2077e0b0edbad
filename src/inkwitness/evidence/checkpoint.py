"""Signed checkpoints in the C2SP tlog-checkpoint / signed-note format, with Ed25519.

A checkpoint body is ``<origin>\\n<tree size>\\n<base64 root hash>\\n``; the signed note
appends a blank line and one line per signature: ``\\u2014 <key name> <base64(key hash ||
signature)>``, where the key hash is the first 4 bytes of
SHA-256(key name || 0x0A || 0x01 || public key). Verifier keys are written
``<name>+<hex key hash>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ..secretfile import write_secret
from .envelope import EvidenceError

ED25519 = 0x01
EM_DASH = "\u2014"


def load_or_create_key(path: Path, error: type[EvidenceError] = EvidenceError) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 signing key from a PEM file, created (mode 0600) on first use; ``error`` names a wrong key."""
    if not path.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_secret(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()), exclusive=True)
            return key
        except FileExistsError:
            pass  # another process created it first: use theirs, as every process must sign with one key
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise error(f"{path} is not an Ed25519 key")
    return key


def _raw(public: ed25519.Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, public: ed25519.Ed25519PublicKey, algorithm: int = ED25519) -> bytes:
    """The 4-byte key hash that prefixes signatures by this key (C2SP signed-note key ID for ``algorithm``)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + _raw(public)).digest()[:4]


def verifier_key(name: str, public: ed25519.Ed25519PublicKey, algorithm: int = ED25519,
                 error: type[EvidenceError] = EvidenceError, what: str = "a note key name") -> str:
    """The verifier key string (``name+hash+key``) that relying parties pin."""
    if not name or any(c in name for c in " +\n"):
        raise error(f"{what} must be non-empty without spaces, '+' or newlines")
    return (f"{name}+{key_hash(name, public, algorithm).hex()}+"
            f"{base64.b64encode(bytes([algorithm]) + _raw(public)).decode()}")


def parse_verifier_key(text: str) -> tuple[str, ed25519.Ed25519PublicKey]:
    """Parse a verifier key string, checking its embedded key hash."""
    try:
        name, hash_hex, key_b64 = text.strip().split("+", 2)
        raw = base64.b64decode(key_b64, validate=True)
        if raw[0] != ED25519 or len(raw) != 33:
            raise ValueError("not an Ed25519 key")
        public = ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, IndexError) as exc:
        raise EvidenceError(f"malformed verifier key: {exc}") from exc
    if key_hash(name, public).hex() != hash_hex:
        raise EvidenceError("verifier key hash does not match its key")
    return name, public


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: origin, size and root hash."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """The checkpoint body that is signed."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def sign_checkpoint(cp: Checkpoint, name: str, private: ed25519.Ed25519PrivateKey) -> str:
    """The signed note of a checkpoint."""
    if "\n" in cp.origin or not cp.origin:
        raise EvidenceError("checkpoint origin must be one non-empty line")
    body = cp.body()
    sig = private.sign(body.encode())
    line = base64.b64encode(key_hash(name, private.public_key()) + sig).decode()
    return f"{body}\n{EM_DASH} {name} {line}\n"


def open_checkpoint(note: str, verifier: str) -> Checkpoint:
    """Verify a signed checkpoint note against a verifier key and parse it."""
    name, public = parse_verifier_key(verifier)
    if "\n\n" not in note:
        raise EvidenceError("checkpoint note has no signature block")
    body, sigs = note.split("\n\n", 1)
    body += "\n"
    expected = key_hash(name, public)
    verified = False
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if blob[:4] != expected:
            continue
        try:
            public.verify(blob[4:], body.encode())
            verified = True
        except _BadSignature:
            raise EvidenceError(f"checkpoint signature by {name} does not verify: the note was altered") from None
    if not verified:
        raise EvidenceError(f"checkpoint carries no signature by {name}")
    lines = body.split("\n")
    try:
        origin, size, root_b64 = lines[0], int(lines[1]), lines[2]
        root = base64.b64decode(root_b64, validate=True)
    except (IndexError, ValueError) as exc:
        raise EvidenceError(f"malformed checkpoint body: {exc}") from exc
    if len(root) != 32 or size < 0:
        raise EvidenceError("malformed checkpoint body")
    return Checkpoint(origin, size, root)
