"""The red finger-press mark (红色捺印): the capture's own ridges in seal-paste red, as PNG or SVG.

The mark is drawn from the captured image itself (enhanced ridges inside the finger
area), never from a stock picture, so it shows the print that was escrowed. It is an
illustration for the signed page: the evidence is the escrowed image and template.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

from .enhance import enhance, foreground_mask
from .sample import Fingerprint

#: Seal-paste (印泥) red.
INK_RGB = (200, 32, 32)


def ridge_map(fp: Fingerprint) -> np.ndarray:
    """Ink coverage 0..1 per pixel: 1 on ridges inside the finger, 0 in valleys and outside it."""
    img = np.asarray(fp.image)
    enhanced = enhance(img, fp.ppi).astype(np.float64)
    mask = foreground_mask(img, fp.ppi)
    # A soft, rounded edge looks like a pressed finger rather than a cut-out.
    edge = ndimage.gaussian_filter(ndimage.binary_erosion(mask, iterations=3).astype(np.float64), 3.0)
    ink = np.clip((160.0 - enhanced) / 100.0, 0.0, 1.0)
    return ink * edge


def mark_png(fp: Fingerprint, rgb: tuple[int, int, int] = INK_RGB) -> bytes:
    """RGBA PNG, transparent where there is no ink, tagged with the capture's resolution (true size)."""
    ink = ridge_map(fp)
    h, w = ink.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = rgb
    rgba[..., 3] = np.round(255 * ink).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG", dpi=(fp.ppi, fp.ppi))
    return buf.getvalue()


def mark_svg(fp: Fingerprint, rgb: tuple[int, int, int] = INK_RGB, level: float = 0.5) -> str:
    """SVG of the ridges as filled outlines, sized in millimetres so it prints at the finger's true size."""
    import contourpy

    ink = ndimage.gaussian_filter(ridge_map(fp), 0.7)
    h, w = ink.shape
    gen = contourpy.contour_generator(z=ink, fill_type=contourpy.FillType.OuterOffset)
    polygons, offsets = gen.filled(level, 2.0)
    paths = []
    for points, offs in zip(polygons, offsets, strict=True):
        parts = []
        for a, b in zip(offs[:-1], offs[1:], strict=True):
            ring = points[a:b]
            parts.append("M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in ring) + " Z")
        paths.append(" ".join(parts))
    mm_w, mm_h = w / fp.ppi * 25.4, h / fp.ppi * 25.4
    colour = "#{:02x}{:02x}{:02x}".format(*rgb)
    body = "\n".join(f'<path d="{d}"/>' for d in paths)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{mm_w:.2f}mm" height="{mm_h:.2f}mm" '
            f'viewBox="0 0 {w} {h}">\n<g fill="{colour}" fill-rule="evenodd" fill-opacity="0.9">\n'
            f'{body}\n</g>\n</svg>\n')
