"""MCYT ``.fpg`` binary files (ATVS "FPG " container), as used by MCYT-100.

Little-endian header of ``header_size`` bytes (60 in MCYT): ``"FPG "``, uint16 header size,
uint16 sample format (4 = float32), ..., uint32 data bytes at 18, uint32 channel count at
22, uint32 sample count at 30, uint32 sampling rate (Hz) at 36. Samples are interleaved
``x y pressure azimuth elevation``. WACOM Intuos A6: 100 lines/mm, 1024 pressure levels,
angles in degrees; pressure 0 marks the pen lifted but in range. The tablet does not wrap
azimuth at 360 degrees (about 14 of MCYT-100's 5,000 files hold values up to 389, some down
to -360), so angles are wrapped into 0..360 and the repair recorded.
"""

from __future__ import annotations

import struct

import numpy as np

from ..errors import InvalidSignature, UnsupportedFormat
from ..signature import Device, Signature, make_signature
from ._text import Source, read_bytes

MAGIC = b"FPG "
PRESSURE_LEVELS = 1024


def looks_fpg(data: bytes) -> bool:
    """Whether the bytes carry the FPG magic."""
    return data[:4] == MAGIC


def loads(data: bytes, name: str = "<fpg>") -> Signature:
    """Parse an MCYT ``.fpg`` file."""
    if data[:4] != MAGIC:
        raise UnsupportedFormat(f"{name} is not an FPG file")
    if len(data) < 40:
        raise InvalidSignature(f"{name}: FPG header is truncated")
    header_size, sample_format = struct.unpack_from("<HH", data, 4)
    data_bytes, n_channels = struct.unpack_from("<II", data, 18)
    (n_samples,) = struct.unpack_from("<I", data, 30)
    (rate,) = struct.unpack_from("<I", data, 36)
    if sample_format != 4:
        raise UnsupportedFormat(f"{name}: FPG sample format {sample_format} (only 4, float32, is known)")
    if n_channels < 2 or n_channels > 16:
        raise InvalidSignature(f"{name}: FPG declares {n_channels} channels")
    if header_size < 40 or data_bytes != n_samples * n_channels * 4 or header_size + data_bytes != len(data):
        raise InvalidSignature(f"{name}: FPG sizes disagree (header {header_size}, data {data_bytes}, "
                               f"{n_samples} x {n_channels} samples, file {len(data)} bytes)")
    if not 1 <= rate <= 10_000:
        raise InvalidSignature(f"{name}: FPG sampling rate {rate} Hz is implausible")
    table = np.frombuffer(data, dtype="<f4", count=n_samples * n_channels, offset=header_size)
    table = table.reshape(n_samples, n_channels).astype(np.float64)
    pressure = pen_down = None
    channels = {}
    repairs: list[str] = []
    if n_channels >= 3:
        raw_p = table[:, 2]
        if np.isfinite(raw_p).all() and (raw_p.min() < 0 or raw_p.max() > PRESSURE_LEVELS - 1):
            raise InvalidSignature(f"{name}: pressure outside 0..{PRESSURE_LEVELS - 1}")
        pressure = raw_p / (PRESSURE_LEVELS - 1)
        pen_down = raw_p > 0
    if n_channels >= 5:
        for column, channel in ((3, "azimuth"), (4, "altitude")):
            channels[channel], note = _wrap_angle(table[:, column], channel)
            if note:
                repairs.append(note)
    device = Device(kind="pen", model="WACOM Intuos A6 (MCYT)", units_per_mm=100.0, sampling_rate_hz=float(rate),
                    pressure_levels=PRESSURE_LEVELS if pressure is not None else None)
    return make_signature(x=table[:, 0], y=table[:, 1], pressure=pressure, pen_down=pen_down,
                          channels=channels, device=device, repairs=repairs)


def _wrap_angle(values: np.ndarray, channel: str) -> tuple[np.ndarray, str | None]:
    # MCYT's WACOM Intuos does not wrap its angles: azimuths reach 389 degrees (and -360) in
    # real files. They are the same pen directions mod 360, so wrap rather than reject the file.
    outside = np.isfinite(values) & ((values < 0) | (values >= 360))
    if not outside.any():
        return values, None
    note = (f"{int(outside.sum())} {channel} value(s) outside 0..360 degrees "
            f"({values[outside].min():g}..{values[outside].max():g}) wrapped mod 360")
    return np.where(outside, np.mod(values, 360.0), values), note


def read(source: Source) -> Signature:
    """Read an MCYT ``.fpg`` file."""
    data, name = read_bytes(source)
    return loads(data, name)
