"""Server-side page images of a PDF (pypdfium2), so the signer's phone needs no PDF viewer."""

from __future__ import annotations

import io
from threading import Lock

from ...errors import InkwitnessError

#: Widest page image served (CSS px at 2x on a phone); bounds the work a link can cause.
MAX_WIDTH = 1400
# PDFium is not thread-safe: one render at a time per process.
_LOCK = Lock()


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
    """PNG of page ``page`` (1-based), ``width`` pixels wide (capped)."""
    import pypdfium2 as pdfium

    width = max(100, min(int(width), MAX_WIDTH))
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
