"""Fingerprint: one finger-press capture (grey image, resolution, finger, device, context) with a stable hash."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..errors import InkwitnessError

SAMPLE_FORMAT = "inkwitness.fingerprint/1"

#: ISO/IEC 19794-2/-4 finger position codes.
FINGER_POSITIONS: dict[int, str] = {
    0: "unknown", 1: "right thumb", 2: "right index", 3: "right middle", 4: "right ring", 5: "right little",
    6: "left thumb", 7: "left index", 8: "left middle", 9: "left ring", 10: "left little",
}
SENSOR_KINDS: tuple[str, ...] = ("optical", "capacitive", "thermal", "ultrasonic", "camera", "ink", "unknown")
MIN_PPI, MAX_PPI = 250.0, 2000.0
MIN_SIDE, MAX_SIDE = 64, 4000


class InvalidFingerprint(InkwitnessError):
    """A fingerprint image or record is malformed, of unknown resolution or absurd."""


class LowQualityCapture(InvalidFingerprint):
    """A capture is readable but too poor to enrol or compare; the message says why."""


@dataclass(frozen=True)
class FingerprintDevice:
    """The sensor that took the capture, as far as it tells us."""

    kind: str = "unknown"
    model: str | None = None
    serial: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SENSOR_KINDS:
            raise InvalidFingerprint(f"sensor kind {self.kind!r} is not one of {', '.join(SENSOR_KINDS)}")
        for name in ("model", "serial"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > 1000):
                raise InvalidFingerprint(f"device {name} must be a string of at most 1000 characters")

    def to_dict(self) -> dict[str, Any]:
        """The non-empty fields."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class FingerprintContext:
    """When, where in the workflow and with what software the finger was pressed."""

    time: str | None = None
    software: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time is not None:
            try:
                parsed = _dt.datetime.fromisoformat(str(self.time))
            except ValueError as exc:
                raise InvalidFingerprint(f"capture time {self.time!r} is not ISO 8601") from exc
            if parsed.tzinfo is None:
                raise InvalidFingerprint(f"capture time {self.time!r} has no timezone")
        try:
            json.dumps(dict(self.extra), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidFingerprint(f"capture extra is not plain JSON: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The non-empty fields."""
        out: dict[str, Any] = {}
        if self.time is not None:
            out["time"] = self.time
        if self.software is not None:
            out["software"] = self.software
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


class Fingerprint:
    """One finger-press: an 8-bit grey image (ridges dark) at a known resolution, read-only."""

    __slots__ = ("image", "ppi", "finger", "device", "capture", "_canonical", "_sha256")

    def __init__(self, image: Any, ppi: float, finger: int = 0, device: FingerprintDevice | None = None,
                 capture: FingerprintContext | None = None) -> None:
        arr = np.asarray(image)
        if arr.ndim != 2:
            raise InvalidFingerprint(f"a fingerprint image must be 2-D grey, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise InvalidFingerprint(f"a fingerprint image must be 8-bit grey, got {arr.dtype}")
        h, w = arr.shape
        if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
            raise InvalidFingerprint(f"image is {w} x {h} pixels; each side must be {MIN_SIDE}..{MAX_SIDE}")
        if not (isinstance(ppi, (int, float)) and MIN_PPI <= float(ppi) <= MAX_PPI):
            raise InvalidFingerprint(f"resolution must be {MIN_PPI:g}..{MAX_PPI:g} ppi, got {ppi!r}")
        if finger not in FINGER_POSITIONS:
            raise InvalidFingerprint(f"finger position must be an ISO code 0..10, got {finger!r}")
        self.image = np.ascontiguousarray(arr)
        self.image.setflags(write=False)
        self.ppi = float(ppi)
        self.finger = int(finger)
        self.device = device or FingerprintDevice()
        self.capture = capture or FingerprintContext()
        self._canonical: bytes | None = None
        self._sha256: str | None = None

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])

    def __repr__(self) -> str:
        return (f"Fingerprint({self.width} x {self.height} px, {self.ppi:g} ppi, "
                f"{FINGER_POSITIONS[self.finger]}, sha256 {self.sha256[:12]}...)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return self.canonical_bytes() == other.canonical_bytes()

    def __hash__(self) -> int:
        return hash(self.sha256)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready sample; pixels are raw 8-bit grey rows, base64, so the bytes do not depend on a codec."""
        out: dict[str, Any] = {
            "format": SAMPLE_FORMAT, "width": self.width, "height": self.height, "ppi": _plain(self.ppi),
            "finger": self.finger, "device": self.device.to_dict(),
            "pixels": base64.b64encode(self.image.tobytes()).decode("ascii"),
        }
        capture = self.capture.to_dict()
        if capture:
            out["capture"] = capture
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Fingerprint:
        """Validate and rebuild from :meth:`to_dict` output."""
        if not isinstance(data, Mapping) or data.get("format") != SAMPLE_FORMAT:
            raise InvalidFingerprint(f"not an {SAMPLE_FORMAT} sample")
        unknown = set(data) - {"format", "width", "height", "ppi", "finger", "device", "pixels", "capture"}
        if unknown:
            raise InvalidFingerprint(f"sample has unknown field(s): {', '.join(sorted(unknown))}")
        try:
            w, h = int(data["width"]), int(data["height"])
            pixels = base64.b64decode(data["pixels"], validate=True)
            device = FingerprintDevice(**dict(data.get("device") or {}))
            capture = FingerprintContext(**dict(data.get("capture") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidFingerprint(f"malformed fingerprint sample: {exc}") from exc
        if len(pixels) != w * h:
            raise InvalidFingerprint(f"sample holds {len(pixels)} pixels, expected {w} x {h}")
        image = np.frombuffer(pixels, dtype=np.uint8).reshape(h, w)
        return cls(image, data.get("ppi"), data.get("finger", 0), device, capture)

    def canonical_bytes(self) -> bytes:
        """The one canonical serialisation: sorted keys, no spaces."""
        if self._canonical is None:
            self._canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                                         ensure_ascii=False, allow_nan=False).encode("utf-8")
        return self._canonical

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the canonical bytes: the capture's identity everywhere."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.canonical_bytes()).hexdigest()
        return self._sha256


def _plain(value: float) -> int | float:
    # 500 and 500.0 must share one canonical form.
    return int(value) if float(value).is_integer() else float(value)
