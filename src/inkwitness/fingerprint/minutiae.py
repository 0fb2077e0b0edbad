"""Minutiae templates: ISO/IEC 19794-2:2005 records (read and write) and ANSI INCITS 378-2004/-2007 (read).

Coordinates are pixels from the top-left corner, angles degrees counter-clockwise from
the x axis (the convention of both standards); resolution is pixels per centimetre as
the records store it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .sample import InvalidFingerprint

ISO_2005 = "iso19794-2:2005"
ANSI_2004 = "ansi378-2004"
ANSI_2007 = "ansi378-2007"
KINDS = {0: "other", 1: "ending", 2: "bifurcation"}
_KIND_CODES = {v: k for k, v in KINDS.items()}
ISO_ANGLE_UNIT = 360.0 / 256.0
ANSI_ANGLE_UNIT = 2.0


@dataclass(frozen=True)
class Minutia:
    """One ridge ending or bifurcation."""

    x: int
    y: int
    angle: float
    kind: str = "ending"
    quality: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.x < 1 << 14 and 0 <= self.y < 1 << 14):
            raise InvalidFingerprint(f"minutia at ({self.x}, {self.y}) is outside 0..16383")
        if self.kind not in _KIND_CODES:
            raise InvalidFingerprint(f"minutia kind must be one of {', '.join(_KIND_CODES)}")
        if not 0 <= self.quality <= 100:
            raise InvalidFingerprint(f"minutia quality must be 0..100, got {self.quality}")


@dataclass(frozen=True)
class FingerView:
    """The minutiae of one view of one finger."""

    minutiae: tuple[Minutia, ...]
    finger: int = 0
    view: int = 0
    impression: int = 0
    quality: int = 0


@dataclass(frozen=True)
class Template:
    """A finger minutiae record: image geometry plus one or more finger views."""

    width: int
    height: int
    views: tuple[FingerView, ...]
    x_res: int = 197
    y_res: int = 197
    source_format: str = ISO_2005
    equipment: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def minutiae(self) -> tuple[Minutia, ...]:
        """The first view's minutiae (the one compared)."""
        return self.views[0].minutiae if self.views else ()


def template_format(data: bytes) -> str:
    """Which minutiae record format ``data`` is in, from its header."""
    if len(data) < 8 or data[:4] != b"FMR\0":
        raise InvalidFingerprint("not a finger minutiae record (no 'FMR' header)")
    version = data[4:8]
    if version == b"030\0":
        return ANSI_2007
    if version != b" 20\0":
        raise InvalidFingerprint(f"unsupported minutiae record version {version!r}")
    # ISO 2005 has a 4-byte length that equals the size; ANSI 2004 a 2-byte one (or 0 then 4 bytes).
    if len(data) >= 12 and struct.unpack(">I", data[8:12])[0] == len(data):
        return ISO_2005
    return ANSI_2004


def read_template(data: bytes) -> Template:
    """Parse an ISO/IEC 19794-2:2005 or ANSI 378-2004/-2007 minutiae record."""
    fmt = template_format(data)
    try:
        if fmt == ISO_2005:
            return _read_iso2005(data)
        if fmt == ANSI_2004:
            return _read_ansi2004(data)
        return _read_ansi2007(data)
    except (struct.error, IndexError) as exc:
        raise InvalidFingerprint(f"{fmt} record is truncated: {exc}") from exc


def write_iso2005(template: Template) -> bytes:
    """ISO/IEC 19794-2:2005 record bytes (no extended data)."""
    body = bytearray()
    for view in template.views:
        if len(view.minutiae) > 255:
            raise InvalidFingerprint(f"a view holds {len(view.minutiae)} minutiae; the format allows 255")
        body += struct.pack(">BBBB", view.finger, (view.view & 0x0F) << 4 | (view.impression & 0x0F),
                            view.quality, len(view.minutiae))
        for m in view.minutiae:
            angle = int(round(m.angle / ISO_ANGLE_UNIT)) % 256
            body += struct.pack(">HHBB", _KIND_CODES[m.kind] << 14 | m.x, m.y, angle, m.quality)
        body += struct.pack(">H", 0)  # no extended data
    length = 24 + len(body)
    header = b"FMR\0" + b" 20\0" + struct.pack(">IHHHHHBB", length, template.equipment & 0x0FFF, template.width,
                                                   template.height, template.x_res, template.y_res,
                                                   len(template.views), 0)
    return header + bytes(body)


def _minutiae(data: bytes, pos: int, count: int, unit: float) -> tuple[tuple[Minutia, ...], int]:
    out = []
    for _ in range(count):
        tx, y, angle, quality = struct.unpack(">HHBB", data[pos:pos + 6])
        out.append(Minutia(x=tx & 0x3FFF, y=y & 0x3FFF, angle=(angle * unit) % 360.0, kind=KINDS.get(tx >> 14, "other"),
                           quality=min(quality, 100)))
        pos += 6
    ext = struct.unpack(">H", data[pos:pos + 2])[0]
    return tuple(out), pos + 2 + ext


def _read_iso2005(data: bytes) -> Template:
    length, equip, w, h, xr, yr, n_views, _ = struct.unpack(">IHHHHHBB", data[8:24])
    pos, views = 24, []
    for _ in range(n_views):
        finger, vi, quality, count = struct.unpack(">BBBB", data[pos:pos + 4])
        minutiae, pos = _minutiae(data, pos + 4, count, ISO_ANGLE_UNIT)
        views.append(FingerView(minutiae, finger, vi >> 4, vi & 0x0F, quality))
    return Template(w, h, tuple(views), xr, yr, ISO_2005, equip & 0x0FFF)


def _read_ansi2004(data: bytes) -> Template:
    length = struct.unpack(">H", data[8:10])[0]
    pos = 10
    if length == 0:
        pos = 14
    pos += 4  # CBEFF product identifier
    equip, w, h, xr, yr, n_views, _ = struct.unpack(">HHHHHBB", data[pos:pos + 12])
    pos += 12
    views = []
    for _ in range(n_views):
        finger, vi, quality, count = struct.unpack(">BBBB", data[pos:pos + 4])
        minutiae, pos = _minutiae(data, pos + 4, count, ANSI_ANGLE_UNIT)
        views.append(FingerView(minutiae, finger, vi >> 4, vi & 0x0F, quality))
    return Template(w, h, tuple(views), xr, yr, ANSI_2004, equip & 0x0FFF)


def _read_ansi2007(data: bytes) -> Template:
    pos = 12 + 4  # length, CBEFF product identifier
    equip, n_views, _ = struct.unpack(">HBB", data[pos:pos + 4])
    pos += 4
    views, geometry = [], (0, 0, 197, 197)
    for _ in range(n_views):
        finger, view, impression, quality = struct.unpack(">BBBB", data[pos:pos + 4])
        pos += 8  # quality algorithm owner and identifier
        w, h, xr, yr, count = struct.unpack(">HHHHB", data[pos:pos + 9])
        geometry = geometry if views else (w, h, xr, yr)
        minutiae, pos = _minutiae(data, pos + 9, count, ANSI_ANGLE_UNIT)
        views.append(FingerView(minutiae, finger, view, impression, quality))
    w, h, xr, yr = geometry
    return Template(w, h, tuple(views), xr, yr, ANSI_2007, equip & 0x0FFF)
