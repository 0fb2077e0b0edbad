"""The service's input validation: text fields every backend stores and every renderer accepts.

Pydantic models and form fields use these types, so bad input is a 422 before any handler runs.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ..errors import InvalidSignature
from ..signature import Signature

# NUL is refused by PostgreSQL text columns; other control characters have no place in names
# and would garble logs, reports and listings.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Characters that are markup in reports (reportlab paragraphs) and in the HTML of any consumer.
_MARKUP = re.compile(r"[<>&]")
#: Largest coordinate of a signature box in PDF points (PDF's own limit for a page side).
MAX_BOX_POINTS = 14_400.0


def has_format_characters(value: str) -> bool:
    """Whether the text holds invisible format characters (Unicode category Cf).

    Bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C) reorder what a page or a PDF
    shows ("U+202E" makes "txt.exe" read "exe.txt"); zero-width characters (U+200B-U+200D, U+2060,
    U+FEFF) make two different texts look alike.
    """
    return any(unicodedata.category(ch) == "Cf" for ch in value)


def visible_text(value: str) -> str:
    """Refuse invisible format characters (bidi controls, zero-width characters) in a text field."""
    if has_format_characters(value):
        raise ValueError("must not contain invisible formatting characters (bidi controls, zero-width characters)")
    return value


def strip_format_characters(value: str) -> str:
    """The text without invisible format characters (for display of texts stored before they were refused)."""
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cf")


def plain_text(value: str) -> str:
    """Refuse control characters (NUL included) and invisible format characters in a text field."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return visible_text(value)


def report_text(value: str) -> str:
    """Refuse control characters and markup characters (< > &) in text printed in reports."""
    plain_text(value)
    if _MARKUP.search(value):
        raise ValueError("must not contain the characters < > &")
    return value


#: A name or reference of at most 200 characters, without control characters.
Text = Annotated[str, Field(max_length=200), AfterValidator(plain_text)]
#: A non-empty name.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(plain_text)]
#: Text that appears in a forensic report.
ReportText = Annotated[str, Field(max_length=200), AfterValidator(report_text)]


#: Longest signature the service accepts. Comparison work grows with duration, not with the
#: number of points sent: every packet is resampled to 100 Hz, so a 10-point packet spanning
#: ten minutes became 60,000 points (0.65 s of CPU per verification). 30 s bounds a
#: comparison at 3,000 resampled points; real signatures take 1-15 s.
MAX_SERVICE_DURATION_MS = 30_000.0
#: Most points per packet the service accepts (a 30 s signature at 240 Hz has 7,200).
MAX_SERVICE_POINTS = 10_000


def check_workload(sig: Signature, what: str = "signature") -> Signature:
    """Refuse packets whose comparison would cost more than a bounded amount of CPU (422)."""
    if sig.duration_ms > MAX_SERVICE_DURATION_MS:
        raise InvalidSignature(f"{what} lasts {sig.duration_ms / 1000:.1f} s; this service accepts at most "
                               f"{MAX_SERVICE_DURATION_MS / 1000:.0f} s")
    if len(sig) > MAX_SERVICE_POINTS:
        raise InvalidSignature(f"{what} has {len(sig)} points; this service accepts at most {MAX_SERVICE_POINTS}")
    return sig


def check_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A signature box inside PDF's coordinate range, with an area (else InvalidSignature, 422)."""
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) and abs(v) <= MAX_BOX_POINTS for v in box):
        raise InvalidSignature(f"box coordinates must be finite and within +-{MAX_BOX_POINTS:g} points")
    if abs(x2 - x1) < 1 or abs(y2 - y1) < 1:
        raise InvalidSignature("box must be at least 1 point wide and high")
    return box


#: Largest side of a posted fingerprint image, checked before decoding (a small PNG can claim a huge image).
MAX_FINGER_SIDE = 2000


def read_capture(data: bytes, fmt: str, ppi: float | None, finger: int) -> Any:
    """A finger image record posted by a capture agent (PNG, WSQ or ISO/IEC 19794-4), as a Fingerprint (else 422)."""
    import io

    from PIL import Image

    from ..fingerprint import Fingerprint, InvalidFingerprint, read_fingerprint, read_iso19794_4
    from ..fingerprint.images import image_format

    try:
        found = image_format(data)
        if found != fmt:
            raise InvalidFingerprint(f"the image is {found}, not {fmt} as stated")
        if fmt == "png":
            with Image.open(io.BytesIO(data)) as im:
                if max(im.size) > MAX_FINGER_SIDE:
                    raise InvalidFingerprint(f"image is {im.size[0]} x {im.size[1]} pixels; each side must be at "
                                             f"most {MAX_FINGER_SIDE}")
        if fmt == "iso19794-4":
            fp = read_iso19794_4(data, ppi=ppi)
            if fp.finger not in (0, finger):
                raise InvalidFingerprint(f"the record is of finger position {fp.finger}, not {finger}")
            return Fingerprint(fp.image, fp.ppi, finger, fp.device, fp.capture)
        return read_fingerprint(data, ppi=ppi, finger=finger)
    except InvalidFingerprint:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure on untrusted bytes is the client's 422
        raise InvalidFingerprint(f"the {fmt} image could not be read: {type(exc).__name__}") from None
