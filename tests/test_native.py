"""The native JSON packet: lossless round trip, schema conformance, hostile input."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inkwitness.errors import InvalidSignature
from inkwitness.formats import native
from inkwitness.signature import OPTIONAL_CHANNELS, CaptureContext, Device, make_signature

from .conftest import synthetic_signature


@st.composite
def signatures(draw):
    """Arbitrary valid signatures, with optional channels, hover runs and strokes."""
    n = draw(st.integers(10, 120))
    finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    x = draw(st.lists(finite, min_size=n, max_size=n))
    y = draw(st.lists(finite, min_size=n, max_size=n))
    steps = draw(st.lists(st.floats(1.0, 500, allow_nan=False), min_size=n - 1, max_size=n - 1))
    t = np.concatenate(([0.0], np.cumsum(steps)))
    pressure = draw(st.none() | st.lists(st.floats(0, 1), min_size=n, max_size=n))
    names = draw(st.sets(st.sampled_from(OPTIONAL_CHANNELS)))
    channels = {c: draw(st.lists(st.floats(-90, 90), min_size=n, max_size=n)) for c in names}
    down = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    down[0] = True
    starts = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return make_signature(x=x, y=y, t=t, pressure=pressure, channels=channels, pen_down=down, stroke_start=starts,
                          device=Device(kind="touch", model="test", device_pixel_ratio=2.0),
                          capture=CaptureContext(time="2026-11-25T10:00:00+08:00", extra={"k": [1, "二"]}))


@settings(max_examples=60, deadline=None)
@given(signatures())
def test_native_roundtrip_is_lossless(sig):
    back = native.loads(native.dumps(sig))
    assert back.canonical_bytes() == sig.canonical_bytes()
    for name in ("t", "x", "y"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sig, name))
    assert [s.start for s in back.strokes] == [s.start for s in sig.strokes]
    assert back.device == sig.device and back.capture == sig.capture


@settings(max_examples=30, deadline=None)
@given(signatures())
def test_every_packet_conforms_to_the_published_schema(sig):
    jsonschema.validate(json.loads(native.dumps(sig)), native.json_schema())


def test_published_schema_file_matches_the_code(tmp_path):
    from pathlib import Path

    published = Path(__file__).parent.parent / "docs" / "signature.schema.json"
    assert json.loads(published.read_text()) == native.json_schema()


def test_repairs_survive_the_roundtrip():
    t = np.arange(30) * 10.0
    t[5] = t[4]
    sig = make_signature(x=np.arange(30.0), y=np.arange(30.0) ** 1.5, t=t)
    assert native.loads(native.dumps(sig)).repairs == sig.repairs


@pytest.mark.parametrize("payload, message", [
    (b"[1,2]", "JSON object"),
    (b'{"format":"inkwitness.signature/1"}', "no strokes"),
    (b'{"format":"other/9","strokes":[]}', "format must be"),
    (b'{"format":"inkwitness.signature/1","strokes":[{"x":[NaN],"y":[1]}]}', "NaN"),
    (b'{"format":"inkwitness.signature/1","strokes":[{"x":[1,2],"y":[1]}]}', "expected 2"),
    (b'{"format":"inkwitness.signature/1","strokes":[{"x":["1"],"y":[1]}]}', "list of numbers"),
    (b'{"format":"inkwitness.signature/1","strokes":[{"x":[1],"y":[1],"z":[1]}]}', "unknown field"),
    (b'{"format":"inkwitness.signature/1","evil":1,"strokes":[]}', "unknown field"),
    (b'{"format":"inkwitness.signature/1","device":{"kind":"pen","pressure_levels":true},"strokes":[]}', "pressure_levels"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b"{not json", "not valid JSON"),
])
def test_hostile_packets_raise_only_invalid_signature(payload, message):
    with pytest.raises(InvalidSignature, match=message):
        native.loads(payload)


def test_strokes_must_share_channels():
    packet = json.loads(native.dumps(synthetic_signature()))
    del packet["strokes"][1]["pressure"]
    with pytest.raises(InvalidSignature, match="same channels"):
        native.loads(json.dumps(packet))
