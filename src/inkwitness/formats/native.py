"""The native packet: versioned JSON (``inkwitness.signature/1``) and its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InvalidSignature, UnsupportedFormat
from ..signature import DEVICE_KINDS, OPTIONAL_CHANNELS, PACKET_FORMAT, Signature
from ._text import Source, read_bytes

SCHEMA_ID = "https://inkwitness.org/schema/signature-1.json"
# Deeply nested JSON is never a signature; refuse it before the parser recurses.
_MAX_NESTING = 32


def looks_native(data: bytes) -> bool:
    """Whether the bytes are (probably) a native packet."""
    head = data[:4096].lstrip()
    return head.startswith(b"{") and PACKET_FORMAT.encode() in data[:1 << 20]


def loads(data: bytes | str) -> Signature:
    """Parse and validate a native packet."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    depth = max_depth = 0
    for ch in raw[:1 << 20]:
        if ch in (0x7B, 0x5B):
            depth += 1
            max_depth = max(max_depth, depth)
            if max_depth > _MAX_NESTING:
                raise InvalidSignature("packet JSON is nested too deeply")
        elif ch in (0x7D, 0x5D):
            depth -= 1
    try:
        obj = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidSignature(f"packet is not valid JSON: {exc}") from exc
    return Signature.from_dict(obj)


def read(source: Source) -> Signature:
    """Read a native packet file."""
    data, name = read_bytes(source)
    if not looks_native(data):
        raise UnsupportedFormat(f"{name} is not an {PACKET_FORMAT} packet")
    return loads(data)


def dumps(sig: Signature) -> bytes:
    """The canonical bytes of the packet (what its SHA-256 is taken over)."""
    return sig.canonical_bytes()


def write(sig: Signature, path: str | Path) -> None:
    """Write the canonical packet to a file."""
    Path(path).write_bytes(dumps(sig))


def _refuse_constant(name: str) -> Any:
    raise InvalidSignature(f"packet contains {name}; only finite numbers are allowed")


def json_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of the native packet."""
    numbers = {"type": "array", "items": {"type": "number"}, "minItems": 1}
    channel_props: dict[str, Any] = {
        "t": {**numbers, "description": "ms from the first sample of the signature"},
        "x": {**numbers, "description": "device units, growing rightwards"},
        "y": {**numbers, "description": "device units, growing downwards"},
        "pressure": {**numbers, "items": {"type": "number", "minimum": 0, "maximum": 1},
                     "description": "normalised 0..1; raw = pressure * (device.pressure_levels - 1)"},
    }
    for name in OPTIONAL_CHANNELS:
        channel_props[name] = {**numbers, "items": {"type": "number", "minimum": -360, "maximum": 360},
                               "description": "degrees"}
    positive = {"type": "number", "exclusiveMinimum": 0}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "inkwitness signature packet, version 1",
        "description": "One signing act. Canonical bytes: this object serialised with sorted keys, "
                       "no whitespace, integral numbers as integers and other numbers in shortest "
                       "round-trip form; SHA-256 over them is the signature's identity.",
        "type": "object",
        "required": ["format", "strokes"],
        "additionalProperties": False,
        "properties": {
            "format": {"const": PACKET_FORMAT},
            "timing": {"enum": ["measured", "nominal"],
                       "description": "nominal: t was derived from the declared sampling rate"},
            "repairs": {"type": "array", "items": {"type": "string"},
                        "description": "what validation repaired (e.g. repeated timestamps)"},
            "device": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "kind": {"enum": list(DEVICE_KINDS)},
                    "model": {"type": "string", "maxLength": 1000},
                    "units_per_mm": positive,
                    "sampling_rate_hz": positive,
                    "pressure_levels": {"type": "integer", "minimum": 2},
                    "screen_width": positive, "screen_height": positive, "device_pixel_ratio": positive,
                    "user_agent": {"type": "string", "maxLength": 1000},
                },
            },
            "capture": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "time": {"type": "string", "description": "ISO 8601 with timezone"},
                    "software": {"type": "string", "maxLength": 1000},
                    "extra": {"type": "object"},
                },
            },
            "strokes": {
                "type": "array", "minItems": 1,
                "items": {
                    "type": "object", "additionalProperties": False, "required": ["x", "y"],
                    "properties": {"pen": {"enum": ["down", "hover"]}, **channel_props},
                },
            },
        },
    }
