"""SUSIG ``.sig`` files: a column header, ``DataSize: N``, then rows ``x y t_ms pressure endpt``.

``endpt == 1`` marks the last point of a stroke. The Visual sub-corpus was written on an
Interlink ePad-ink (pressure 0..255), the Blind one on a Wacom Graphire2 (0..1023).
Timestamps step backwards in 163 files and carry lone +2^32 us glitches in four Blind
files; :func:`inkwitness.signature.repair_timestamps` handles both.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InvalidSignature
from ..signature import Device, Signature, make_signature
from ._text import Source, decode_text, numeric_table, parse_count, read_bytes

VISUAL = Device(kind="pad", model="Interlink ePad-ink (SUSIG Visual)", sampling_rate_hz=100.0, pressure_levels=256)
BLIND = Device(kind="pen", model="Wacom Graphire2 (SUSIG Blind)", sampling_rate_hz=100.0, pressure_levels=1024)
_SIZE = re.compile(r"^\s*DataSize:\s*(\S+)\s*$")


def looks_susig(text: str) -> bool:
    """The SUSIG two-line header."""
    lines = text.splitlines()
    return len(lines) >= 2 and lines[0].replace(" ", "").lower().startswith("x,y,tstamp") and bool(_SIZE.match(lines[1]))


def parse(text: str, name: str = "<susig>", device: Device | None = None) -> Signature:
    """Parse the text of a SUSIG file; ``device`` says which sub-corpus it came from."""
    lines = text.splitlines()
    if len(lines) < 2 or not _SIZE.match(lines[1]):
        raise InvalidSignature(f"{name} lacks the SUSIG 'DataSize:' header")
    declared = parse_count(_SIZE.match(lines[1]).group(1), name)
    table = numeric_table(lines[2:], name, (5,), first_line_no=3)
    if table.shape[0] != declared:
        raise InvalidSignature(f"{name} declares {declared} points but has {table.shape[0]} rows")
    if device is None:
        # The sub-corpora differ in pressure resolution; ePad-ink never exceeds 255.
        device = VISUAL if table[:, 3].max() <= 255 else BLIND
    levels = device.pressure_levels or 1024
    if table[:, 3].min() < 0 or table[:, 3].max() > levels - 1:
        raise InvalidSignature(f"{name}: pressure outside 0..{levels - 1}")
    starts = (table[:, 4] == 1)[:-1]
    stroke_start = [False, *starts]
    return make_signature(x=table[:, 0], y=table[:, 1], t=table[:, 2], pressure=table[:, 3] / (levels - 1),
                          stroke_start=stroke_start, device=device)


def device_for_path(path: Path) -> Device | None:
    """The SUSIG device implied by a file's folder, if any."""
    parts = {p.lower() for p in path.parts}
    if "blindsubcorpus" in parts:
        return BLIND
    if "visualsubcorpus" in parts:
        return VISUAL
    return None


def read(source: Source) -> Signature:
    """Read a SUSIG ``.sig`` file."""
    data, name = read_bytes(source)
    device = None if isinstance(source, (bytes, bytearray)) else device_for_path(Path(source))
    return parse(decode_text(data, name), name, device)
