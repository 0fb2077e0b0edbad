"""The learned, writer-independent parameters of the verifier, stored as JSON beside the code.

A model is trained on development datasets (``inkwitness train``) and never on the
people it is later used to verify. It fixes the time functions compared, the DTW band,
the population spread of each global feature, the selected global features, the fusion
weights and the operating threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InkwitnessError
from .features.globalfeatures import FEATURE_NAMES

MODEL_FORMAT = "inkwitness.model/2"
#: Formats this code reads: /1 files lack the mean template and the standardised fusion (defaults apply).
READABLE_FORMATS = ("inkwitness.model/1", MODEL_FORMAT)
#: DTW views: (name, time functions when both sides have pressure, time functions otherwise).
VIEWS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("all", ("x", "y", "vx", "vy", "pressure"), ("x", "y", "vx", "vy")),
    ("dyn", ("vx", "vy", "pressure"), ("vx", "vy", "speed")),
    ("dir", ("cos_angle", "sin_angle", "speed"), ("cos_angle", "sin_angle", "speed")),
    # The DsDTW set (Jiang et al., IEEE TIFS 2022): 15 Hz low-passed trajectory and its derivatives.
    ("ds", ("lp_x", "lp_y", "lp_speed", "lp_cos", "lp_sin", "lp_log_radius", "lp_dspeed", "lp_acceleration",
            "lp_v_dtheta", "lp_pressure", "lp_dpressure"),
     ("lp_x", "lp_y", "lp_speed", "lp_cos", "lp_sin", "lp_log_radius", "lp_dspeed", "lp_acceleration",
      "lp_v_dtheta")),
)
#: Views measured in the Engine II ablation (docs/accuracy.md): the path-signature view (method 4)
#: and the contextual view (method 3's contextual DTW).
EXTRA_VIEWS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("sig", ("ps_x", "ps_y", "ps_tx", "ps_ty", "ps_area_tx", "ps_area_ty", "ps_area_xy", "ps_p", "ps_tp",
             "ps_area_tp", "ps_area_xp", "ps_area_yp"),
     ("ps_x", "ps_y", "ps_tx", "ps_ty", "ps_area_tx", "ps_area_ty", "ps_area_xy")),
    ("ctx", tuple(f"ctx_{n}_{k:+d}" for n in ("vx", "vy", "pressure") for k in (-6, -3, 0, 3, 6)),
     tuple(f"ctx_{n}_{k:+d}" for n in ("vx", "vy", "speed") for k in (-6, -3, 0, 3, 6))),
)
COMPONENTS = ("all_mean", "all_min", "all_tempo", "dyn_mean", "dyn_min", "dir_mean", "dir_min", "global")


def read_tagged(text: str, formats: tuple[str, ...], what: str) -> dict[str, Any]:
    """The object of a JSON file tagged with one of ``formats`` (tag removed); a clear error otherwise."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InkwitnessError(f"{what} file is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.pop("format", None) not in formats:
        raise InkwitnessError(f"{what} file is not {formats[-1]}")
    return data


def spread_key(view: str, with_pressure: bool) -> str:
    """Key of a view's population spread prior in ``Model.spread_prior``."""
    return f"{view}:{'pressure' if with_pressure else 'no-pressure'}"


@dataclass(frozen=True)
class Model:
    """Verifier parameters; see ``docs/accuracy.md`` for how the shipped values were chosen."""

    views: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = VIEWS
    window_frac: float = 0.15
    min_window: float = 10.0
    global_features: tuple[str, ...] = FEATURE_NAMES
    population_std: tuple[float, ...] = tuple([1.0] * len(FEATURE_NAMES))
    global_floor: float = 0.3
    global_cap: float = 5.0
    # Shrinkage of each person's reference spread toward the population's: with 3-5
    # references the spread among them is a noisy estimate, and dividing by it alone makes
    # people with unusually tight references look forged (see docs/accuracy.md).
    spread_shrink: float = 0.0
    spread_prior: dict[str, tuple[float, float]] = field(default_factory=dict)
    fusion_components: tuple[str, ...] = COMPONENTS
    fusion_weights: tuple[float, ...] = (0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0)
    fusion_bias: float = 0.0
    # Standardisation of each fused log-component (centre, scale), learned with the weights;
    # empty means none (centre 0, scale 1), as in format /1.
    fusion_center: tuple[float, ...] = ()
    fusion_scale: tuple[float, ...] = ()
    # The view whose time functions build the stability-weighted mean template (None: no template).
    template_view: str | None = "all"
    # The view whose time functions train each person's vector-quantisation codebook (None: none).
    codebook_view: str | None = None
    threshold: float = 0.0
    trained_on: tuple[str, ...] = ()
    notes: dict[str, Any] = field(default_factory=dict)

    def prior_spread(self, view: str, with_pressure: bool) -> tuple[float, float]:
        """Population (mean, closest-reference) DTW spread of a view, scaled by the shrinkage; zeros if untrained."""
        prior = self.spread_prior.get(spread_key(view, with_pressure))
        if prior is None or not self.spread_shrink:
            return 0.0, 0.0
        return self.spread_shrink * prior[0], self.spread_shrink * prior[1]

    def view_functions(self, with_pressure: bool) -> list[tuple[str, tuple[str, ...]]]:
        """(view name, time functions) to compare, given whether both sides have pressure."""
        return [(name, tuple(p) if with_pressure else tuple(g)) for name, p, g in self.views]

    @property
    def population_std_array(self) -> np.ndarray:
        """Population std of every global feature, as an array."""
        return np.asarray(self.population_std, dtype=np.float64)

    def global_index(self) -> list[int]:
        """Indices of the selected global features."""
        return [FEATURE_NAMES.index(n) for n in self.global_features if n in FEATURE_NAMES]

    def fuse(self, components: dict[str, float]) -> float:
        """Fused score (log-odds-like; higher = more genuine) from distance components."""
        total = self.fusion_bias
        center = self.fusion_center or (0.0,) * len(self.fusion_components)
        scale = self.fusion_scale or (1.0,) * len(self.fusion_components)
        for name, weight, c, sc in zip(self.fusion_components, self.fusion_weights, center, scale):
            # A global feature one side lacks (no pressure) counts as no deviation (1 + |z| = 1).
            value = components.get(name, 1.0) if name.startswith("g:") else components[name]
            total += weight * (math.log(max(value, 1e-9)) - c) / sc
        return float(total)

    def to_json(self) -> str:
        """Serialise with a format tag."""
        return json.dumps({"format": MODEL_FORMAT, **asdict(self)}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Model:
        """Parse a serialised model."""
        data = read_tagged(text, READABLE_FORMATS, "model")
        data.setdefault("template_view", None)  # format /1 had no mean template
        data.setdefault("codebook_view", None)
        tuples = {k for k, v in asdict(cls()).items() if isinstance(v, tuple)}
        kwargs = {k: tuple(v) if k in tuples else v for k, v in data.items()}
        if "spread_prior" in kwargs:
            kwargs["spread_prior"] = {str(k): (float(v[0]), float(v[1])) for k, v in kwargs["spread_prior"].items()}
        if "views" in kwargs:
            kwargs["views"] = tuple((str(n), tuple(p), tuple(g)) for n, p, g in kwargs["views"])
        model = cls(**kwargs)
        if len(model.population_std) != len(FEATURE_NAMES):
            raise InkwitnessError("model was trained with a different global feature set; retrain it")
        return model

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read a model file."""
        return cls.from_json(Path(path).read_text())


@lru_cache(maxsize=1)
def default_model() -> Model:
    """The shipped model (``inkwitness/models/default.json``), or untrained defaults if absent."""
    try:
        text = resources.files("inkwitness").joinpath("models/default.json").read_text()
    except (FileNotFoundError, OSError):
        return Model()
    return Model.from_json(text)
