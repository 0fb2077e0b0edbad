"""ISO/IEC 19794-7:2007 signature/sign time-series data, full format (= GB/T 26237.7-2013).

Layout (all integers big-endian)::

    "SDI\\0" " 10\\0"                      magic and version
    uint16 channel inclusion, MSB first: X Y Z VX VY AX AY T DT F S TX TY AZ EL R
    per included channel: uint8 attributes (0x80 scaling, 0x40 min, 0x20 max, 0x10 mean,
        0x08 std-dev, 0x04 constant, 0x02 linear component removed), then 2 bytes for each
        of scaling/min/max/mean/std-dev/constant that is present
    uint8 optionality (0x80: extended data follows the samples), uint24 sample count
    samples: channels in inclusion order, uint16 each (signed channels stored +32768),
        S as uint8; a channel described as constant is not repeated per sample
    [uint16 length + extended data]

Scaling is E (5 bits) and F (11 bits): value = (1 + F/2048) * 2^(E-16), in units per
physical unit (mm for X/Y, s for T/DT, degrees for angles). We write time as DT. We write pressure (F) as
the fraction of the device's full scale, since no consumer device reports newtons.
Our extended data is a small JSON object that restores what ISO has no field for:
the device and capture context, the coordinate origin, and stroke starts.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from ..errors import InvalidSignature, UnsupportedFormat
from ..signature import CaptureContext, Device, Signature, make_signature
from ._text import Source, read_bytes

MAGIC = b"SDI\x00"
VERSION = b" 10\x00"
CHANNELS: tuple[str, ...] = ("X", "Y", "Z", "VX", "VY", "AX", "AY", "T", "DT", "F", "S", "TX", "TY", "AZ", "EL", "R")
SIGNED = frozenset({"X", "Y", "Z", "VX", "VY", "AX", "AY", "TX", "TY"})
ATTR_SCALING, ATTR_MIN, ATTR_MAX, ATTR_MEAN, ATTR_STD, ATTR_CONSTANT, ATTR_LINEAR = 0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02
OPT_EXTENDED = 0x80
MAX_SAMPLES = (1 << 24) - 1
# Positions are kept to 1/100 mm when the device does not say its resolution.
NOMINAL_UNITS_PER_MM = 100.0
_OPTIONAL_TO_ISO = {"tilt_x": "TX", "tilt_y": "TY", "azimuth": "AZ", "altitude": "EL", "twist": "R"}


def encode_scaling(value: float) -> int:
    """Encode a positive scaling value as the 16-bit E/F field (rounded down to representable)."""
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"scaling must be positive and finite, got {value}")
    exponent = math.floor(math.log2(value))
    e = exponent + 16
    if e < 0:
        return 0
    if e > 31:
        return 0xFFFF
    f = math.floor((value / 2.0 ** exponent - 1.0) * 2048)
    code = (e << 11) | min(max(f, 0), 2047)
    # log2 can round up just below a power of two; step back to stay at or below value.
    while code > 0 and decode_scaling(code) > value:
        code -= 1
    return code


def decode_scaling(code: int) -> float:
    """Decode the 16-bit E/F scaling field."""
    e, f = code >> 11, code & 0x7FF
    return (1 + f / 2048) * 2.0 ** (e - 16)


def looks_iso(data: bytes) -> bool:
    """Whether the bytes start like an ISO/IEC 19794-7 record."""
    return data[:4] == MAGIC


def _scaling_for(values: np.ndarray, signed: bool) -> int:
    limit = 32767.0 if signed else 65535.0
    peak = float(np.abs(values).max()) if values.size else 0.0
    target = limit / peak if peak > 0 else 1.0
    code = encode_scaling(min(target, decode_scaling(0xFFFF)))
    # Rounding down the mantissa keeps peak * scaling within the integer range.
    while code > 0 and peak * decode_scaling(code) > limit:
        code -= 1
    return code


def dumps(sig: Signature) -> bytes:
    """Serialise a Signature as an ISO/IEC 19794-7 full-format record."""
    if len(sig) > MAX_SAMPLES:
        raise UnsupportedFormat(f"ISO 19794-7 holds at most {MAX_SAMPLES} samples")
    upm = sig.device.units_per_mm or NOMINAL_UNITS_PER_MM
    x0, y0 = float(sig.x.min()), float(sig.y.min())
    physical: dict[str, np.ndarray] = {
        "X": (sig.x - x0) / upm,
        "Y": (sig.y - y0) / upm,
    }
    if sig.pressure is not None:
        physical["F"] = sig.pressure
    physical["S"] = sig.pen_down.astype(np.float64)
    for name, iso in _OPTIONAL_TO_ISO.items():
        if name in sig.channels:
            values = sig.channels[name]
            physical[iso] = np.mod(values, 360.0) if iso in ("AZ", "R") else values
    if "EL" in physical and physical["EL"].min() < 0:
        raise UnsupportedFormat("altitude below 0 degrees cannot be written to ISO 19794-7")
    # Time goes in DT, not T: a 16-bit T spans a long signature only at ~1 ms steps, while
    # inter-sample steps fit finely. DT is the difference of the quantised cumulative
    # times, so rounding errors do not accumulate along the signature.
    dt_code = _scaling_for(np.diff(sig.t, prepend=0.0) / 1000.0, False)
    ticks = np.rint(sig.t / 1000.0 * decode_scaling(dt_code))
    dt_ticks = np.diff(ticks, prepend=0.0)
    if dt_ticks.max() > 65535:
        raise UnsupportedFormat("a time step is too long for the ISO 19794-7 DT channel")
    physical["DT"] = dt_ticks / decode_scaling(dt_code)
    included = [c for c in CHANNELS if c in physical]
    inclusion = sum(1 << (15 - CHANNELS.index(c)) for c in included)
    header = bytearray(MAGIC + VERSION + struct.pack(">H", inclusion))
    columns: list[np.ndarray] = []
    dtypes: list[str] = []
    for name in included:
        values = physical[name]
        if name == "S":
            header.append(0)
            columns.append(values.astype(np.uint8))
            dtypes.append("u1")
            continue
        signed = name in SIGNED
        code = dt_code if name == "DT" else _scaling_for(values, signed)
        header.append(ATTR_SCALING)
        header += struct.pack(">H", code)
        ints = np.rint(values * decode_scaling(code)).astype(np.int64)
        if signed:
            ints += 32768
        columns.append(np.clip(ints, 0, 65535).astype(np.uint16))
        dtypes.append(">u2")
    record = np.zeros(len(sig), dtype=[(f"c{i}", d) for i, d in enumerate(dtypes)])
    for i, col in enumerate(columns):
        record[f"c{i}"] = col
    stroke_starts = [s.start for s in sig.strokes[1:]]
    extended = {
        "inkwitness": 1,
        "origin": [x0, y0],
        "units_per_mm": upm,
        "timing": sig.timing,
        "stroke_starts": stroke_starts,
        "device": sig.device.to_dict(),
        "capture": sig.capture.to_dict(),
        "repairs": list(sig.repairs),
    }
    ext = json.dumps(extended, sort_keys=True, separators=(",", ":")).encode("utf-8")
    if len(ext) > 0xFFFF:
        raise UnsupportedFormat("signature metadata is too large for ISO 19794-7 extended data")
    body = bytes([OPT_EXTENDED]) + len(sig).to_bytes(3, "big") + record.tobytes()
    return bytes(header) + body + struct.pack(">H", len(ext)) + ext


def loads(data: bytes) -> Signature:
    """Parse an ISO/IEC 19794-7 full-format record; malformed input raises InvalidSignature."""
    try:
        return _loads(data)
    except (struct.error, IndexError, ValueError, TypeError, KeyError) as exc:
        raise InvalidSignature(f"malformed ISO 19794-7 record: {exc}") from exc


def _take(data: bytes, pos: int, n: int, what: str) -> tuple[bytes, int]:
    if pos + n > len(data):
        raise InvalidSignature(f"ISO 19794-7 record is truncated in the {what}")
    return data[pos:pos + n], pos + n


def _loads(data: bytes) -> Signature:
    if data[:4] != MAGIC:
        raise UnsupportedFormat("not an ISO 19794-7 record (no 'SDI' magic)")
    version, pos = _take(data, 4, 4, "header")
    if version != VERSION:
        raise InvalidSignature(f"unsupported ISO 19794-7 version {version!r}")
    raw, pos = _take(data, pos, 2, "channel inclusion field")
    inclusion = struct.unpack(">H", raw)[0]
    included = [c for i, c in enumerate(CHANNELS) if inclusion & (1 << (15 - i))]
    if "X" not in included or "Y" not in included:
        raise InvalidSignature("ISO 19794-7 record lacks the mandatory X and Y channels")
    scaling: dict[str, float] = {}
    constant: dict[str, int] = {}
    for name in included:
        attr_raw, pos = _take(data, pos, 1, f"{name} channel description")
        attr = attr_raw[0]
        if attr & 0x01:
            raise InvalidSignature(f"{name} channel description uses a reserved attribute bit")
        for flag in (ATTR_SCALING, ATTR_MIN, ATTR_MAX, ATTR_MEAN, ATTR_STD, ATTR_CONSTANT):
            if attr & flag:
                raw, pos = _take(data, pos, 2, f"{name} channel description")
                value = struct.unpack(">H", raw)[0]
                if flag == ATTR_SCALING:
                    scaling[name] = decode_scaling(value)
                elif flag == ATTR_CONSTANT:
                    constant[name] = value
    raw, pos = _take(data, pos, 4, "body header")
    optionality = raw[0]
    n = int.from_bytes(raw[1:4], "big")
    sampled = [c for c in included if c not in constant]
    dtypes = [("u1" if c == "S" else ">u2") for c in sampled]
    width = sum(1 if d == "u1" else 2 for d in dtypes)
    raw, pos = _take(data, pos, n * width, "samples")
    record = np.frombuffer(raw, dtype=[(f"c{i}", d) for i, d in enumerate(dtypes)], count=n)
    extended: dict[str, Any] = {}
    if optionality & OPT_EXTENDED:
        raw, pos = _take(data, pos, 2, "extended data length")
        ext_raw, pos = _take(data, pos, struct.unpack(">H", raw)[0], "extended data")
        extended = _our_extended(ext_raw)
    if pos != len(data):
        raise InvalidSignature(f"ISO 19794-7 record has {len(data) - pos} unexpected trailing bytes")

    def physical(name: str) -> np.ndarray | None:
        if name in constant:
            ints = np.full(n, constant[name], dtype=np.float64)
        elif name in sampled:
            ints = record[f"c{sampled.index(name)}"].astype(np.float64)
        else:
            return None
        if name == "S":
            return ints
        if name in SIGNED:
            ints = ints - 32768
        return ints / scaling.get(name, 1.0)

    device = Device.from_dict(extended.get("device", {}))
    upm = float(extended.get("units_per_mm") or device.units_per_mm or NOMINAL_UNITS_PER_MM)
    if not (upm > 0 and math.isfinite(upm)):
        raise InvalidSignature("extended data has an invalid units_per_mm")
    if device.units_per_mm is None and not extended:
        device = Device(kind=device.kind, units_per_mm=upm)
    x0, y0 = (float(v) for v in extended.get("origin", (0.0, 0.0)))
    x = physical("X") * upm + x0
    y = physical("Y") * upm + y0
    repairs: list[str] = []
    t = physical("T")
    if t is not None:
        t = t * 1000.0
    else:
        dt = physical("DT")
        if dt is not None:
            t = np.cumsum(dt) * 1000.0
    pressure = physical("F")
    if pressure is not None and pressure.size and pressure.max() > 1.0:
        pressure = pressure / pressure.max()
        repairs.append("ISO F channel was not a fraction of full scale; rescaled to 0..1 by its maximum")
    switch = physical("S")
    pen_down = switch > 0 if switch is not None else None
    channels = {}
    for name, iso in _OPTIONAL_TO_ISO.items():
        values = physical(iso)
        if values is not None:
            channels[name] = values
    starts = np.zeros(n, dtype=bool)
    for i in extended.get("stroke_starts", []):
        if not isinstance(i, int) or not 0 < i < n:
            raise InvalidSignature("extended data has an invalid stroke start")
        starts[i] = True
    repairs = list(extended.get("repairs", [])) + repairs
    return make_signature(x=x, y=y, t=t, pressure=pressure, pen_down=pen_down, stroke_start=starts,
                          channels=channels, device=device,
                          capture=CaptureContext.from_dict(extended.get("capture", {})),
                          repairs=tuple(str(r) for r in repairs), timing=extended.get("timing"))


def _our_extended(raw: bytes) -> dict[str, Any]:
    # Other writers put vendor data here; only our own JSON object is interpreted.
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(obj, dict) or obj.get("inkwitness") != 1:
        return {}
    return obj


def read(source: Source) -> Signature:
    """Read an ISO/IEC 19794-7 file."""
    data, _ = read_bytes(source)
    return loads(data)


def write(sig: Signature, path: Any) -> None:
    """Write an ISO/IEC 19794-7 file."""
    with open(path, "wb") as fh:
        fh.write(dumps(sig))
