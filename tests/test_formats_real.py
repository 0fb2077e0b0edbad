"""Every reader on the real dataset files, one test per quirk named in the PROVENANCE files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from inkwitness.errors import InvalidSignature, UnsupportedFormat
from inkwitness.formats import detect_format, read_signature

pytestmark = pytest.mark.data


def test_svc2004_task2_reads_all_channels_in_degrees(data_root):
    sig = read_signature(data_root / "svc2004/Task2/U1S1.TXT")
    assert len(sig) == 84 and sig.t[0] == 0
    assert sig.channel_names == ("t", "x", "y", "pressure", "azimuth", "altitude")
    assert 28 <= sig.channels["altitude"].min() and sig.channels["altitude"].max() <= 90
    assert sig.device.pressure_levels == 1024 and sig.pressure.max() <= 1


def test_svc2004_button_zero_starts_a_stroke_and_pen_ups_are_unsampled(data_root):
    path = data_root / "svc2004/Task2/U1S1.TXT"
    rows = np.loadtxt(path, skiprows=1)
    sig = read_signature(path)
    assert sig.n_strokes == int((rows[:, 3] == 0).sum())
    assert sig.pen_down.all()


def test_svc2004_undocumented_button_values_count_as_pen_down(data_root):
    for path in sorted((data_root / "svc2004/Task2").glob("*.TXT")):
        rows = np.loadtxt(path, skiprows=1)
        if (rows[:, 3] > 1).any():
            sig = read_signature(path)
            assert sig.pen_down.all()
            assert sig.n_strokes == int((rows[:, 3] == 0).sum())
            return
    pytest.fail("no Task2 file with button values 2..5 found")


def test_svc2004_duplicate_timestamps_are_repaired(data_root):
    path = data_root / "svc2004/Task2/U1S10.TXT"
    raw_t = np.loadtxt(path, skiprows=1)[:, 2]
    sig = read_signature(path)
    if (np.diff(raw_t) == 0).any():
        assert any("repeated" in r for r in sig.repairs)
    assert np.all(np.diff(sig.t) > 0)


def test_svc2004_backward_timestamps_are_repaired(data_root):
    found = 0
    for path in sorted((data_root / "svc2004/Task1").glob("*.TXT")):
        raw_t = np.loadtxt(path, skiprows=1)[:, 2]
        if (np.diff(raw_t) < 0).any():
            sig = read_signature(path)
            assert np.all(np.diff(sig.t) > 0)
            assert any("backward" in r for r in sig.repairs)
            found += 1
    assert found == 59  # PROVENANCE: non-monotonic timestamps in 59 Task1 files


def test_svc2004_task1_has_no_pressure_channel(data_root):
    sig = read_signature(data_root / "svc2004/Task1/U1S1.TXT")
    assert sig.pressure is None and sig.channel_names == ("t", "x", "y")


def test_susig_blind_counter_glitch_files_are_repaired(data_root):
    for rel in ("GENUINE/045_g_4.sig", "GENUINE/045_g_7.sig", "GENUINE/045_g_8.sig", "FORGERY/088_f_5.sig"):
        sig = read_signature(data_root / "susig/BlindSubCorpus" / rel)
        assert any("counter glitch" in r for r in sig.repairs), rel
        assert sig.duration_ms < 20_000, rel
        assert np.all(np.diff(sig.t) > 0)


def test_susig_long_blind_forgeries_are_kept_with_their_real_duration(data_root):
    sig = read_signature(data_root / "susig/BlindSubCorpus/FORGERY/022_f_2.sig")
    assert 80_000 < sig.duration_ms < 96_000


def test_susig_endpoints_close_strokes_and_devices_differ_by_subcorpus(data_root):
    visual = read_signature(data_root / "susig/VisualSubCorpus/GENUINE/SESSION1/001_1_1.sig")
    blind = read_signature(data_root / "susig/BlindSubCorpus/GENUINE/001_g_1.sig")
    assert visual.device.pressure_levels == 256 and blind.device.pressure_levels == 1024
    rows = np.loadtxt(data_root / "susig/VisualSubCorpus/GENUINE/SESSION1/001_1_1.sig", skiprows=2)
    assert visual.n_strokes == int((rows[:-1, 4] == 1).sum()) + 1


def test_susig_backward_timestamps_in_visual_are_repaired(data_root):
    count = 0
    for path in sorted((data_root / "susig/VisualSubCorpus").rglob("*.sig")):
        sig = read_signature(path)
        count += any("backward" in r for r in sig.repairs)
    assert count == 158  # PROVENANCE: non-monotonic timestamps in 158 Visual files


def test_sigcomp2011_zero_pressure_rows_are_hover_samples_at_200hz(data_root):
    path = data_root / "sigcomp2011_dutch_online/genuine/001_1.HWR"
    rows = np.loadtxt(path)
    sig = read_signature(path)
    assert detect_format(path.read_bytes(), path.name) == "sigcomp2011"
    assert sig.timing == "nominal" and sig.t[1] == 5.0
    np.testing.assert_array_equal(sig.pen_down, rows[:, 2] > 0)
    assert any(not s.pen_down for s in sig.strokes)


def test_sigcomp2009_invalid_rows_are_dropped_and_hover_kept(data_root):
    path = data_root / "format-samples/sigcomp2009/NFI/forgeries/NFI-00301002.hwr"
    rows = np.loadtxt(path, skiprows=1)
    invalid = (rows[:, 0] == 0) & (rows[:, 1] == 0) & (rows[:, 2] == -4)
    sig = read_signature(path)
    assert len(sig) == len(rows) - invalid.sum()
    assert any("invalid row" in r for r in sig.repairs)
    assert (sig.x > 0).all()
    assert (~sig.pen_down).sum() == (rows[~invalid, 2] <= 0).sum()
    # The dropped rows keep their slot on the 200 Hz time axis.
    first = int(np.flatnonzero(invalid)[0])
    assert sig.t[first] - sig.t[first - 1] == pytest.approx(5.0 * (1 + invalid[first:].argmin()))


def test_sigcomp2009_nisdcc_corrupt_altitude_is_interpolated(data_root):
    sig = read_signature(data_root / "format-samples/sigcomp2009/NISDCC/NISDCC-021_001_003.hwr")
    assert sig.channels["altitude"].max() <= 90
    assert any("corrupt altitude" in r for r in sig.repairs)


def test_sigcomp2009_nfi_pressure_reaches_1024(data_root):
    sig = read_signature(data_root / "format-samples/sigcomp2009/NFI/genuines/NFI-00311003.hwr")
    assert sig.device.pressure_levels == 1025 and sig.pressure.max() == 1.0


def test_mcyt_fpg_header_and_channels(data_root):
    sig = read_signature(data_root / "format-samples/mcyt100/0000/0000v00.fpg")
    assert sig.device.sampling_rate_hz == 100 and sig.device.units_per_mm == 100
    assert sig.channel_names == ("t", "x", "y", "pressure", "azimuth", "altitude")
    assert len(sig) == (len((data_root / "format-samples/mcyt100/0000/0000v00.fpg").read_bytes()) - 60) // 20


def test_mcyt_fpg_with_inconsistent_sizes_is_rejected(data_root):
    data = bytearray((data_root / "format-samples/mcyt100/0000/0000v00.fpg").read_bytes())
    with pytest.raises(InvalidSignature, match="sizes disagree"):
        read_signature(bytes(data[:-4]))
    data[6] = 9
    with pytest.raises(UnsupportedFormat, match="sample format 9"):
        read_signature(bytes(data))


def test_mcyt_fpg_azimuth_beyond_360_is_wrapped_and_recorded(data_root, tmp_path):
    # PROVENANCE: the MCYT tablet does not wrap azimuth; real files reach 389 and -360 degrees.
    original = data_root / "format-samples/mcyt100/0000/0000v00.fpg"
    data = bytearray(original.read_bytes())
    header, n_channels = 60, 5
    patched = {3: 389.0, 4: 360.0, 7: -350.0}
    for sample, value in patched.items():
        struct.pack_into("<f", data, header + (sample * n_channels + 3) * 4, value)
    path = tmp_path / "0000v00.fpg"
    path.write_bytes(bytes(data))
    sig = read_signature(path)
    before = read_signature(original)
    azimuth = sig.channels["azimuth"]
    assert (azimuth[3], azimuth[4], azimuth[7]) == (29.0, 0.0, 10.0)
    assert ((0 <= azimuth) & (azimuth < 360)).all()
    untouched = np.setdiff1d(np.arange(len(sig)), list(patched))
    np.testing.assert_array_equal(azimuth[untouched], before.channels["azimuth"][untouched])
    np.testing.assert_array_equal(sig.channels["altitude"], before.channels["altitude"])
    assert "3 azimuth value(s) outside 0..360 degrees (-350..389) wrapped mod 360" in sig.repairs
    assert not any("wrapped" in r for r in before.repairs)
    # The repair travels with the packet, so the evidence shows what was changed.
    assert "3 azimuth value(s) outside 0..360 degrees (-350..389) wrapped mod 360" in sig.to_dict()["repairs"]


def test_scut_mmsig_modalities(data_root):
    mobile = read_signature(data_root / "scut_mmsig_sample/mobile/U01S1.txt")
    tablet = read_signature(data_root / "scut_mmsig_sample/tablet/U01S1.txt")
    inair = read_signature(data_root / "scut_mmsig_sample/inair/U01S1.txt")
    assert mobile.device.kind == "touch" and mobile.timing == "measured"
    assert tablet.timing == "nominal" and tablet.n_strokes > 1
    assert inair.device.kind == "camera" and inair.n_strokes == 1


def test_sigwicomp_trj_pen_up_markers_become_stroke_boundaries(data_root):
    path = data_root / "sigwicomp2015_german_sample/A01_R_1.trj"
    rows = np.loadtxt(path, skiprows=1)
    markers = (rows[:, 0] == -1) & (rows[:, 1] == -1)
    sig = read_signature(path)
    assert len(sig) == len(rows) - markers.sum()
    assert sig.device.sampling_rate_hz == 75 and sig.device.units_per_mm == pytest.approx(85 / 25.4)
    assert (sig.x >= 0).all()
    assert sig.n_strokes >= 2
