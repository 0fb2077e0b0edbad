"""Electronic finger-press (电子捺印): fingerprint captures, record formats, quality, matching and the red mark.

Beside ``signature``, ``features`` and ``matching``; imports nothing above it.
"""

from .images import png_bytes, read_fingerprint, read_iso19794_4, write_iso19794_4
from .matcher import Comparison, Extraction, Matcher, compare, extract
from .minutiae import FingerView, Minutia, Template, read_template, write_iso2005
from .quality import QualityReport, assess, require_quality
from .sample import (FINGER_POSITIONS, Fingerprint, FingerprintContext, FingerprintDevice, InvalidFingerprint,
                     LowQualityCapture)

__all__ = [
    "FINGER_POSITIONS", "Comparison", "Extraction", "FingerView", "Fingerprint", "FingerprintContext",
    "FingerprintDevice", "InvalidFingerprint", "LowQualityCapture", "Matcher", "Minutia", "QualityReport",
    "Template", "assess", "compare", "extract", "png_bytes", "read_fingerprint", "read_iso19794_4",
    "read_template", "require_quality", "write_iso19794_4", "write_iso2005",
]
