"""Reading fingerprint images: PNG, TIFF, BMP (with a stated resolution), WSQ, and ISO/IEC 19794-4:2005 records.

Writes ISO/IEC 19794-4:2005 records (uncompressed or PNG) and PNG with the resolution tagged.
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .sample import Fingerprint, FingerprintDevice, InvalidFingerprint

MAX_FILE_BYTES = 32 * 1024 * 1024
IMAGE_FORMATS = ("png", "tiff", "bmp", "wsq", "iso19794-4")
# ISO/IEC 19794-4 compression codes.
_COMPRESSION = {0: "raw", 1: "raw-packed", 2: "wsq", 3: "jpeg", 4: "jpeg2000", 5: "png"}
_SCALE_PPI, _SCALE_PPCM = 1, 2


def image_format(data: bytes) -> str:
    """The fingerprint image format of ``data``, from its magic bytes."""
    if data[:4] == b"FIR\0":
        return "iso19794-4"
    if data[:2] == b"\xff\xa0":
        return "wsq"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    if data[:2] == b"BM":
        return "bmp"
    raise InvalidFingerprint("not a fingerprint image this reader knows (PNG, TIFF, BMP, WSQ, ISO/IEC 19794-4)")


def read_fingerprint(source: str | Path | bytes, ppi: float | None = None, finger: int = 0,
                     device: FingerprintDevice | None = None) -> Fingerprint:
    """Read a fingerprint image; ``ppi`` overrides the file's resolution and is required when it has none."""
    data = _bytes(source)
    fmt = image_format(data)
    if fmt == "iso19794-4":
        return read_iso19794_4(data, ppi=ppi, device=device)
    if fmt == "wsq":
        import wsq  # noqa: F401  (registers the WSQ codec with Pillow)

        image = _decode(data)
        match = re.search(rb"\nPPI (\d+)", data[:4096])
        stated = float(match.group(1)) if match and int(match.group(1)) > 0 else None
    else:
        with Image.open(io.BytesIO(data)) as im:
            stated = _tagged_ppi(im)
        image = _decode(data)
    resolution = ppi or stated
    if resolution is None:
        where = source if isinstance(source, (str, Path)) else "the image"
        raise InvalidFingerprint(f"{where} states no usable resolution; give it (e.g. --ppi 500)")
    return Fingerprint(image, resolution, finger, device)


def read_iso19794_4(data: bytes, ppi: float | None = None, device: FingerprintDevice | None = None
                    ) -> Fingerprint:
    """The first finger image of an ISO/IEC 19794-4:2005 finger image record."""
    if data[:8] != b"FIR\0 10\0":
        raise InvalidFingerprint("not an ISO/IEC 19794-4:2005 finger image record ('FIR 10' header)")
    try:
        length = int.from_bytes(data[8:14], "big")
        (equip, _level, n_fingers, scale, sx, sy, ix, iy, depth, compression,
         _reserved) = struct.unpack(">HHBBHHHHBBH", data[14:32])
        if n_fingers < 1:
            raise InvalidFingerprint("ISO/IEC 19794-4 record holds no finger image")
        block, finger, _views, _view, _quality, _impression, w, h, _r = struct.unpack(">IBBBBBHHB", data[32:46])
    except struct.error as exc:
        raise InvalidFingerprint(f"ISO/IEC 19794-4 record is truncated: {exc}") from exc
    if length != len(data):
        raise InvalidFingerprint(f"ISO/IEC 19794-4 record says {length} bytes but has {len(data)}")
    payload = data[46:32 + block]
    if compression == 0:
        if depth != 8 or len(payload) != w * h:
            raise InvalidFingerprint("only 8-bit uncompressed ISO/IEC 19794-4 images are supported")
        image = np.frombuffer(payload, dtype=np.uint8).reshape(h, w)
    elif compression in (2, 3, 4, 5):
        if compression == 2:
            import wsq  # noqa: F401

        image = _decode(payload)
    else:
        raise InvalidFingerprint(f"ISO/IEC 19794-4 compression {_COMPRESSION.get(compression, compression)} "
                                 "is not supported")
    stated = float(ix if scale == _SCALE_PPI else ix * 2.54) if ix else None
    resolution = ppi or stated
    if resolution is None:
        raise InvalidFingerprint("ISO/IEC 19794-4 record states no resolution; give it")
    return Fingerprint(image, resolution, finger if finger <= 10 else 0, device or FingerprintDevice())


def write_iso19794_4(fp: Fingerprint, compression: str = "png") -> bytes:
    """An ISO/IEC 19794-4:2005 record holding ``fp`` (``raw`` or lossless ``png``)."""
    if compression == "raw":
        code, payload = 0, fp.image.tobytes()
    elif compression == "png":
        code, payload = 5, png_bytes(fp)
    else:
        raise InvalidFingerprint(f"compression must be raw or png, got {compression!r}")
    ppi = int(round(fp.ppi))
    finger_block = struct.pack(">IBBBBBHHB", 14 + len(payload), fp.finger, 1, 1, 254, 0, fp.width, fp.height, 0)
    length = 32 + len(finger_block) + len(payload)
    # Quality 254 means "not computed"; level 31 is the 500 ppi acquisition setting.
    header = b"FIR\0 10\0" + length.to_bytes(6, "big") + struct.pack(
        ">HHBBHHHHBBH", 0, 31, 1, _SCALE_PPI, ppi, ppi, ppi, ppi, 8, code, 0)
    return header + finger_block + payload


def png_bytes(fp: Fingerprint) -> bytes:
    """Lossless PNG of the image with its resolution tagged."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(fp.image)).save(buf, "PNG", dpi=(fp.ppi, fp.ppi))
    return buf.getvalue()


def _tagged_ppi(im: Image.Image) -> float | None:
    # TIFFs with no real resolution tag report 1 x 1 (FVC2002): treat anything implausible as absent.
    dpi = im.info.get("dpi")
    if not dpi:
        return None
    value = float(dpi[0])
    unit = im.info.get("resolution_unit") or (im.tag_v2.get(296) if hasattr(im, "tag_v2") else None)
    if unit == 3:  # pixels per centimetre
        value *= 2.54
    # PNG stores pixels per metre, so 500 ppi comes back as 499.999...
    value = float(round(value)) if abs(value - round(value)) < 0.05 else value
    return value if 250 <= value <= 2000 else None


def _decode(data: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I"):
                arr = np.asarray(im, dtype=np.float64)
                arr = arr / max(arr.max(), 1) * 255
                return arr.astype(np.uint8)
            return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidFingerprint(f"image does not decode: {exc}") from exc


def _bytes(source: str | Path | bytes) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidFingerprint(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise InvalidFingerprint("image is too large")
    return data
