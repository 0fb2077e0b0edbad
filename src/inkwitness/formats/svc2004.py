"""SVC2004 text files: a point count, then rows ``x y t button [azimuth altitude pressure]``.

Task1 has 4 columns, Task2 has 7. Pen-up periods are not sampled; ``button == 0`` marks
the first sample of each stroke (Task2 rows with button 0 still carry pressure), and
values 2..5 occur undocumented in some files, so any value > 0 is pen-down. Azimuth and
altitude are in tenths of a degree; pressure is 0..1023 (WACOM Intuos, ~100 Hz).
"""

from __future__ import annotations


from ..errors import InvalidSignature
from ..signature import Device, Signature, make_signature
from ._text import Source, decode_text, numeric_table, parse_count, read_bytes

PRESSURE_LEVELS = 1024
RATE_HZ = 100.0


def looks_svc2004(text: str) -> bool:
    """A count line followed by 4- or 7-column integer rows."""
    lines = text.splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        return False
    return len(lines[1].split()) in (4, 7)


def parse(text: str, name: str = "<svc2004>") -> Signature:
    """Parse the text of an SVC2004 file."""
    lines = text.splitlines()
    if not lines:
        raise InvalidSignature(f"{name} is empty")
    declared = parse_count(lines[0].strip(), name)
    table = numeric_table(lines[1:], name, (4, 7), first_line_no=2)
    if table.shape[0] != declared:
        raise InvalidSignature(f"{name} declares {declared} points but has {table.shape[0]} rows")
    button = table[:, 3]
    channels = {}
    pressure = None
    if table.shape[1] == 7:
        channels = {"azimuth": table[:, 4] / 10.0, "altitude": table[:, 5] / 10.0}
        pressure = table[:, 6] / (PRESSURE_LEVELS - 1)
    device = Device(kind="pen", model="WACOM Intuos (SVC2004)", sampling_rate_hz=RATE_HZ,
                    pressure_levels=PRESSURE_LEVELS if pressure is not None else None)
    return make_signature(x=table[:, 0], y=table[:, 1], t=table[:, 2], pressure=pressure,
                          stroke_start=button == 0, channels=channels, device=device)


def read(source: Source) -> Signature:
    """Read an SVC2004 Task1/Task2 file."""
    data, name = read_bytes(source)
    return parse(decode_text(data, name), name)
