"""Dataset catalogues report the exact counts stated in each PROVENANCE.md, and the protocols."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkwitness import datasets as ds
from inkwitness.errors import DatasetError


@pytest.mark.data
@pytest.mark.parametrize("name, users, files, genuine, skilled, duplicates", [
    ("svc2004-task1", 40, 1600, 800, 800, 0),
    ("svc2004-task2", 40, 1600, 800, 800, 0),
    # PROVENANCE: 1980 G + 1040 F; the byte-identical pairs 113_1_9/10, 084_f_6/7, 114_f_3/4 are dropped.
    ("susig-visual", 104, 3020, 1979, 1038, 3),
    ("susig-blind", 90, 1740, 840, 894, 6),
    # PROVENANCE: 330 genuine files, 244 unique (86 duplicate pairs), 119 forgeries.
    ("sigcomp2011-dutch", 10, 449, 244, 119, 86),
    ("scut-mmsig-mobile", 1, 30, 10, 20, 0),
    ("scut-mmsig-tablet", 1, 30, 10, 20, 0),
    ("scut-mmsig-inair", 1, 30, 10, 20, 0),
    ("sigwicomp2015-german", 1, 25, 15, 10, 0),
    ("mcyt100", 1, 50, 25, 25, 0),
    # PROVENANCE: NFI-WWWSSOOO; writer 003's forgeries belong to owners 002, 018, 035 and 046.
    ("sigcomp2009-nfi", 5, 35, 11, 24, 0),
    ("sigcomp2009-nisdcc", 1, 15, 5, 10, 0),
])
@pytest.mark.data
def test_catalogue_counts_match_provenance(data_root, name, users, files, genuine, skilled, duplicates):
    cat = ds.catalogue(name, data_root)
    assert (len(cat.users), cat.files_seen, cat.n_genuine, cat.n_skilled, len(cat.duplicates)) == \
        (users, files, genuine, skilled, duplicates)


@pytest.mark.data
def test_susig_visual_session_structure(data_root):
    cat = ds.catalogue("susig-visual", data_root)
    two_sessions = [u for u in cat.users.values() if any(s.session == 2 for s in u.genuine)]
    assert len(two_sessions) == 94
    # PROVENANCE says the session-1-only users are ids >= 101; the files say otherwise.
    session1_only = sorted(set(cat.users) - {u.id for u in two_sessions})
    assert session1_only == ["005", "006", "007", "012", "027", "030", "035", "041", "050", "052"]
    assert sum(1 for u in cat.users.values() if len([s for s in u.genuine if s.session == 1]) >= 10) >= 103


@pytest.mark.data
def test_susig_blind_users_have_8_or_10_genuine(data_root):
    cat = ds.catalogue("susig-blind", data_root)
    sizes = sorted(len(u.genuine) for u in cat.users.values())
    assert sizes.count(10) == 60 and sizes.count(8) == 30


@pytest.mark.data
def test_dutch_deduplicated_genuines_per_owner(data_root):
    cat = ds.catalogue("sigcomp2011-dutch", data_root)
    counts = {u.id: len(u.genuine) for u in cat.users.values()}
    assert counts.pop("001") == 28
    assert set(counts.values()) == {24}
    assert all(s.path.name.count("_0") == 0 or s.path.name.startswith("001_0") for u in cat.users.values()
               for s in u.genuine[:9])


@pytest.mark.data
def test_nfi_labels_come_from_owner_and_writer(data_root):
    cat = ds.catalogue("sigcomp2009-nfi", data_root)
    user = cat.users["003"]
    assert len(user.genuine) == 11 and all(s.writer == "003" for s in user.genuine)
    # Writer 003's forgeries are of other owners' signatures: none belongs to 003.
    assert user.skilled == []
    for owner in ("002", "018", "035", "046"):
        forged = cat.users[owner]
        assert forged.genuine == [] and len(forged.skilled) == 6
        assert all(s.writer == "003" and s.name.endswith(f"{owner}.hwr") for s in forged.skilled)


@pytest.mark.data
def test_svc2004_protocol(data_root):
    trials = ds.protocol(ds.catalogue("svc2004-task2", data_root))
    assert len(trials) == 40
    first = trials[0]
    assert [s.name for s in first.references] == [f"U{first.user}S{i}.TXT" for i in range(1, 6)]
    assert len(first.genuine) == 15 and len(first.skilled) == 20 and len(first.random) == 39
    assert all(s.name.endswith("S1.TXT") for s in first.random)


@pytest.mark.data
def test_susig_visual_protocol_tests_session_two(data_root):
    trials = ds.protocol(ds.catalogue("susig-visual", data_root))
    trial = trials[0]
    assert all(s.session == 1 for s in trial.references) and all(s.session == 2 for s in trial.genuine)


@pytest.mark.data
def test_unknown_or_missing_dataset_is_a_clear_error(data_root, tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset"):
        ds.catalogue("nope", data_root)
    with pytest.raises(DatasetError, match="not found"):
        ds.catalogue("svc2004-task2", tmp_path)


def _touch(path: Path, content: str | None = None) -> None:
    # The catalogue reads names only (and bytes to find duplicates): distinct content per file.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if content is not None else path.name)


def test_nfi_forgery_belongs_to_the_owner_not_the_forger(tmp_path):
    nfi = tmp_path / "NFI"
    for k in range(1, 6):
        _touch(nfi / "genuines" / f"NFI-001{k:02d}001.hwr")
        _touch(nfi / "genuines" / f"NFI-002{k:02d}002.hwr")
    _touch(nfi / "forgeries" / "NFI-00101002.hwr")  # writer 001 forging owner 002
    _touch(nfi / "forgeries" / "NFI-00301002.hwr")  # writer 003 forging owner 002
    _touch(nfi / "forgeries" / "NFI-00202001.hwr")  # writer 002 forging owner 001
    for root in (tmp_path, nfi):
        cat = ds.catalogue("sigcomp2009-nfi", root)
        assert sorted(cat.users) == ["001", "002"]
        owner2 = cat.users["002"]
        assert [s.name for s in owner2.genuine] == [f"NFI-002{k:02d}002.hwr" for k in range(1, 6)]
        assert [(s.name, s.writer, s.label) for s in owner2.skilled] == [
            ("NFI-00101002.hwr", "001", ds.SKILLED), ("NFI-00301002.hwr", "003", ds.SKILLED)]
        assert [(s.name, s.writer) for s in cat.users["001"].skilled] == [("NFI-00202001.hwr", "002")]
        trials = {t.user: t for t in ds.protocol(cat)}
        assert len(trials["002"].skilled) == 2 and len(trials["001"].skilled) == 1


@pytest.mark.parametrize("layout", ["flat", "user-folders"])
def test_catalogue_accepts_the_datasets_own_folder(tmp_path, layout):
    mcyt = tmp_path / "MCYT-100"
    for user in ("0000", "0001"):
        for kind in "vf":
            for k in range(3):
                name = f"{user}{kind}{k:02d}.fpg"
                _touch(mcyt / name if layout == "flat" else mcyt / user / name)
    cat = ds.catalogue("mcyt100", mcyt)
    assert sorted(cat.users) == ["0000", "0001"]
    assert (cat.files_seen, cat.n_genuine, cat.n_skilled, cat.problems) == (12, 6, 6, [])


def test_catalogue_does_not_mix_sibling_subsets_or_borrow_from_a_data_root(tmp_path):
    svc = tmp_path / "svc2004"
    for task in ("Task1", "Task2"):
        for k in (1, 2):
            _touch(svc / task / f"U1S{k}.TXT", f"{task} {k}")
    # Given the parent folder, Task2 is found in its own subfolder and Task1 is not mixed in.
    cat = ds.catalogue("svc2004-task2", svc)
    assert cat.files_seen == 2 and all(s.path.parent.name == "Task2" for s in cat.samples())
    # A data root that holds other datasets but not MCYT does not lend its stray files to MCYT.
    _touch(tmp_path / "elsewhere" / "0000v00.fpg")
    with pytest.raises(DatasetError, match="dataset mcyt100 not found"):
        ds.catalogue("mcyt100", tmp_path)
    with pytest.raises(DatasetError, match="holds no mcyt100 files"):
        ds.catalogue("mcyt100", svc)
