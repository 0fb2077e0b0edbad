"""Fonts that render Chinese: an embedded TrueType CJK font when the system has one.

reportlab embeds TrueType (not CFF/OpenType-PS) outlines, so Noto CJK cannot be used; the
WenQuanYi Zen Hei and AR PL UMing collections can. Without them the report falls back to
reportlab's built-in STSong-Light CID font, which PDF readers render from their own
Chinese fonts.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)
FONT_NAME = "InkwitnessCJK"


def cjk_font_file() -> Path | None:
    """The first usable CJK TrueType collection on this system."""
    return next((p for p in CANDIDATES if p.exists()), None)


@lru_cache(maxsize=1)
def register_pdf_font() -> str:
    """Register a CJK font with reportlab; returns the font name to use."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    path = cjk_font_file()
    if path is not None:
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
        return FONT_NAME
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


@lru_cache(maxsize=1)
def matplotlib_font_family() -> str | None:
    """Register the CJK font with matplotlib; returns its family name, or None."""
    import logging

    from matplotlib import font_manager

    # WenQuanYi has a single weight; matplotlib would warn on every bold/normal lookup.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    path = cjk_font_file()
    if path is None:
        return None
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()
