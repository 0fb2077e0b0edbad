"""ISO/IEC 19794-7 full format: scaling field, round trips within the scaling step, hostile bytes."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inkwitness.errors import InkwitnessError, InvalidSignature, UnsupportedFormat
from inkwitness.formats import iso19794_7 as iso
from inkwitness.signature import Device

from .conftest import synthetic_signature
from .test_native import signatures


def test_scaling_formula_follows_the_standard():
    # value = (1 + F/2048) * 2^(E-16)
    assert iso.decode_scaling((16 << 11) | 0) == 1.0
    assert iso.decode_scaling((17 << 11) | 1024) == 3.0
    assert iso.decode_scaling((0 << 11) | 0) == 2.0 ** -16
    assert iso.encode_scaling(3.0) == (17 << 11) | 1024
    assert iso.encode_scaling(100.0) == (22 << 11) | 1152


@given(st.floats(2.0 ** -15, 2.0 ** 15))
def test_encoded_scaling_never_exceeds_the_requested_value_by_more_than_rounding(value):
    decoded = iso.decode_scaling(iso.encode_scaling(value))
    assert decoded <= value
    assert decoded > value * (1 - 1 / 1024)


def test_header_starts_with_magic_version_and_inclusion_field(sig):
    data = iso.dumps(sig)
    assert data[:8] == b"SDI\x00 10\x00"
    inclusion = struct.unpack(">H", data[8:10])[0]
    names = [c for i, c in enumerate(iso.CHANNELS) if inclusion & (1 << (15 - i))]
    assert names == ["X", "Y", "DT", "F", "S", "TX", "TY"]


def _step(values: np.ndarray, signed: bool) -> float:
    """The largest rounding error one channel may carry, in its physical unit."""
    code = iso._scaling_for(values, signed)
    return 0.5 / iso.decode_scaling(code) + 1e-9


def _assert_within_step(sig, back):
    upm = sig.device.units_per_mm or iso.NOMINAL_UNITS_PER_MM
    assert len(back) == len(sig)
    for name in ("x", "y"):
        v = getattr(sig, name)
        tol = _step((v - v.min()) / upm, True) * upm * (1 + 1e-9) + 1e-6
        np.testing.assert_allclose(getattr(back, name), v, rtol=0, atol=tol)
    np.testing.assert_allclose(back.t, sig.t, rtol=0, atol=_step(np.diff(sig.t) / 1000, False) * 1000 + 1e-6)
    if sig.pressure is not None:
        np.testing.assert_allclose(back.pressure, sig.pressure, rtol=0, atol=_step(sig.pressure, False) + 1e-12)
    for name, values in sig.channels.items():
        iso_name = iso._OPTIONAL_TO_ISO[name]
        expected = np.mod(values, 360.0) if iso_name in ("AZ", "R") else values
        np.testing.assert_allclose(back.channels[name], expected, rtol=0,
                                   atol=_step(expected, iso_name in iso.SIGNED) + 1e-9)
    np.testing.assert_array_equal(back.pen_down, sig.pen_down)
    assert [s.start for s in back.strokes] == [s.start for s in sig.strokes]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signatures())
def test_iso_roundtrip_preserves_every_channel_to_its_scaling_step(sig):
    if "altitude" in sig.channels and sig.channels["altitude"].min() < 0:
        with pytest.raises(UnsupportedFormat):
            iso.dumps(sig)
        return
    _assert_within_step(sig, iso.loads(iso.dumps(sig)))


def test_iso_roundtrip_keeps_device_capture_and_units():
    sig = synthetic_signature()
    back = iso.loads(iso.dumps(sig))
    assert back.device == sig.device
    _assert_within_step(sig, back)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_typed_errors(data):
    with pytest.raises(InkwitnessError):
        iso.loads(b"SDI\x00 10\x00" + data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_truncated_or_corrupted_records_raise_only_typed_errors(data):
    record = bytearray(iso.dumps(synthetic_signature(n=40)))
    cut = data.draw(st.integers(0, len(record) - 1))
    with pytest.raises(InkwitnessError):
        iso.loads(bytes(record[:cut]))
    pos = data.draw(st.integers(0, len(record) - 1))
    record[pos] ^= data.draw(st.integers(1, 255))
    try:
        iso.loads(bytes(record))
    except InkwitnessError:
        pass


def test_records_missing_x_or_y_are_rejected():
    data = bytearray(iso.dumps(synthetic_signature()))
    data[8:10] = struct.pack(">H", struct.unpack(">H", data[8:10])[0] & ~(1 << 14))
    with pytest.raises(InvalidSignature, match="mandatory X and Y"):
        iso.loads(bytes(data))


def test_foreign_records_without_our_extended_data_are_read_in_mm():
    # Two channels X, Y with scaling 10/mm and a DT channel in seconds at 1/1000 s.
    header = b"SDI\x00 10\x00" + struct.pack(">H", (1 << 15) | (1 << 14) | (1 << 7))
    ten = iso.encode_scaling(10.0)
    thousand = iso.encode_scaling(1000.0)
    header += bytes([0x80]) + struct.pack(">H", ten) + bytes([0x80]) + struct.pack(">H", ten)
    header += bytes([0x80]) + struct.pack(">H", thousand)
    n = 12
    body = bytes([0]) + n.to_bytes(3, "big")
    for i in range(n):
        body += struct.pack(">HHH", 32768 + 10 * i, 32768 + 5 * i, 0 if i == 0 else 10)
    sig = iso.loads(header + body)
    assert sig.device.units_per_mm == iso.NOMINAL_UNITS_PER_MM
    dec_ten = iso.decode_scaling(ten)
    assert sig.x[3] == pytest.approx(30 / dec_ten * 100)
    assert sig.t[3] == pytest.approx(30 / iso.decode_scaling(thousand) * 1000)


def test_real_files_roundtrip_within_step(data_root):
    from inkwitness.formats import read_signature

    for rel in ("svc2004/Task2/U1S1.TXT", "format-samples/mcyt100/0000/0000v00.fpg",
                "sigcomp2011_dutch_online/genuine/001_1.HWR", "susig/BlindSubCorpus/GENUINE/045_g_4.sig"):
        sig = read_signature(data_root / rel)
        _assert_within_step(sig, iso.loads(iso.dumps(sig)))


def test_device_resolution_sets_the_mm_scale():
    sig = synthetic_signature()
    from inkwitness.signature import make_signature

    with_upm = make_signature(x=sig.x, y=sig.y, t=sig.t, device=Device(units_per_mm=200.0))
    data = iso.dumps(with_upm)
    back = iso.loads(data)
    assert back.device.units_per_mm == 200.0
    _assert_within_step(with_upm, back)
