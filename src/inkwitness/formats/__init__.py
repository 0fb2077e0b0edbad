"""File formats: one module per format, and detection so callers need not say which.

Every reader returns a validated :class:`~inkwitness.signature.Signature`; every failure
is an :class:`~inkwitness.errors.InvalidSignature` or :class:`~inkwitness.errors.UnsupportedFormat`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UnsupportedFormat
from ..signature import Signature
from . import hwr, iso19794_7, mcyt_fpg, native, scut, susig, svc2004, trj
from ._text import Source, decode_text, read_bytes

#: Formats inkwitness can write.
WRITERS: dict[str, Callable[[Signature], bytes]] = {
    "native": native.dumps,
    "iso19794-7": iso19794_7.dumps,
}

#: Formats inkwitness can read, by name.
READABLE = ("native", "iso19794-7", "svc2004", "susig", "sigcomp2011", "sigcomp2009", "mcyt-fpg", "scut-mmsig",
            "sigwicomp-trj")


def detect_format(data: bytes, name: str = "") -> str:
    """Name the format of the given bytes (the file name only breaks ties)."""
    if native.looks_native(data):
        return "native"
    if iso19794_7.looks_iso(data):
        return "iso19794-7"
    if mcyt_fpg.looks_fpg(data):
        return "mcyt-fpg"
    text = decode_text(data, name or "input")
    if susig.looks_susig(text):
        return "susig"
    if trj.looks_trj(text):
        return "sigwicomp-trj"
    if hwr.looks_sigcomp2009(text):
        return "sigcomp2009"
    if svc2004.looks_svc2004(text):
        return "svc2004"
    if name.lower().endswith(".hwr") and hwr.looks_sigcomp2011(text):
        return "sigcomp2011"
    first = text.splitlines()[0].split() if text.strip() else []
    if len(first) in (2, 3, 4):
        return "scut-mmsig"
    raise UnsupportedFormat(f"cannot tell the format of {name or 'the input'}")


def read_signature(source: Source, format: str | None = None) -> Signature:
    """Read a signature from a path or bytes, detecting the format unless one is named."""
    data, name = read_bytes(source)
    fmt = format or detect_format(data, name)
    path = None if isinstance(source, (bytes, bytearray)) else Path(source)
    if fmt == "native":
        return native.loads(data)
    if fmt == "iso19794-7":
        return iso19794_7.loads(data)
    if fmt == "mcyt-fpg":
        return mcyt_fpg.loads(data, name)
    text = decode_text(data, name)
    if fmt == "susig":
        return susig.parse(text, name, susig.device_for_path(path) if path else None)
    if fmt == "sigwicomp-trj":
        return trj.parse(text, name)
    if fmt in ("sigcomp2009", "sigcomp2011"):
        return hwr.parse(text, name)
    if fmt == "svc2004":
        return svc2004.parse(text, name)
    if fmt == "scut-mmsig":
        return scut.parse(text, name, scut.device_for_path(path) if path else None)
    raise UnsupportedFormat(f"unknown format {fmt!r}; readable: {', '.join(READABLE)}")


def signature_bytes(sig: Signature, format: str) -> bytes:
    """Serialise a signature in a writable format."""
    try:
        writer = WRITERS[format]
    except KeyError:
        raise UnsupportedFormat(f"cannot write {format!r}; writable: {', '.join(WRITERS)}") from None
    return writer(sig)


def write_signature(sig: Signature, path: str | Path, format: str) -> None:
    """Write a signature to a file in a writable format."""
    Path(path).write_bytes(signature_bytes(sig, format))


__all__ = ["READABLE", "WRITERS", "detect_format", "read_signature", "signature_bytes", "write_signature"]
