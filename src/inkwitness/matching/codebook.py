"""A person's vector-quantisation codebook and the mismatch of a sample against it (method 3, VQ part).

Sharma & Sundaram (Pattern Recognition Letters 2016) complement DTW with a per-user
codebook learned from the references' time-function vectors: a genuine sample is made of
the same local "strokes" as the references, so it is quantised with low distortion and uses
the codewords in similar proportions, while a forgery's local dynamics fall between
codewords. Both mismatches are measured here; :class:`~inkwitness.verification.Template`
divides them by what the references themselves show when each is left out of the codebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.vq import kmeans2

#: Codewords per person (5 references of 100-800 samples each give 5-40 samples per codeword).
CODEWORDS = 16
_SEED = 20161


@dataclass(frozen=True)
class Codebook:
    """Codewords and how often the references use each one."""

    codewords: np.ndarray   # (k, d)
    usage: np.ndarray       # (k,) share of reference samples quantised to each codeword

    def assign(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest codeword of every row and its squared distance."""
        d2 = ((matrix[:, None, :] - self.codewords[None, :, :]) ** 2).sum(axis=2)
        nearest = d2.argmin(axis=1)
        return nearest, d2[np.arange(d2.shape[0]), nearest]

    def mismatch(self, matrix: np.ndarray) -> tuple[float, float]:
        """(mean quantisation distortion per dimension, chi-square distance of codeword usage) of a sample."""
        nearest, d2 = self.assign(matrix)
        share = np.bincount(nearest, minlength=self.codewords.shape[0]) / max(matrix.shape[0], 1)
        chi2 = 0.5 * float(np.sum((share - self.usage) ** 2 / np.maximum(share + self.usage, 1e-12)))
        return float(d2.mean() / matrix.shape[1]), chi2


def fit_codebook(matrices: Sequence[np.ndarray], k: int = CODEWORDS) -> Codebook:
    """k-means codebook of the pooled reference rows (deterministic)."""
    pooled = np.vstack(matrices)
    k = max(1, min(k, pooled.shape[0] // 4))
    codewords, labels = kmeans2(pooled, k, minit="++", seed=_SEED, missing="raise" if k == 1 else "warn")
    usage = np.bincount(labels, minlength=k) / pooled.shape[0]
    return Codebook(np.ascontiguousarray(codewords), usage)


def own_mismatch(matrices: Sequence[np.ndarray], k: int = CODEWORDS) -> tuple[float, float]:
    """Mean leave-one-out mismatch of the references: each against the codebook of the others."""
    values = [fit_codebook([m for j, m in enumerate(matrices) if j != i], k).mismatch(matrices[i])
              for i in range(len(matrices))]
    return float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values]))
