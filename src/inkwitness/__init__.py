"""inkwitness: handwritten electronic signatures that courts can rely on."""

from .errors import (DatasetError, EnrolmentError, IncompatibleSignatures, InkwitnessError, InvalidSignature,
                     UnsupportedFormat)
from .formats import detect_format, read_signature, write_signature
from .signature import CaptureContext, Device, Signature, Stroke, make_signature

__version__ = "0.1.0"

__all__ = [
    "CaptureContext", "DatasetError", "Device", "EnrolmentError", "IncompatibleSignatures", "InkwitnessError",
    "InvalidSignature", "Signature", "Stroke", "UnsupportedFormat", "detect_format", "make_signature",
    "read_signature", "write_signature", "__version__",
]
