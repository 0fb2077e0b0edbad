"""Sigma-lognormal extraction and synthesis: genuine-like duplicates and forgery-like negatives.

A signature's pen-down strokes are decomposed into sums of lognormal velocity components
(O'Reilly & Plamondon 2009); perturbing the components' parameters within the ranges of
Diaz et al. (2018) and synthesising again yields new samples of the same writer's
movement (genuine-like) or of a looser imitation (forgery-like). See ``docs/synthesis.md``.
"""

from __future__ import annotations

from .generation import duplicate, duplicates, reconstruct
from .extraction import extract
from .lognormal import PARAMS, displacement, snr_db, velocity
from .model import LognormalModel, StrokeModel
from .perturb import Kind, perturb
from .synthesize import synthesize

__all__ = ["PARAMS", "Kind", "LognormalModel", "StrokeModel", "displacement", "duplicate", "duplicates", "extract",
           "perturb", "reconstruct", "snr_db", "synthesize", "velocity"]
