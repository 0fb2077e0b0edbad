"""Ridge enhancement: oriented Gabor filtering tuned to the local ridge flow (Hong, Wan and Jain 1998)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

#: Mean ridge period of adult fingers, in mm (about 9 px at 500 ppi).
RIDGE_PERIOD_MM = 0.46
N_ORIENTATIONS = 16


def foreground_mask(image: np.ndarray, ppi: float, block_mm: float = 0.8, threshold: float = 0.1) -> np.ndarray:
    """Pixels inside the finger: blocks whose grey-level spread is that of ridges, not of background."""
    norm = _normalise(image)
    block = max(4, int(round(block_mm / 25.4 * ppi)))
    mean = ndimage.uniform_filter(norm, block)
    local_sd = np.sqrt(np.maximum(ndimage.uniform_filter(norm ** 2, block) - mean ** 2, 0))
    mask = local_sd > threshold
    # Ridge valleys and pores make holes; closing then opening keeps one solid region.
    mask = ndimage.binary_closing(mask, np.ones((block, block)), iterations=2)
    mask = ndimage.binary_opening(mask, np.ones((block, block)))
    return ndimage.binary_fill_holes(mask)


def ridge_orientation(image: np.ndarray, ppi: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ridge direction (radians, 0..pi) and its coherence (0..1) from smoothed gradients."""
    norm = _normalise(image)
    gx = ndimage.gaussian_filter(norm, 1.0, order=(0, 1))
    gy = ndimage.gaussian_filter(norm, 1.0, order=(1, 0))
    sigma = 7.0 * ppi / 500.0
    gxx = ndimage.gaussian_filter(gx * gx, sigma)
    gyy = ndimage.gaussian_filter(gy * gy, sigma)
    gxy = ndimage.gaussian_filter(gx * gy, sigma)
    # The gradient is across the ridges; ridges run at a right angle to it.
    theta = (0.5 * np.arctan2(2 * gxy, gxx - gyy) + np.pi / 2) % np.pi
    coherence = np.hypot(gxx - gyy, 2 * gxy) / np.maximum(gxx + gyy, 1e-9)
    return theta, coherence


def enhance(image: np.ndarray, ppi: float = 500.0) -> np.ndarray:
    """An 8-bit image with dark, continuous ridges on white; background outside the finger is white."""
    img = np.asarray(image, dtype=np.float64)
    norm = _normalise(img)
    mask = foreground_mask(img, ppi)
    theta, _ = ridge_orientation(img, ppi)
    period = RIDGE_PERIOD_MM / 25.4 * ppi
    sigma = 0.55 * period
    half = int(np.ceil(3 * sigma))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    index = np.round(theta / np.pi * N_ORIENTATIONS).astype(int) % N_ORIENTATIONS
    out = np.zeros_like(norm)
    for k in range(N_ORIENTATIONS):
        if not (index == k).any():
            continue
        angle = k * np.pi / N_ORIENTATIONS
        # Coordinate across the ridge: the cosine wave runs along it at the ridge frequency.
        across = -xx * np.sin(angle) + yy * np.cos(angle)
        kernel = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2)) * np.cos(2 * np.pi * across / period)
        kernel -= kernel.mean()
        filtered = signal.fftconvolve(norm, kernel, mode="same")
        out[index == k] = filtered[index == k]
    out = np.where(mask, out, 0.0)
    scale = np.percentile(np.abs(out[mask]), 95) if mask.any() else 1.0
    # Ridges are dark in the input, so negative responses are ridges: map them to black.
    grey = 127.5 + 127.5 * np.clip(out / max(scale, 1e-9), -1, 1)
    grey[~mask] = 255
    return grey.astype(np.uint8)


def _normalise(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    sd = img.std()
    return (img - img.mean()) / (sd if sd > 0 else 1.0)
