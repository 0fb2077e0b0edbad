"""The Signature packet model: validation, repairs, strokes and identity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inkwitness.errors import InvalidSignature
from inkwitness.signature import (MAX_POINTS, CaptureContext, Device, Signature, make_signature,
                                  repair_timestamps)

from .conftest import synthetic_signature

N = 50
X = np.linspace(0, 1000, N)
Y = np.linspace(0, 500, N) ** 1.1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("channel", ["x", "y", "t", "pressure"])
def test_non_finite_values_are_rejected_with_the_channel_named(channel, bad):
    values = {"x": X.copy(), "y": Y.copy(), "t": np.arange(N) * 10.0, "pressure": np.full(N, 0.5)}
    values[channel][7] = bad
    with pytest.raises(InvalidSignature, match=f"channel {channel} has a non-finite value .* at sample 7"):
        make_signature(**values)


def test_empty_and_too_short_input_is_rejected():
    with pytest.raises(InvalidSignature, match="0 points"):
        make_signature(x=[], y=[], t=[])
    with pytest.raises(InvalidSignature, match="at least 10"):
        make_signature(x=X[:5], y=Y[:5], t=np.arange(5) * 10.0)


def test_absurd_sizes_and_durations_are_rejected():
    n = MAX_POINTS + 1
    with pytest.raises(InvalidSignature, match="at most"):
        make_signature(x=np.zeros(n), y=np.zeros(n), t=np.arange(n, dtype=float))
    with pytest.raises(InvalidSignature, match="lasts"):
        make_signature(x=X, y=Y, t=np.arange(N) * 60_000.0)
    with pytest.raises(InvalidSignature, match="exceed"):
        make_signature(x=X * 1e8, y=Y, t=np.arange(N) * 10.0)


def test_wrong_types_and_shapes_are_rejected():
    with pytest.raises(InvalidSignature, match="not numeric"):
        make_signature(x=["a"] * N, y=Y, t=np.arange(N) * 10.0)
    with pytest.raises(InvalidSignature, match="one-dimensional"):
        make_signature(x=np.zeros((N, 2)), y=Y, t=np.arange(N) * 10.0)
    with pytest.raises(InvalidSignature, match="expected 50"):
        make_signature(x=X, y=Y[:-1], t=np.arange(N) * 10.0)
    with pytest.raises(InvalidSignature, match="normalised"):
        make_signature(x=X, y=Y, t=np.arange(N) * 10.0, pressure=np.full(N, 512.0))
    with pytest.raises(InvalidSignature, match="unknown channel"):
        make_signature(x=X, y=Y, t=np.arange(N) * 10.0, channels={"heat": np.zeros(N)})
    with pytest.raises(InvalidSignature, match="device kind"):
        Device(kind="quill")
    with pytest.raises(InvalidSignature, match="timezone"):
        CaptureContext(time="2026-01-01T10:00:00")


def test_repeated_timestamps_are_retimed_by_interpolation_and_recorded():
    t = np.arange(N) * 10.0
    t[10] = t[9]
    fixed, notes = repair_timestamps(t)
    assert np.all(np.diff(fixed) > 0)
    assert fixed[10] == pytest.approx(100.0)
    assert notes == ["timestamps: 1 repeated sample(s) re-timed by interpolation"]


def test_small_backward_steps_are_repaired_but_large_ones_refused():
    t = np.arange(N) * 10.0 + 5000
    t[20] = t[19] - 9
    sig = make_signature(x=X, y=Y, t=t)
    assert sig.t[0] == 0 and np.all(np.diff(sig.t) > 0)
    assert any("backward (up to 9 ms)" in r for r in sig.repairs)
    t[20] = t[19] - 5000
    with pytest.raises(InvalidSignature, match="steps back by"):
        make_signature(x=X, y=Y, t=t)


def test_counter_glitch_spikes_are_retimed():
    t = np.arange(N) * 10.0
    t[30] += 4294967.0
    fixed, notes = repair_timestamps(t)
    assert fixed[30] == pytest.approx(300.0)
    assert "counter glitch" in notes[0]


def test_fixed_rate_data_gets_time_from_the_declared_rate():
    sig = make_signature(x=X, y=Y, device=Device(sampling_rate_hz=200.0))
    assert sig.timing == "nominal"
    assert sig.t[1] == pytest.approx(5.0)
    assert "declared rate of 200 Hz" in sig.repairs[0]
    with pytest.raises(InvalidSignature, match="no declared sampling rate"):
        make_signature(x=X, y=Y)


def test_missing_channels_are_absent_not_zero_filled():
    sig = make_signature(x=X, y=Y, t=np.arange(N) * 10.0)
    assert sig.pressure is None and sig.channels == {}
    assert sig.channel_names == ("t", "x", "y")
    assert "pressure" not in sig.to_dict()["strokes"][0]


def test_strokes_split_on_pen_state_and_on_marked_starts():
    down = np.ones(N, dtype=bool)
    down[20:25] = False
    starts = np.zeros(N, dtype=bool)
    starts[40] = True
    sig = make_signature(x=X, y=Y, t=np.arange(N) * 10.0, pen_down=down, stroke_start=starts)
    assert [(s.start, s.stop, s.pen_down) for s in sig.strokes] == [(0, 20, True), (20, 25, False),
                                                                     (25, 40, True), (40, 50, True)]


def test_arrays_are_read_only(sig: Signature):
    with pytest.raises(ValueError):
        sig.x[0] = 1.0


def test_canonical_bytes_write_integral_values_as_integers(sig: Signature):
    text = sig.canonical_bytes().decode()
    assert text.startswith('{"device":')
    assert '"t":[0,10,20,' in text
    assert " " not in text


def test_sha256_is_stable_and_changes_with_any_sample(sig: Signature):
    again = synthetic_signature()
    assert sig.sha256 == again.sha256 and sig == again
    x = sig.x.copy()
    x[5] += 1
    other = make_signature(x=x, y=sig.y, t=sig.t, pressure=sig.pressure, channels=sig.channels, device=sig.device,
                           stroke_start=np.diff(sig.stroke, prepend=0) > 0)
    assert other.sha256 != sig.sha256
