"""SCUT-MMSIG text files (no header): mobile ``x y t_ms button``, tablet ``x y button``, in-air ``x y``.

``button`` is 0 on the first sample of each stroke and 1 elsewhere, like SVC2004. The
tablet and in-air sub-corpora carry no timestamps and their rates are not published;
we declare the devices' nominal rates (UGEE EX05 pen tablet ~ 200 reports/s would
contradict the writing durations of the phone set, so 100 Hz; iPad Air 2 high-speed
camera 120 frames/s) and mark the timing as nominal.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidSignature
from ..signature import Device, Signature, make_signature
from ._text import Source, decode_text, numeric_table, read_bytes

MOBILE = Device(kind="touch", model="LG-G3 phone, finger (SCUT-MMSIG mobile)")
TABLET = Device(kind="pen", model="UGEE EX05 pen tablet (SCUT-MMSIG tablet)", sampling_rate_hz=100.0)
INAIR = Device(kind="camera", model="iPad Air 2 camera, fingertip (SCUT-MMSIG in-air)", sampling_rate_hz=120.0)


def parse(text: str, name: str = "<scut>", device: Device | None = None) -> Signature:
    """Parse a SCUT-MMSIG file; the column count tells the sub-corpus."""
    table = numeric_table(text.splitlines(), name, (2, 3, 4))
    width = table.shape[1]
    if width == 4:
        return make_signature(x=table[:, 0], y=table[:, 1], t=table[:, 2], stroke_start=table[:, 3] == 0,
                              device=device or MOBILE)
    if width == 3:
        return make_signature(x=table[:, 0], y=table[:, 1], stroke_start=table[:, 2] == 0, device=device or TABLET)
    if width == 2:
        return make_signature(x=table[:, 0], y=table[:, 1], device=device or INAIR)
    raise InvalidSignature(f"{name}: unexpected {width} columns")


def device_for_path(path: Path) -> Device | None:
    """The SCUT-MMSIG device implied by a file's folder, if any."""
    parent = path.parent.name.lower()
    return {"mobile": MOBILE, "tablet": TABLET, "inair": INAIR}.get(parent)


def read(source: Source) -> Signature:
    """Read a SCUT-MMSIG file."""
    data, name = read_bytes(source)
    device = None if isinstance(source, (bytes, bytearray)) else device_for_path(Path(source))
    return parse(decode_text(data, name), name, device)
