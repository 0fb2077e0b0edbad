"""A small learned time-function embedding compared by DTW (method 7 of the Engine II issue).

A 1-D convolutional network maps each sample's DsDTW time functions and their
neighbourhood (receptive field :data:`RECEPTIVE_FIELD` samples) to a vector; two signatures
are then compared by DTW between their embedded sequences, exactly like any other view.
It is trained with a triplet loss along DTW alignments (``inkwitness.embedding_training``,
which needs PyTorch); inference here is plain numpy, so verifying needs no framework.
Weights live in a versioned JSON file beside the models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import InkwitnessError
from .model import read_tagged

EMBEDDING_FORMAT = "inkwitness.embedding/1"
#: Input channels (features/timefunctions.py); pressure channels are zero for pen-less devices.
CHANNELS = ("lp_x", "lp_y", "lp_speed", "lp_cos", "lp_sin", "lp_log_radius", "lp_dspeed", "lp_acceleration",
            "lp_v_dtheta", "lp_pressure", "lp_dpressure")
PRESSURE_CHANNELS = ("lp_pressure", "lp_dpressure")
KERNEL = 5
#: The network sees every second sample (50 Hz): DTW along the embedded sequences is then four
#: times cheaper, and 0.02 s steps still resolve the fastest strokes' velocity peaks.
STRIDE = 2
DILATIONS = (1, 2, 4)
RECEPTIVE_FIELD = 1 + sum((KERNEL - 1) * d for d in DILATIONS)


def input_matrix(functions: tuple[str, ...], matrix: np.ndarray) -> np.ndarray:
    """The network's (ceil(n / STRIDE), len(CHANNELS)) input from a prepared signature's z-normalised time functions."""
    rows = matrix[::STRIDE]
    out = np.zeros((rows.shape[0], len(CHANNELS)))
    for j, name in enumerate(CHANNELS):
        if name in functions:
            out[:, j] = rows[:, functions.index(name)]
        elif name not in PRESSURE_CHANNELS:
            raise InkwitnessError(f"time function {name} is missing")
    return out


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, dilation: int) -> np.ndarray:
    """'Same' dilated convolution of an (n, c_in) sequence with (c_out, c_in, k) weights, edges replicated."""
    k = weight.shape[2]
    half = dilation * (k // 2)
    padded = np.pad(x, ((half, half), (0, 0)), mode="edge")
    windows = sliding_window_view(padded, (k - 1) * dilation + 1, axis=0)[:, :, ::dilation]  # (n, c_in, k)
    return np.einsum("nck,ock->no", windows, weight, optimize=True) + bias


@dataclass(frozen=True)
class Embedding:
    """Trained weights: dilated convolutions with ReLU, then a linear projection.

    Without ``skip`` each embedded sample is unit-normalised; with it (a (dimension, channels)
    matrix) the output is ``skip @ x + projection(h)``, a residual on the input time functions
    that starts training from plain DTW on them.
    """

    convs: tuple[tuple[np.ndarray, np.ndarray], ...]
    projection: tuple[np.ndarray, np.ndarray]
    notes: dict
    skip: np.ndarray | None = None

    @property
    def dimension(self) -> int:
        """Length of each embedded sample."""
        return int(self.projection[0].shape[0])

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Embed an (n, len(CHANNELS)) input into an (n, dimension) contiguous sequence."""
        h = x
        for (w, b), dilation in zip(self.convs, DILATIONS):
            h = np.maximum(conv1d(h, w, b, dilation), 0.0)
        out = h @ self.projection[0].T + self.projection[1]
        if self.skip is not None:
            return np.ascontiguousarray(out + x @ self.skip.T)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return np.ascontiguousarray(out)

    def to_json(self) -> str:
        """Serialise with a format tag."""
        return json.dumps({"format": EMBEDDING_FORMAT, "notes": self.notes,
                           "convs": [[w.tolist(), b.tolist()] for w, b in self.convs],
                           "projection": [self.projection[0].tolist(), self.projection[1].tolist()],
                           "skip": None if self.skip is None else self.skip.tolist()})

    @classmethod
    def from_json(cls, text: str) -> Embedding:
        """Parse serialised weights."""
        data = read_tagged(text, (EMBEDDING_FORMAT,), "embedding")
        try:
            convs = tuple((np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                          for w, b in data["convs"])
            w, b = data["projection"]
            skip = data.get("skip")
            embedding = cls(convs, (np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)),
                            data.get("notes", {}), None if skip is None else np.asarray(skip, dtype=np.float64))
        except (KeyError, TypeError, ValueError) as exc:
            raise InkwitnessError(f"embedding file is malformed: {exc!r}") from exc
        if len(convs) != len(DILATIONS):
            raise InkwitnessError(f"embedding file has {len(convs)} convolutions, expected {len(DILATIONS)}")
        return embedding

    @classmethod
    def load(cls, path: str | Path) -> Embedding:
        """Read weights from a file."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
