"""DTW throughput against dtaidistance's C ``dtw_ndim.distance_fast`` on the same inputs, band and dimension."""

from __future__ import annotations

import sys

import numpy as np
from _common import interleaved_seconds
from dtaidistance import dtw_ndim

from inkwitness.matching.dtw import dtw_cost_kernel, dtw_distance, dtw_kernel


def main(n: int = 300, dims: int = 5, pairs: int = 100, window: int = 30) -> dict[str, float]:
    """Pairs per second for both implementations and their ratio (ours / dtaidistance)."""
    rng = np.random.default_rng(0)
    # Random walks look like pen trajectories more than white noise does.
    series = [np.cumsum(rng.normal(size=(n, dims)), axis=0) for _ in range(2 * pairs)]
    for a, b in zip(series[::2][:5], series[1::2][:5]):
        assert abs(dtw_distance(a, b, window=window - 1) - dtw_ndim.distance_fast(a, b, window=window)) < 1e-8

    def ours() -> None:
        for a, b in zip(series[::2], series[1::2]):
            dtw_cost_kernel(a, b, float(window - 1), True)

    def theirs() -> None:
        for a, b in zip(series[::2], series[1::2]):
            dtw_ndim.distance_fast(a, b, window=window)

    def ours_with_length() -> None:
        # What verification runs: the cost plus the warping-path length (more work than dtaidistance does).
        for a, b in zip(series[::2], series[1::2]):
            dtw_kernel(a, b, float(window - 1), False)

    medians = interleaved_seconds({"ours": ours, "theirs": theirs, "with_length": ours_with_length})
    t_ours, t_theirs, t_length = medians["ours"], medians["theirs"], medians["with_length"]
    result = {"n": n, "dims": dims, "window": window, "ours_pairs_per_s": pairs / t_ours,
              "dtaidistance_pairs_per_s": pairs / t_theirs, "ratio": t_theirs / t_ours,
              "with_length_pairs_per_s": pairs / t_length, "with_length_ratio": t_theirs / t_length}
    print(f"DTW {n}x{n}, {dims} dims, band {window}: inkwitness {result['ours_pairs_per_s']:.0f} pairs/s, "
          f"dtaidistance {result['dtaidistance_pairs_per_s']:.0f} pairs/s, ratio {result['ratio']:.2f}x; "
          f"with path length {result['with_length_pairs_per_s']:.0f} pairs/s, "
          f"ratio {result['with_length_ratio']:.2f}x")
    return result


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
