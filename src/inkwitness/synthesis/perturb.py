"""Perturbation of sigma-lognormal parameters: genuine-like and forgery-like variability.

Relative ranges from Diaz, Fischer, Ferrer & Plamondon, "Dynamic signature verification
system based on one real signature" (IEEE Trans. Cybernetics 48(1), 2018), as used by
SynSig2Vec (Lai et al., IEEE TPAMI 2021): each parameter P of each component
becomes P (1 + eps r), r the negative or positive bound of its range chosen at random,
eps ~ U(0, 0.25) for intra-writer (genuine-like) variation and 0.4 + U(0, 0.25) for
forgery-like variation. Angles get additive uniform noise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from .lognormal import D, MU, SIGMA, T0, THETA_E, THETA_S
from .model import LognormalModel

Kind = Literal["genuine", "forgery"]

#: Relative bounds (negative side, positive side) per parameter.
RELATIVE_BOUNDS: dict[int, tuple[float, float]] = {
    D: (-0.10, 0.10),
    T0: (-0.085, 0.0825),
    MU: (-0.2517, 0.2633),
    SIGMA: (-0.2875, 0.325),
}
#: eps = offset + U(0, 0.25) by kind.
EPS_OFFSET: dict[str, float] = {"genuine": 0.0, "forgery": 0.4}
EPS_SPAN = 0.25
#: Half-width (rad) of the uniform noise added to theta_s and theta_e, by kind.
ANGLE_NOISE: dict[str, float] = {"genuine": 0.1, "forgery": 0.2}


def perturb_components(components: np.ndarray, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    """Perturbed copy of a ``K x 6`` component array (t0 relative to the stroke's start)."""
    if kind not in EPS_OFFSET:
        raise ValueError(f"kind must be 'genuine' or 'forgery', got {kind!r}")
    out = components.copy()
    k = out.shape[0]
    for col, (neg, pos) in RELATIVE_BOUNDS.items():
        bound = np.where(rng.random(k) < 0.5, neg, pos)
        eps = EPS_OFFSET[kind] + rng.uniform(0.0, EPS_SPAN, k)
        out[:, col] *= 1.0 + eps * bound
    half = ANGLE_NOISE[kind]
    out[:, [THETA_S, THETA_E]] += rng.uniform(-half, half, (k, 2))
    return out


def perturb(model: LognormalModel, kind: Kind, rng: np.random.Generator) -> LognormalModel:
    """The model with every pen-down stroke's components perturbed (draws in stroke order)."""
    if kind not in EPS_OFFSET:
        raise ValueError(f"kind must be 'genuine' or 'forgery', got {kind!r}")
    strokes = tuple(s.with_components(perturb_components(s.components, kind, rng)) if s.components.shape[0] else s
                    for s in model.strokes)
    return replace(model, strokes=strokes)
