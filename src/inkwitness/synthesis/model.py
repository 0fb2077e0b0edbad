"""The sigma-lognormal model of a signature: lognormal components per stroke, plus what they miss."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..signature import Signature


@dataclass(frozen=True)
class StrokeModel:
    """One stroke of the source: its lognormal components and the trajectory they do not explain.

    ``components`` is ``K x 6`` (D, t0, mu, sigma, theta_s, theta_e) with time in seconds
    from the stroke's first sample; hover strokes and strokes too short to fit have none.
    ``residual`` is the source trajectory minus the model's, on the stroke's uniform grid
    (``n x 2``), so that synthesis of the unperturbed model reproduces the source.
    """

    index: int
    pen_down: bool
    start: int                # the source's sample range sig[start:stop]
    stop: int
    start_ms: float
    duration_ms: float
    x0: float                 # first and last point of the stroke on its grid
    y0: float
    x1: float
    y1: float
    components: np.ndarray
    residual: np.ndarray
    energy: float             # sum of |v|^2 of the observed velocity
    error: float              # sum of |v - v_hat|^2
    extracted: np.ndarray | None = None   # the components as extracted, once perturbed

    @property
    def snr_db(self) -> float:
        """Velocity reconstruction SNR of this stroke in dB."""
        return _snr(self.energy, self.error)

    @property
    def unperturbed(self) -> np.ndarray:
        """The components as extracted from the source."""
        return self.components if self.extracted is None else self.extracted

    def with_components(self, components: np.ndarray) -> StrokeModel:
        """A copy with other components (e.g. perturbed); the residual and the extracted ones are kept."""
        return replace(self, components=components, extracted=self.unperturbed)


@dataclass(frozen=True)
class LognormalModel:
    """A signature as sums of lognormals, one sum per pen-down stroke, with the pen-up timing kept."""

    strokes: tuple[StrokeModel, ...]
    rate_hz: float
    source: Signature

    @property
    def snr_db(self) -> float:
        """Velocity reconstruction SNR over all pen-down strokes, in dB."""
        return _snr(sum(s.energy for s in self.strokes), sum(s.error for s in self.strokes))

    @property
    def n_components(self) -> int:
        """Total number of lognormal components."""
        return sum(s.components.shape[0] for s in self.strokes)

    def parameters(self) -> np.ndarray:
        """All components as one ``K x 7`` array: stroke index, then the six parameters."""
        rows = [np.column_stack((np.full(s.components.shape[0], s.index), s.components)) for s in self.strokes]
        return np.vstack(rows) if rows else np.zeros((0, 7))


def _snr(energy: float, error: float) -> float:
    if error <= 0.0:
        return math.inf
    if energy <= 0.0:
        return -math.inf
    return 10.0 * math.log10(energy / error)
