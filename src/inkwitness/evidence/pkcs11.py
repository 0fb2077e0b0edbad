"""The organisation seal key in a hardware module, through PKCS#11 (pyHanko's ``pyhanko.sign.pkcs11``).

The key never leaves the module: pyHanko asks the module to sign each CMS signature. The
certificate the CA issued for that key is read from a file (``--cert``), so the module
needs to hold only the key. Needs ``python-pkcs11`` (the ``pyhanko[pkcs11]`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .envelope import EvidenceError


@dataclass(frozen=True)
class Pkcs11Key:
    """Where the sealing key is: the module (shared library), the token's label, the key's label, the PIN."""

    module: Path
    token: str
    key_label: str
    pin: str = field(repr=False)


def _library() -> Any:
    try:
        import pkcs11
    except ImportError as exc:
        raise EvidenceError("PKCS#11 signing needs python-pkcs11: install the pyhanko[pkcs11] extra") from exc
    return pkcs11


def _describe(exc: Exception) -> str:
    # python-pkcs11's exceptions often carry no message; their class name says what went wrong.
    return str(exc) or type(exc).__name__


@contextmanager
def open_session(key: Pkcs11Key) -> Iterator[Any]:
    """An authenticated session on the token; raises EvidenceError naming what is wrong (module, token, PIN, key)."""
    pkcs11 = _library()
    from pkcs11 import exceptions as p11e

    if not key.module.is_file():
        raise EvidenceError(f"PKCS#11 module {key.module} not found")
    try:
        lib = pkcs11.lib(str(key.module))
        token = lib.get_token(token_label=key.token)
    except p11e.NoSuchToken:
        raise EvidenceError(f"PKCS#11: no token labelled {key.token!r} in {key.module}") from None
    except (p11e.PKCS11Error, RuntimeError, OSError) as exc:
        raise EvidenceError(f"PKCS#11 module {key.module} cannot be used: {_describe(exc)}") from exc
    try:
        session = token.open(user_pin=key.pin)
    except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
        raise EvidenceError(f"PKCS#11: wrong PIN for token {key.token!r}") from None
    except p11e.PinLocked:
        raise EvidenceError(f"PKCS#11: the PIN of token {key.token!r} is locked") from None
    except p11e.PKCS11Error as exc:
        raise EvidenceError(f"PKCS#11: cannot log in to token {key.token!r}: {_describe(exc)}") from exc
    try:
        _require_key(session, key)
        yield session
    finally:
        session.close()


def _require_key(session: Any, key: Pkcs11Key) -> None:
    """Fail early, in one line, when the token holds no such signing key (pyHanko would fail mid-signing)."""
    from pkcs11 import ObjectClass
    from pkcs11 import exceptions as p11e

    try:
        session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key.key_label)
    except p11e.NoSuchKey:
        raise EvidenceError(f"PKCS#11: token {key.token!r} holds no private key labelled {key.key_label!r}") from None
    except p11e.MultipleObjectsReturned:
        raise EvidenceError(f"PKCS#11: token {key.token!r} holds several keys labelled {key.key_label!r}") from None


def signer_class(evidence_mixin: type) -> type:
    """pyHanko's PKCS#11 signer with the escrow container added as a signed attribute (``evidence_mixin``)."""
    _library()
    from pyhanko.sign.pkcs11 import PKCS11Signer

    return type("Pkcs11EvidenceSigner", (evidence_mixin, PKCS11Signer), {})
