"""Server-side page images of a PDF (pypdfium2), so the signer's phone needs no PDF viewer."""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from threading import Lock

from ...errors import InkwitnessError

#: Widest page image served (CSS px at 2x on a phone); bounds the work a link can cause.
MAX_WIDTH = 1400
#: Widths actually rendered: a requested width is rounded up to one of these, so varying the
#: width in the URL cannot make every request a fresh render.
WIDTHS = (400, 700, 1000, 1400)
#: Rendered pages kept per process (~50-300 kB each).
CACHE_SIZE = 64
# PDFium is not thread-safe: one render at a time per process.
_LOCK = Lock()
_CACHE: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()


class DocumentError(InkwitnessError):
    """The uploaded file is not a PDF that can be shown (422)."""


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    """Each page's (width, height) in PDF points."""
    import pypdfium2 as pdfium

    with _LOCK:
        try:
            doc = pdfium.PdfDocument(pdf)
        except pdfium.PdfiumError as exc:
            raise DocumentError(f"the file is not a readable PDF ({exc})") from exc
        try:
            return [tuple(doc[i].get_size()) for i in range(len(doc))]  # type: ignore[misc]
        finally:
            doc.close()


def page_png(pdf: bytes, page: int, width: int = 900) -> bytes:
    """PNG of page ``page`` (1-based), at least ``width`` pixels wide (one of WIDTHS), cached."""
    width = next((w for w in WIDTHS if w >= width), MAX_WIDTH)
    key = (hashlib.sha256(pdf).hexdigest(), page, width)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    data = _render(pdf, page, width)
    with _LOCK:
        _CACHE[key] = data
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return data


def _render(pdf: bytes, page: int, width: int) -> bytes:
    import pypdfium2 as pdfium

    with _LOCK:
        doc = pdfium.PdfDocument(pdf)
        try:
            if not 1 <= page <= len(doc):
                raise DocumentError(f"page {page} is not in the document (1..{len(doc)})")
            p = doc[page - 1]
            image = p.render(scale=width / p.get_size()[0]).to_pil()
        finally:
            doc.close()
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()
