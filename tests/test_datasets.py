"""Dataset catalogues report the exact counts stated in each PROVENANCE.md, and the protocols."""

from __future__ import annotations

import pytest

from inkwitness import datasets as ds
from inkwitness.errors import DatasetError

pytestmark = pytest.mark.data


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
    ("sigcomp2009-nfi", 1, 35, 11, 24, 0),
    ("sigcomp2009-nisdcc", 1, 15, 5, 10, 0),
])
def test_catalogue_counts_match_provenance(data_root, name, users, files, genuine, skilled, duplicates):
    cat = ds.catalogue(name, data_root)
    assert (len(cat.users), cat.files_seen, cat.n_genuine, cat.n_skilled, len(cat.duplicates)) == \
        (users, files, genuine, skilled, duplicates)


def test_susig_visual_session_structure(data_root):
    cat = ds.catalogue("susig-visual", data_root)
    two_sessions = [u for u in cat.users.values() if any(s.session == 2 for s in u.genuine)]
    assert len(two_sessions) == 94
    # PROVENANCE says the session-1-only users are ids >= 101; the files say otherwise.
    session1_only = sorted(set(cat.users) - {u.id for u in two_sessions})
    assert session1_only == ["005", "006", "007", "012", "027", "030", "035", "041", "050", "052"]
    assert sum(1 for u in cat.users.values() if len([s for s in u.genuine if s.session == 1]) >= 10) >= 103


def test_susig_blind_users_have_8_or_10_genuine(data_root):
    cat = ds.catalogue("susig-blind", data_root)
    sizes = sorted(len(u.genuine) for u in cat.users.values())
    assert sizes.count(10) == 60 and sizes.count(8) == 30


def test_dutch_deduplicated_genuines_per_owner(data_root):
    cat = ds.catalogue("sigcomp2011-dutch", data_root)
    counts = {u.id: len(u.genuine) for u in cat.users.values()}
    assert counts.pop("001") == 28
    assert set(counts.values()) == {24}
    assert all(s.path.name.count("_0") == 0 or s.path.name.startswith("001_0") for u in cat.users.values()
               for s in u.genuine[:9])


def test_nfi_labels_come_from_owner_and_writer(data_root):
    cat = ds.catalogue("sigcomp2009-nfi", data_root)
    user = cat.users["003"]
    assert all(s.writer == "003" for s in user.genuine)
    assert all(s.writer != "003" for s in user.skilled)


def test_svc2004_protocol(data_root):
    trials = ds.protocol(ds.catalogue("svc2004-task2", data_root))
    assert len(trials) == 40
    first = trials[0]
    assert [s.name for s in first.references] == [f"U{first.user}S{i}.TXT" for i in range(1, 6)]
    assert len(first.genuine) == 15 and len(first.skilled) == 20 and len(first.random) == 39
    assert all(s.name.endswith("S1.TXT") for s in first.random)


def test_susig_visual_protocol_tests_session_two(data_root):
    trials = ds.protocol(ds.catalogue("susig-visual", data_root))
    trial = trials[0]
    assert all(s.session == 1 for s in trial.references) and all(s.session == 2 for s in trial.genuine)


def test_unknown_or_missing_dataset_is_a_clear_error(data_root, tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset"):
        ds.catalogue("nope", data_root)
    with pytest.raises(DatasetError, match="not found"):
        ds.catalogue("svc2004-task2", tmp_path)
