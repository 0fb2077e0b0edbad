"""The transparency log: checkpoints, proofs, and naming the entry that was tampered with."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from inkwitness.evidence import merkle
from inkwitness.evidence.checkpoint import open_checkpoint, parse_verifier_key, sign_checkpoint, Checkpoint
from inkwitness.evidence.envelope import EvidenceError
from inkwitness.evidence.log import TransparencyLog, load_or_create_log_key
from inkwitness.store import open_database, sqlite_url
from inkwitness.store.models import LogEntry

N = 12


@pytest.fixture
def log(tmp_path):
    sessions = open_database(sqlite_url(tmp_path))
    lg = TransparencyLog(sessions, load_or_create_log_key(tmp_path / "log.pem"), origin="test.example/log")
    for i in range(N):
        lg.append({"type": "verification", "n": i, "signature_sha256": f"{i:064x}"})
    return lg


def _exec(log, stmt):
    with log.sessions.begin() as s:
        s.execute(stmt)


def test_fresh_log_verifies_and_proves(log):
    assert log.verify().ok
    cp = open_checkpoint(log.latest_checkpoint(), log.verifier_key)
    assert cp.size == N and cp.origin == "test.example/log"
    for i in range(N):
        data, leaf = log.entry(i)
        proof = [bytes.fromhex(h) for h in log.inclusion_proof(i)]
        assert merkle.verify_inclusion(i, N, merkle.leaf_hash(data), proof, cp.root)
    old = merkle.root([bytes.fromhex(log.entry(i)[1]) for i in range(5)])
    proof = [bytes.fromhex(h) for h in log.consistency_proof(5)]
    assert merkle.verify_consistency(5, N, old, cp.root, proof)


def test_checkpoint_is_a_c2sp_signed_note(log):
    note = log.latest_checkpoint()
    body, sig = note.split("\n\n")
    assert body.split("\n")[0] == "test.example/log" and body.split("\n")[1] == str(N)
    assert sig.startswith("\u2014 inkwitness-log ")
    name, _ = parse_verifier_key(log.verifier_key)
    assert name == "inkwitness-log"
    with pytest.raises(EvidenceError, match="does not verify"):
        open_checkpoint(note.replace(f"\n{N}\n", f"\n{N + 1}\n"), log.verifier_key)


def test_checkpoint_signed_by_another_key_is_refused(log, tmp_path):
    other = load_or_create_log_key(tmp_path / "other.pem")
    note = sign_checkpoint(Checkpoint("test.example/log", 3, b"\x00" * 32), "inkwitness-log", other)
    with pytest.raises(EvidenceError):
        open_checkpoint(note, log.verifier_key)


@pytest.mark.parametrize("index", [0, 5, N - 1])
def test_every_single_byte_flip_of_an_entry_is_named(log, index):
    data, _ = log.entry(index)
    for pos in range(len(data)):
        flipped = data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:]
        _exec(log, update(LogEntry).where(LogEntry.index == index).values(data=flipped))
        problems = log.verify().problems
        assert problems and all(f"entry {index}" in p for p in problems[:1]), (pos, problems)
    _exec(log, update(LogEntry).where(LogEntry.index == index).values(data=data))
    assert log.verify().ok


def test_consistent_rewrite_of_data_and_leaf_hash_is_still_named(log):
    forged = b'{"type":"verification","n":999}'
    _exec(log, update(LogEntry).where(LogEntry.index == 7).values(data=forged,
                                                                  leaf_hash=merkle.leaf_hash(forged).hex()))
    assert log.verify().problems[0].startswith("entry 7: the tree of 8 entries")


def test_removed_entry_is_named(log):
    _exec(log, delete(LogEntry).where(LogEntry.index == 4))
    problems = log.verify().problems
    assert any(p.startswith("entry 4: expected index 4, found 5") for p in problems)


def test_removed_tail_entry_is_named(log):
    _exec(log, delete(LogEntry).where(LogEntry.index == N - 1))
    problems = log.verify().problems
    assert any(f"entries {N - 1}..{N - 1} removed" in p for p in problems)


def test_reordered_entries_are_named(log):
    a, ha = log.entry(3)
    b, hb = log.entry(4)
    _exec(log, update(LogEntry).where(LogEntry.index == 3).values(data=b, leaf_hash=hb))
    _exec(log, update(LogEntry).where(LogEntry.index == 4).values(data=a, leaf_hash=ha))
    assert log.verify().problems[0].startswith("entry 3: the tree of 4 entries")


def test_inserted_unsigned_entry_is_named(log):
    data = b'{"type":"capture"}'
    with log.sessions.begin() as s:
        s.add(LogEntry(index=N, data=data, leaf_hash=merkle.leaf_hash(data).hex()))
    assert any(f"entries {N}..{N} are not covered" in p for p in log.verify().problems)


def test_events_need_a_known_type(log):
    with pytest.raises(EvidenceError, match="event type"):
        log.append({"type": "gossip"})
    with log.sessions() as s:
        assert len(s.scalars(select(LogEntry)).all()) == N


def test_transactional_append_after_restart_extends_the_stored_tree(log, tmp_path):
    # A new log object over the same database (as after a restart) must continue the tree.
    again = TransparencyLog(log.sessions, log.key, origin="test.example/log")
    with again.transaction() as (_, append):
        first = append({"type": "capture", "n": "a"})
        second = append({"type": "capture", "n": "b"})
    assert (first.index, second.index) == (N, N + 1)
    assert again.verify().ok
    with pytest.raises(RuntimeError):
        with again.transaction() as (_, append):
            append({"type": "capture", "n": "rolled back"})
            raise RuntimeError("caller failed")
    assert again.size() == N + 2 and again.verify().ok
    assert again.append({"type": "capture"}).index == N + 2


def test_log_verify_flags_one_packet_signed_into_two_documents(log):
    log.append({"type": "signing", "signature_sha256": "a" * 64, "document_sha256": "1" * 64})
    log.append({"type": "signing", "signature_sha256": "a" * 64, "document_sha256": "1" * 64})  # a retry: fine
    assert log.verify().ok
    log.append({"type": "signing", "signature_sha256": "a" * 64, "document_sha256": "2" * 64})
    assert log.verify().problems == [f"entries {N} and {N + 2}: the same handwriting (packet sha256 {'a' * 64}) "
                                     "is sealed into two different documents (reused signature)"]


def test_append_signing_refuses_a_packet_sealed_elsewhere(log):
    from inkwitness.evidence.binding import BindingError, append_signing, sealings_elsewhere

    first = append_signing(log, {"type": "signing", "signature_sha256": "b" * 64, "document_sha256": "1" * 64})
    with pytest.raises(BindingError, match=f"log entry {first.index}"):
        append_signing(log, {"type": "signing", "signature_sha256": "b" * 64, "document_sha256": "2" * 64})
    assert log.size() == N + 1 and log.verify().ok
    assert [i for i, _ in sealings_elsewhere(log, "b" * 64, "3" * 64)] == [first.index]
