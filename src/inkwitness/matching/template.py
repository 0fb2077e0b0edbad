"""A person's mean template: DTW barycentre averaging of the references with per-point stability.

Okawa (Pattern Recognition 2021) compares a questioned signature with one mean template of
the references instead of with each reference, and weights each template point by how
consistently the references agree there. The mean is found by DTW barycentre averaging
(Petitjean et al., Pattern Recognition 2011): start from the medoid reference, align every
reference to the current mean, replace each mean point by the average of the points aligned
to it, and repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .dtw import dtw_alignment, dtw_kernel, dtw_weighted_kernel

#: Floor added to each point's spread before inverting it: z-normalised time functions vary by
#: about 0.3 between a writer's references where they agree best, and the floor keeps a point
#: that three references happened to agree on from dominating the distance.
STABILITY_FLOOR = 0.3


@dataclass(frozen=True)
class MeanTemplate:
    """The barycentre of the references and the weight of each of its points."""

    mean: np.ndarray      # (n, d)
    weights: np.ndarray   # (n, d): 1 / (spread of the aligned references + floor)

    def distance(self, other: np.ndarray, window_frac: float, min_window: float) -> float:
        """Stability-weighted DTW cost per path step from the template to ``other``."""
        window = max(min_window, window_frac * max(self.mean.shape[0], other.shape[0]))
        cost, length = dtw_weighted_kernel(self.mean, self.weights, other, window)
        return cost / length if length else np.inf


def _window(a: np.ndarray, b: np.ndarray, window_frac: float, min_window: float) -> float:
    return max(min_window, window_frac * max(a.shape[0], b.shape[0]))


def _aligned_moments(mean: np.ndarray, series: Sequence[np.ndarray], window_frac: float,
                     min_window: float) -> tuple[np.ndarray, np.ndarray]:
    total = np.zeros_like(mean)
    squares = np.zeros_like(mean)
    count = np.zeros(mean.shape[0])
    for s in series:
        path = dtw_alignment(mean, s, _window(mean, s, window_frac, min_window))
        np.add.at(total, path[:, 0], s[path[:, 1]])
        np.add.at(squares, path[:, 0], s[path[:, 1]] ** 2)
        np.add.at(count, path[:, 0], 1.0)
    avg = total / count[:, None]
    return avg, np.sqrt(np.maximum(squares / count[:, None] - avg ** 2, 0.0))


def mean_template(series: Sequence[np.ndarray], window_frac: float, min_window: float, iterations: int = 3,
                  floor: float = STABILITY_FLOOR) -> MeanTemplate:
    """DBA mean of (n_i, d) references, starting from their medoid, with local-stability weights."""
    k = len(series)
    if k == 0:
        raise ValueError("a mean template needs at least one reference")
    total = np.zeros(k)
    for i in range(k):
        for j in range(i + 1, k):
            cost, length = dtw_kernel(series[i], series[j], _window(series[i], series[j], window_frac, min_window),
                                      False)
            d = cost / length if length else np.inf
            total[i] += d
            total[j] += d
    mean = np.ascontiguousarray(series[int(np.argmin(total))], dtype=np.float64)
    for _ in range(iterations):
        mean, _ = _aligned_moments(mean, series, window_frac, min_window)
    mean = np.ascontiguousarray(mean)
    _, spread = _aligned_moments(mean, series, window_frac, min_window)
    return MeanTemplate(mean, np.ascontiguousarray(1.0 / (spread + floor)))
