"""Duplicates of a real signature: the entry points training and enrolment use."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..signature import Signature
from .extraction import extract
from .model import LognormalModel
from .perturb import Kind, perturb
from .synthesize import synthesize

METHOD = "sigma-lognormal"


def _marker(model: LognormalModel, kind: str, what: str) -> tuple[str, dict[str, Any]]:
    """The repairs note and capture ``extra`` that mark a sample as synthetic, naming its source."""
    sha = model.source.sha256
    note = f"{METHOD} {what} of {sha[:12]}"
    extra = {"synthetic": {"method": METHOD, "kind": kind, "source_sha256": sha,
                           "velocity_snr_db": round(model.snr_db, 2)}}
    return note, extra


def reconstruct(model: LognormalModel, keep_residual: bool = True) -> Signature:
    """The unperturbed model synthesised again (a check of the extraction)."""
    note, extra = _marker(model, "reconstruction", "reconstruction")
    return synthesize(model, note=note, keep_residual=keep_residual, extra=extra)


def duplicate(sig: Signature | LognormalModel, kind: Kind = "genuine",
              rng: np.random.Generator | int | None = None) -> Signature:
    """One synthetic sample: ``kind`` "genuine" (duplicate for enrolment) or "forgery" (training negative).

    Pass a :class:`LognormalModel` instead of the signature to reuse one extraction.
    """
    model = sig if isinstance(sig, LognormalModel) else extract(sig)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    note, extra = _marker(model, kind, f"{kind}-like duplicate")
    return synthesize(perturb(model, kind, gen), note=note, extra=extra)


def duplicates(sig: Signature | LognormalModel, n: int, kind: Kind = "genuine", seed: int = 0) -> list[Signature]:
    """``n`` synthetic samples of one kind, deterministic given ``seed`` (one extraction)."""
    model = sig if isinstance(sig, LognormalModel) else extract(sig)
    gen = np.random.default_rng(seed)
    return [duplicate(model, kind, gen) for _ in range(n)]
