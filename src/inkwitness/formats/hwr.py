"""SigComp ``.hwr`` files, sampled at 200 Hz with no timestamps.

* SigComp2011 Dutch online: rows ``x y pressure``; pressure 0 rows are in-air samples.
* SigComp2009 (NISDCC, NFI): a header ``NAME N`` and tab-indented rows
  ``x y pressure azimuth altitude`` (angles in tenths of a degree). Pressure <= 0 is
  hover; rows ``0 0 -4 0 0`` are invalid samples (pen out of range), dropped while
  keeping the time axis of the rows that remain.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidSignature
from ..signature import Device, Signature, make_signature
from ._text import Source, decode_text, numeric_table, parse_count, read_bytes

RATE_HZ = 200.0
PRESSURE_LEVELS = 1024
# SigComp2009 NFI files reach a raw pressure of 1024 (e.g. NFI-00311003), one more than 2011's.
PRESSURE_LEVELS_2009 = 1025


def looks_sigcomp2011(text: str) -> bool:
    """Headerless three-column integer rows."""
    first = text.splitlines()[:2]
    return len(first) == 2 and all(len(ln.split()) == 3 for ln in first)


def looks_sigcomp2009(text: str) -> bool:
    """A ``NAME N`` header followed by five-column rows."""
    lines = text.splitlines()
    if len(lines) < 2:
        return False
    head = lines[0].split()
    return len(head) == 2 and head[1].isdigit() and not head[0].lstrip("-").isdigit() and len(lines[1].split()) == 5


def parse(text: str, name: str = "<hwr>") -> Signature:
    """Parse either SigComp ``.hwr`` variant."""
    lines = text.splitlines()
    if not lines:
        raise InvalidSignature(f"{name} is empty")
    head = lines[0].split()
    if len(head) == 2 and not _is_number(head[0]):
        declared = parse_count(head[1], name)
        table = numeric_table(lines[1:], name, (5,), first_line_no=2)
        if table.shape[0] != declared:
            raise InvalidSignature(f"{name} declares {declared} rows but has {table.shape[0]}")
        model = "Wacom (SigComp2009)"
        levels = PRESSURE_LEVELS_2009
    else:
        table = numeric_table(lines, name, (3,))
        model = "Wacom (SigComp2011 Dutch)"
        levels = PRESSURE_LEVELS
    t = np.arange(table.shape[0]) * (1000.0 / RATE_HZ)
    repairs = [f"t derived from the declared rate of {RATE_HZ:g} Hz"]
    invalid = (table[:, 0] == 0) & (table[:, 1] == 0) & (table[:, 2] < -1)
    if invalid.any():
        repairs.append(f"{int(invalid.sum())} invalid row(s) (0 0 -4: pen out of range) dropped")
    keep = ~invalid
    if not keep.any():
        raise InvalidSignature(f"{name} has only invalid rows")
    after_gap = np.concatenate(([False], invalid[:-1]))[keep]
    table, t = table[keep], t[keep]
    raw_p = table[:, 2]
    if raw_p.max() > levels - 1:
        raise InvalidSignature(f"{name}: pressure above {levels - 1}")
    channels = {}
    if table.shape[1] == 5:
        for column, channel, top in ((3, "azimuth", 3600), (4, "altitude", 900)):
            values, corrupt = _repair_angle(table[:, column], top)
            channels[channel] = values / 10.0
            if corrupt:
                repairs.append(f"{corrupt} corrupt {channel} value(s) (outside 0..{top / 10:g} degrees) "
                               "replaced by interpolation")
    device = Device(kind="pen", model=model, sampling_rate_hz=RATE_HZ, pressure_levels=levels)
    return make_signature(x=table[:, 0], y=table[:, 1], t=t, pressure=np.clip(raw_p, 0, None) / (levels - 1),
                          pen_down=raw_p > 0, stroke_start=after_gap, channels=channels, device=device,
                          repairs=repairs, timing="nominal")


def _repair_angle(values: np.ndarray, top: float) -> tuple[np.ndarray, int]:
    # NISDCC-021_001_003 has an altitude of 4129280 on one hover row: a transmission glitch.
    bad = (values < 0) | (values > top)
    if not bad.any():
        return values, 0
    if bad.all():
        raise InvalidSignature("every angle value is out of range")
    idx = np.arange(values.shape[0])
    return np.interp(idx, idx[~bad], values[~bad]), int(bad.sum())


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read(source: Source) -> Signature:
    """Read a SigComp ``.hwr`` file."""
    data, name = read_bytes(source)
    return parse(decode_text(data, name), name)
