"""Signature, Stroke, Device: the packet model of one signing act, and its validation.

Every entry point (file readers, the native packet, the capture service) builds a
``Signature`` through :func:`make_signature`, so that validation and the repair of
known device quirks happen in exactly one place.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .errors import InvalidSignature

PACKET_FORMAT = "inkwitness.signature/1"

#: Optional per-sample channels, all in degrees.
OPTIONAL_CHANNELS: tuple[str, ...] = ("tilt_x", "tilt_y", "azimuth", "altitude", "twist")
DEVICE_KINDS: tuple[str, ...] = ("pen", "touch", "mouse", "pad", "camera", "unknown")

MIN_POINTS = 10
MAX_POINTS = 200_000
MAX_DURATION_MS = 10 * 60 * 1000.0
MAX_ABS_COORDINATE = 1e7
# A backward step larger than this is not jitter but a broken clock: refuse it.
MAX_BACKWARD_STEP_MS = 1000.0
# A sample that lies more than this ahead of its successor is a lone counter glitch
# (SUSIG Blind 045_g_4: single samples carry +2^32 us, i.e. ~4.29e6 ms).
SPIKE_MS = 1000.0


@dataclass(frozen=True)
class Device:
    """What captured the signature, as far as it tells us."""

    kind: str = "unknown"
    model: str | None = None
    units_per_mm: float | None = None
    sampling_rate_hz: float | None = None
    pressure_levels: int | None = None
    screen_width: float | None = None
    screen_height: float | None = None
    device_pixel_ratio: float | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in DEVICE_KINDS:
            raise InvalidSignature(f"device kind {self.kind!r} is not one of {', '.join(DEVICE_KINDS)}")
        for name in ("units_per_mm", "sampling_rate_hz", "screen_width", "screen_height", "device_pixel_ratio"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and math.isfinite(value) and 0 < value < 1e7):
                raise InvalidSignature(f"device {name} must be a positive finite number, got {value!r}")
        if self.pressure_levels is not None and not (
            isinstance(self.pressure_levels, int) and not isinstance(self.pressure_levels, bool)
            and 2 <= self.pressure_levels <= 1 << 24
        ):
            raise InvalidSignature(f"device pressure_levels must be an integer 2..2^24, got {self.pressure_levels!r}")
        for name in ("model", "user_agent"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > 1000):
                raise InvalidSignature(f"device {name} must be a string of at most 1000 characters")

    def to_dict(self) -> dict[str, Any]:
        """The non-empty fields, as the packet stores them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Device:
        """Build from a packet's ``device`` object, refusing unknown keys."""
        _refuse_unknown_keys("device", data, {f.name for f in fields(cls)})
        return cls(**dict(data))


@dataclass(frozen=True)
class CaptureContext:
    """When and with what software the signature was captured."""

    time: str | None = None
    software: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time is not None:
            try:
                parsed = _dt.datetime.fromisoformat(str(self.time))
            except ValueError as exc:
                raise InvalidSignature(f"capture time {self.time!r} is not ISO 8601") from exc
            if parsed.tzinfo is None:
                raise InvalidSignature(f"capture time {self.time!r} has no timezone")
        if self.software is not None and (not isinstance(self.software, str) or len(self.software) > 1000):
            raise InvalidSignature("capture software must be a string of at most 1000 characters")
        if not isinstance(self.extra, Mapping):
            raise InvalidSignature("capture extra must be a mapping")
        try:
            encoded = json.dumps(dict(self.extra), allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidSignature(f"capture extra is not plain JSON: {exc}") from exc
        if len(encoded) > 64_000:
            raise InvalidSignature("capture extra is larger than 64 kB")

    def to_dict(self) -> dict[str, Any]:
        """The non-empty fields, as the packet stores them."""
        out: dict[str, Any] = {}
        if self.time is not None:
            out["time"] = self.time
        if self.software is not None:
            out["software"] = self.software
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaptureContext:
        """Build from a packet's ``capture`` object, refusing unknown keys."""
        _refuse_unknown_keys("capture", data, {"time", "software", "extra"})
        return cls(time=data.get("time"), software=data.get("software"), extra=data.get("extra") or {})


@dataclass(frozen=True)
class Stroke:
    """A run of consecutive samples with one pen state: ``sig[start:stop]``."""

    index: int
    start: int
    stop: int
    pen_down: bool

    @property
    def size(self) -> int:
        """Number of samples in the stroke."""
        return self.stop - self.start


class Signature:
    """One signing act: per-sample arrays, strokes, device and capture context.

    Arrays are read-only. ``t`` is in ms from the first sample, ``x``/``y`` in device
    units (y grows downwards as on screens and tablets), ``pressure`` in 0..1 or absent.
    """

    __slots__ = ("t", "x", "y", "pressure", "pen_down", "stroke", "channels", "device", "capture",
                 "repairs", "timing", "_sha256", "_canonical")

    def __init__(self, *, t: np.ndarray, x: np.ndarray, y: np.ndarray, pressure: np.ndarray | None,
                 pen_down: np.ndarray, stroke: np.ndarray, channels: Mapping[str, np.ndarray],
                 device: Device, capture: CaptureContext, repairs: tuple[str, ...], timing: str) -> None:
        self.t, self.x, self.y = t, x, y
        self.pressure = pressure
        self.pen_down = pen_down
        self.stroke = stroke
        self.channels = dict(channels)
        self.device = device
        self.capture = capture
        self.repairs = tuple(repairs)
        self.timing = timing
        self._sha256: str | None = None
        self._canonical: bytes | None = None
        for arr in (t, x, y, pressure, pen_down, stroke, *self.channels.values()):
            if arr is not None:
                arr.setflags(write=False)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __repr__(self) -> str:
        return (f"Signature({len(self)} points, {self.n_strokes} strokes, {self.duration_ms:.0f} ms, "
                f"channels={','.join(self.channel_names)})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signature):
            return NotImplemented
        return self.canonical_bytes() == other.canonical_bytes()

    def __hash__(self) -> int:
        return hash(self.sha256)

    @property
    def duration_ms(self) -> float:
        """Time from the first to the last sample."""
        return float(self.t[-1] - self.t[0])

    @property
    def has_pressure(self) -> bool:
        """Whether the device reported pressure."""
        return self.pressure is not None

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Names of the channels present, in canonical order."""
        names = ["t", "x", "y"] + (["pressure"] if self.pressure is not None else [])
        return tuple(names + [c for c in OPTIONAL_CHANNELS if c in self.channels])

    @property
    def n_strokes(self) -> int:
        """Number of strokes (pen-down and hover runs)."""
        return int(self.stroke[-1]) + 1

    @property
    def strokes(self) -> list[Stroke]:
        """The strokes in writing order."""
        starts = np.flatnonzero(np.diff(self.stroke, prepend=-1))
        stops = np.append(starts[1:], len(self))
        return [Stroke(i, int(a), int(b), bool(self.pen_down[a])) for i, (a, b) in enumerate(zip(starts, stops))]

    @property
    def sampling_rate_hz(self) -> float:
        """Sampling rate estimated from the median time step inside strokes."""
        dt = np.diff(self.t)[np.diff(self.stroke) == 0]
        if dt.size == 0:
            return float(self.device.sampling_rate_hz or 0.0)
        return float(1000.0 / np.median(dt))

    def to_dict(self) -> dict[str, Any]:
        """The native packet as a JSON-ready dict (see ``docs/signature.schema.json``)."""
        present = [c for c in ("pressure", *OPTIONAL_CHANNELS) if self._channel(c) is not None]
        strokes = []
        for s in self.strokes:
            entry: dict[str, Any] = {"pen": "down" if s.pen_down else "hover"}
            for name in ("t", "x", "y", *present):
                entry[name] = _plain_numbers(self._channel(name)[s.start:s.stop])
            strokes.append(entry)
        out: dict[str, Any] = {"format": PACKET_FORMAT, "timing": self.timing, "device": self.device.to_dict()}
        capture = self.capture.to_dict()
        if capture:
            out["capture"] = capture
        if self.repairs:
            out["repairs"] = list(self.repairs)
        out["strokes"] = strokes
        return out

    def canonical_bytes(self) -> bytes:
        """The one canonical serialisation: sorted keys, no spaces, shortest round-trip numbers."""
        if self._canonical is None:
            # Arrays are read-only and the metadata frozen, so the bytes never change.
            self._canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                         allow_nan=False).encode("utf-8")
        return self._canonical

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the canonical bytes: the signature's identity everywhere."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.canonical_bytes()).hexdigest()
        return self._sha256

    def _channel(self, name: str) -> np.ndarray | None:
        if name in ("t", "x", "y", "pressure"):
            return getattr(self, name)
        return self.channels.get(name)

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        """Validate and build from a native packet dict."""
        if not isinstance(data, Mapping):
            raise InvalidSignature("a signature packet must be a JSON object")
        _refuse_unknown_keys("packet", data, {"format", "timing", "device", "capture", "repairs", "strokes"})
        if data.get("format") != PACKET_FORMAT:
            raise InvalidSignature(f"packet format must be {PACKET_FORMAT!r}, got {data.get('format')!r}")
        device = Device.from_dict(_mapping(data.get("device", {}), "device"))
        capture = CaptureContext.from_dict(_mapping(data.get("capture", {}), "capture"))
        repairs = data.get("repairs", [])
        if not isinstance(repairs, list) or not all(isinstance(r, str) for r in repairs):
            raise InvalidSignature("repairs must be a list of strings")
        timing = data.get("timing", "measured")
        if timing not in ("measured", "nominal"):
            raise InvalidSignature("timing must be 'measured' or 'nominal'")
        strokes = data.get("strokes")
        if not isinstance(strokes, list) or not strokes:
            raise InvalidSignature("packet has no strokes")
        if len(strokes) > MAX_POINTS:
            raise InvalidSignature(f"packet has {len(strokes)} strokes; at most {MAX_POINTS} are accepted")
        allowed = {"pen", "t", "x", "y", "pressure", *OPTIONAL_CHANNELS}
        first = _mapping(strokes[0], "stroke 0")
        names = [n for n in ("t", "x", "y", "pressure", *OPTIONAL_CHANNELS) if n in first]
        columns: dict[str, list[np.ndarray]] = {n: [] for n in names}
        pen_down, starts = [], []
        total = 0
        for i, raw in enumerate(strokes):
            stroke = _mapping(raw, f"stroke {i}")
            _refuse_unknown_keys(f"stroke {i}", stroke, allowed)
            if set(stroke) - {"pen"} != set(names):
                raise InvalidSignature(f"stroke {i} has channels {sorted(set(stroke) - {'pen'})}, "
                                       f"stroke 0 has {sorted(names)}: every stroke must carry the same channels")
            pen = stroke.get("pen", "down")
            if pen not in ("down", "hover"):
                raise InvalidSignature(f"stroke {i}: pen must be 'down' or 'hover'")
            size = None
            for name in names:
                arr = _number_array(stroke[name], f"stroke {i} {name}")
                if size is None:
                    size = arr.shape[0]
                elif arr.shape[0] != size:
                    raise InvalidSignature(f"stroke {i}: channel {name} has {arr.shape[0]} samples, expected {size}")
                columns[name].append(arr)
            if not size:
                raise InvalidSignature(f"stroke {i} is empty")
            total += size
            if total > MAX_POINTS:
                raise InvalidSignature(f"packet has more than {MAX_POINTS} samples")
            starts.append(np.arange(size) == 0)
            pen_down.append(np.full(size, pen == "down"))
        merged = {n: np.concatenate(v) for n, v in columns.items()}
        if "x" not in merged or "y" not in merged:
            raise InvalidSignature("strokes must carry x and y")
        return make_signature(
            x=merged.pop("x"), y=merged.pop("y"), t=merged.pop("t", None), pressure=merged.pop("pressure", None),
            pen_down=np.concatenate(pen_down), stroke_start=np.concatenate(starts), channels=merged,
            device=device, capture=capture, repairs=tuple(repairs), timing=timing)


def make_signature(*, x: Any, y: Any, t: Any = None, pressure: Any = None, pen_down: Any = None,
                   stroke_start: Any = None, channels: Mapping[str, Any] | None = None,
                   device: Device | None = None, capture: CaptureContext | None = None,
                   repairs: Sequence[str] = (), timing: str | None = None) -> Signature:
    """Validate raw channels, repair known timestamp quirks, and build a Signature.

    ``pressure`` is already normalised to 0..1 (readers divide by the raw full scale).
    ``stroke_start`` marks samples that begin a new stroke although the pen state is
    unchanged, e.g. after an unsampled pen-up gap. With ``t`` absent, time comes from
    ``device.sampling_rate_hz``.
    """
    device = device or Device()
    capture = capture or CaptureContext()
    notes = list(repairs)
    xs = _finite_array(x, "x")
    n = xs.shape[0]
    if n < MIN_POINTS:
        raise InvalidSignature(f"signature has {n} points; at least {MIN_POINTS} are needed")
    if n > MAX_POINTS:
        raise InvalidSignature(f"signature has {n} points; at most {MAX_POINTS} are accepted")
    ys = _finite_array(y, "y", n)
    for name, arr in (("x", xs), ("y", ys)):
        if np.abs(arr).max() > MAX_ABS_COORDINATE:
            raise InvalidSignature(f"{name} coordinates exceed {MAX_ABS_COORDINATE:g} device units")
    pr = None
    if pressure is not None:
        pr = _finite_array(pressure, "pressure", n)
        if pr.min() < 0 or pr.max() > 1:
            raise InvalidSignature(f"pressure must be normalised to 0..1, got {pr.min():g}..{pr.max():g}")
    chans: dict[str, np.ndarray] = {}
    for name, values in (channels or {}).items():
        if name not in OPTIONAL_CHANNELS:
            raise InvalidSignature(f"unknown channel {name!r}; known: {', '.join(OPTIONAL_CHANNELS)}")
        arr = _finite_array(values, name, n)
        if np.abs(arr).max() > 360:
            raise InvalidSignature(f"channel {name} must be in degrees (|value| <= 360)")
        chans[name] = arr
    down = np.ones(n, dtype=bool) if pen_down is None else _bool_array(pen_down, "pen_down", n)
    if not down.any():
        raise InvalidSignature("signature has no pen-down sample")
    starts = np.zeros(n, dtype=bool) if stroke_start is None else _bool_array(stroke_start, "stroke_start", n)
    if t is None:
        if timing == "measured":
            raise InvalidSignature("timing is 'measured' but the packet has no timestamps")
        rate = device.sampling_rate_hz
        if rate is None:
            raise InvalidSignature("no timestamps and no declared sampling rate to derive them from")
        ts = np.arange(n, dtype=np.float64) * (1000.0 / rate)
        timing = "nominal"
        notes.append(f"t derived from the declared rate of {rate:g} Hz")
    else:
        ts, more = repair_timestamps(_finite_array(t, "t", n))
        notes.extend(more)
        timing = timing or "measured"
    if timing not in ("measured", "nominal"):
        raise InvalidSignature("timing must be 'measured' or 'nominal'")
    if ts[-1] > MAX_DURATION_MS:
        raise InvalidSignature(f"signature lasts {ts[-1] / 1000:.0f} s; at most {MAX_DURATION_MS / 1000:.0f} s")
    boundary = starts.copy()
    boundary[1:] |= down[1:] != down[:-1]
    boundary[0] = False
    stroke = np.cumsum(boundary, dtype=np.int64).astype(np.int32)
    return Signature(t=ts, x=xs, y=ys, pressure=pr, pen_down=down, stroke=stroke, channels=chans,
                     device=device, capture=capture, repairs=tuple(dict.fromkeys(notes)), timing=timing)


def repair_timestamps(t: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Make timestamps strictly increasing from 0, re-timing glitched samples by interpolation.

    Returns the repaired times and human-readable notes of what was changed.
    """
    t = np.asarray(t, dtype=np.float64)
    notes: list[str] = []
    bad = np.zeros(t.shape[0], dtype=bool)
    # Lone samples far ahead of their successor are counter glitches (SUSIG Blind).
    bad[:-1] = t[:-1] > t[1:] + SPIKE_MS
    n_spikes = int(bad.sum())
    if n_spikes:
        notes.append(f"timestamps: {n_spikes} sample(s) more than {SPIKE_MS:g} ms ahead of the next "
                     "(counter glitch) re-timed by interpolation")
    good_t = np.where(bad, -np.inf, t)
    running = np.maximum.accumulate(good_t)
    prev_max = np.concatenate(([-np.inf], running[:-1]))
    late = (~bad) & (t <= prev_max)
    if late.any():
        back = prev_max[late] - t[late]
        if back.max() > MAX_BACKWARD_STEP_MS:
            i = int(np.flatnonzero(late)[np.argmax(back)])
            raise InvalidSignature(f"timestamp steps back by {back.max():g} ms at sample {i}; "
                                   f"at most {MAX_BACKWARD_STEP_MS:g} ms can be repaired")
        repeats = int((back == 0).sum())
        backward = int((back > 0).sum())
        parts = []
        if repeats:
            parts.append(f"{repeats} repeated")
        if backward:
            parts.append(f"{backward} backward (up to {back.max():g} ms)")
        notes.append(f"timestamps: {' and '.join(parts)} sample(s) re-timed by interpolation")
        bad |= late
    if bad.any():
        idx = np.arange(t.shape[0])
        good = ~bad
        if good.sum() < 2:
            raise InvalidSignature("timestamps are too broken to repair")
        gi, gt = idx[good], t[good]
        fixed = np.interp(idx, gi, gt)
        step = float(np.median(np.diff(gt))) or 1.0
        head = idx < gi[0]
        tail = idx > gi[-1]
        fixed[head] = gt[0] - (gi[0] - idx[head]) * step
        fixed[tail] = gt[-1] + (idx[tail] - gi[-1]) * step
        t = fixed
    return t - t[0], notes


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_number_type(t: type) -> bool:
    return t in (int, float) or issubclass(t, (np.integer, np.floating))


def _plain_numbers(arr: np.ndarray) -> list[int | float]:
    # Integral values are written as integers so that 3 and 3.0 share one canonical form.
    return [int(v) if v.is_integer() else v for v in arr.tolist()]


def _finite_array(values: Any, name: str, n: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidSignature(f"channel {name} is not numeric") from exc
    if arr.ndim != 1:
        raise InvalidSignature(f"channel {name} must be one-dimensional")
    if n is not None and arr.shape[0] != n:
        raise InvalidSignature(f"channel {name} has {arr.shape[0]} samples, expected {n}")
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InvalidSignature(f"channel {name} has a non-finite value ({arr[i]}) at sample {i}")
    return np.ascontiguousarray(arr)


def _number_array(values: Any, what: str) -> np.ndarray:
    # Checking each distinct type once (not each element) keeps packet parsing cheap.
    if not isinstance(values, list) or not all(_is_number_type(t) for t in set(map(type, values))):
        raise InvalidSignature(f"{what} must be a list of numbers")
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError as exc:  # an integer literal beyond float range, e.g. 10**400
        raise InvalidSignature(f"{what} holds a number too large to represent") from exc


def _bool_array(values: Any, name: str, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise InvalidSignature(f"{name} has shape {arr.shape}, expected ({n},)")
    return arr.astype(bool)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidSignature(f"{what} must be a JSON object")
    return value


def _refuse_unknown_keys(what: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise InvalidSignature(f"{what} has unknown field(s): {', '.join(sorted(map(str, unknown)))}")
