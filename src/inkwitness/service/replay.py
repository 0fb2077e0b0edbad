"""What the replay check compares: duration-normalised time functions and their fingerprints.

A replay is a stored sample sent again, possibly shifted, scaled or with its timestamps
stretched (x0.9 or x1.1). Every sample is compared after re-timing it to one canonical
duration, so uniform time scaling leaves no trace: on SVC2004 a re-timed replay is at
distance 0 of its source whatever the factor, while the closest other sample of the same
writer (genuine or forged) stays above 0.64 of the references' spread.
"""

from __future__ import annotations

import json

import numpy as np

from ..features.timefunctions import normalise, time_functions, znorm
from ..model import Model
from ..signature import Signature

#: Every sample is re-timed to this duration before the replay comparison.
CANONICAL_MS = 2000.0
#: Rows of the fixed-length screen that ranks all stored samples before any DTW.
SCREEN_ROWS = 32
_LABEL = f"@{CANONICAL_MS:g}ms"


def replay_functions(model: Model) -> tuple[str, ...]:
    """Time functions the replay check compares: the first view without pressure, which every sample has."""
    return model.view_functions(False)[0][1]


def retimed(sig: Signature, duration_ms: float = CANONICAL_MS) -> Signature:
    """The same samples with timestamps scaled to ``duration_ms`` (shape and rhythm kept, tempo removed)."""
    factor = duration_ms / sig.duration_ms if sig.duration_ms > 0 else 1.0
    return Signature(t=sig.t * factor, x=sig.x, y=sig.y, pressure=sig.pressure, pen_down=sig.pen_down,
                     stroke=sig.stroke, channels=sig.channels, device=sig.device, capture=sig.capture,
                     repairs=sig.repairs, timing=sig.timing)


def replay_matrices(sig: Signature, wanted: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Full and 4x-decimated matrices of the time functions ``wanted``, on the re-timed sample."""
    # The replay screen compares plain trajectories: the low-passed DsDTW set would be wasted work.
    names, matrix = time_functions(normalise(retimed(sig)), with_pressure="pressure" in " ".join(wanted),
                                   lowpassed=any(n.startswith("lp_") for n in wanted))
    matrix = znorm(matrix)
    full = np.ascontiguousarray(matrix[:, [names.index(n) for n in wanted]])
    return full, np.ascontiguousarray(full[::4])


def pack_fingerprint(functions: tuple[str, ...], coarse: np.ndarray) -> bytes:
    """Serialise a decimated matrix with the names of its columns (float32 is ample for screening)."""
    return json.dumps([*functions, _LABEL]).encode() + b"\n" + coarse.astype("<f4").tobytes()


def unpack_fingerprint(blob: bytes, functions: tuple[str, ...]) -> np.ndarray | None:
    """The decimated matrix, or None when it was made for other time functions or without re-timing."""
    header, _, raw = blob.partition(b"\n")
    if json.loads(header) != [*functions, _LABEL] or len(raw) % (4 * len(functions)):
        return None
    return np.frombuffer(raw, dtype="<f4").reshape(-1, len(functions)).astype(np.float64)


def screen(coarse: np.ndarray) -> np.ndarray:
    """A fixed-length copy of a decimated matrix, so that all stored samples are ranked in one step."""
    if coarse.shape[0] == SCREEN_ROWS:
        return coarse
    if coarse.shape[0] == 1:
        return np.repeat(coarse, SCREEN_ROWS, axis=0)
    src = np.linspace(0.0, 1.0, coarse.shape[0])
    dst = np.linspace(0.0, 1.0, SCREEN_ROWS)
    return np.stack([np.interp(dst, src, coarse[:, j]) for j in range(coarse.shape[1])], axis=1)
