"""Shared fixtures: the public datasets (skipped with a reason when absent) and generated signatures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inkwitness.datasets import DATA_ENV, default_data_root
from inkwitness.signature import Device, Signature, make_signature


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The data root; tests that need it skip when it is missing."""
    root = default_data_root()
    if not (root / "svc2004").is_dir():
        pytest.skip(f"public datasets not found at {root} (set {DATA_ENV})")
    return root


def synthetic_signature(seed: int = 0, n: int = 200, pressure: bool = True, rate_hz: float = 100.0) -> Signature:
    """A smooth pseudo-signature: a few loops with pressure and tilt, for unit tests."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * (1000.0 / rate_hz)
    phase = np.linspace(0, 6 * np.pi, n)
    x = 3000 + 1500 * np.sin(phase) + phase * 400 + rng.normal(0, 3, n)
    y = 2000 + 800 * np.cos(1.5 * phase) + rng.normal(0, 3, n)
    starts = np.zeros(n, dtype=bool)
    starts[[n // 3, 2 * n // 3]] = True
    p = np.clip(0.5 + 0.3 * np.sin(phase * 2) + rng.normal(0, 0.02, n), 0, 1) if pressure else None
    return make_signature(x=np.round(x), y=np.round(y), t=t, pressure=p, stroke_start=starts,
                          channels={"tilt_x": np.round(20 * np.sin(phase), 1), "tilt_y": np.full(n, -15.0)},
                          device=Device(kind="pen", sampling_rate_hz=rate_hz, pressure_levels=1024))


@pytest.fixture
def sig() -> Signature:
    """A synthetic signature with pressure and tilt."""
    return synthetic_signature()
