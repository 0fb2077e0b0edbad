"""SigWIComp2015 ``.trj`` files: header ``N DPI=d RATE=r``, then rows ``x y pressure -1 -1``.

Rows ``-1 -1 0 -1 -1`` are pen-up markers between strokes (dropped; the next sample
starts a stroke, and the marker's sampling slot is kept on the time axis). Pressure is
0..126 on the German set; we take 127 levels.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import InvalidSignature
from ..signature import Device, Signature, make_signature
from ._text import Source, decode_text, numeric_table, parse_count, read_bytes

PRESSURE_LEVELS = 127
_HEADER = re.compile(r"^\s*(\d+)\s+DPI=(\d+(?:\.\d+)?)\s+RATE=(\d+(?:\.\d+)?)\s*$", re.IGNORECASE)


def looks_trj(text: str) -> bool:
    """The ``N DPI=.. RATE=..`` header."""
    return bool(_HEADER.match(text.split("\n", 1)[0]))


def parse(text: str, name: str = "<trj>") -> Signature:
    """Parse a ``.trj`` file."""
    lines = text.splitlines()
    match = _HEADER.match(lines[0]) if lines else None
    if not match:
        raise InvalidSignature(f"{name} lacks the 'N DPI=.. RATE=..' header")
    declared = parse_count(match.group(1), name)
    dpi, rate = float(match.group(2)), float(match.group(3))
    if not (0 < dpi < 100_000 and 0 < rate < 10_000):
        raise InvalidSignature(f"{name}: implausible DPI={dpi:g} or RATE={rate:g}")
    table = numeric_table(lines[1:], name, (5,), first_line_no=2)
    if table.shape[0] != declared:
        raise InvalidSignature(f"{name} declares {declared} rows but has {table.shape[0]}")
    marker = (table[:, 0] == -1) & (table[:, 1] == -1)
    t = np.arange(table.shape[0]) * (1000.0 / rate)
    after = np.concatenate(([False], marker[:-1]))[~marker]
    table, t = table[~marker], t[~marker]
    if table.size and (table[:, 2].min() < 0 or table[:, 2].max() > PRESSURE_LEVELS - 1):
        raise InvalidSignature(f"{name}: pressure outside 0..{PRESSURE_LEVELS - 1}")
    device = Device(kind="pen", model="SigWIComp2015 tablet", units_per_mm=dpi / 25.4, sampling_rate_hz=rate,
                    pressure_levels=PRESSURE_LEVELS)
    repairs = [f"t derived from the declared rate of {rate:g} Hz"]
    if marker.any():
        repairs.append(f"{int(marker.sum())} pen-up marker row(s) (-1 -1) turned into stroke boundaries")
    return make_signature(x=table[:, 0], y=table[:, 1], t=t, pressure=table[:, 2] / (PRESSURE_LEVELS - 1),
                          stroke_start=after, device=device, repairs=repairs, timing="nominal")


def read(source: Source) -> Signature:
    """Read a SigWIComp2015 ``.trj`` file."""
    data, name = read_bytes(source)
    return parse(decode_text(data, name), name)
