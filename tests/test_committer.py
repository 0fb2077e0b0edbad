"""Group commit: shared transactions, per-job failures, durability before the answer."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from inkwitness.evidence.context import EvidenceContext
from inkwitness.service.committer import GroupCommitter
from inkwitness.store.models import LogEntry, Tenant


def _tenant_job(name: str, started: threading.Event | None = None, release: threading.Event | None = None):
    def job(session, append):
        if started is not None:
            started.set()
            release.wait(10)
        session.add(Tenant(id=name, name=name))
        return append({"type": "capture", "tenant": name}).index
    return job


def _queued_behind_a_held_batch(committer, jobs):
    """Submit ``t0`` and hold its batch open while ``jobs`` queue; results or exceptions by name."""
    started, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def submit(name, job):
        try:
            outcomes[name] = committer.submit(job)
        except ValueError as exc:
            outcomes[name] = exc

    first = threading.Thread(target=submit, args=("t0", _tenant_job("t0", started, release)))
    first.start()
    assert started.wait(10)
    queued = [threading.Thread(target=submit, args=item) for item in jobs]
    for t in queued:
        t.start()
    while committer._queue.qsize() < len(jobs):
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *queued]:
        t.join(10)
    return outcomes


def test_waiting_writes_share_one_transaction_and_all_commit(tmp_path):
    ctx = EvidenceContext(tmp_path)
    committer = GroupCommitter(ctx.log.transaction)
    # While the first batch holds the writer, ten more writes queue up ...
    results = _queued_behind_a_held_batch(committer, [(f"t{i}", _tenant_job(f"t{i}")) for i in range(1, 11)])
    # ... and go out together in the next one.
    assert committer.jobs == 11 and committer.batches == 2
    assert sorted(results.values()) == list(range(11))
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Tenant)) == 11
        assert s.scalar(select(func.count()).select_from(LogEntry)) == 11
    assert ctx.log.verify().ok


def test_a_failing_write_fails_alone(tmp_path):
    ctx = EvidenceContext(tmp_path)
    committer = GroupCommitter(ctx.log.transaction)

    def bad(session, append):
        append({"type": "capture", "tenant": "bad"})
        raise ValueError("this write is faulty")

    outcomes = _queued_behind_a_held_batch(committer, [("t1", _tenant_job("t1")), ("bad", bad),
                                                       ("t2", _tenant_job("t2"))])
    assert isinstance(outcomes["bad"], ValueError)
    assert sorted(outcomes[n] for n in ("t0", "t1", "t2")) == [0, 1, 2]
    with ctx.sessions() as s:
        assert sorted(s.scalars(select(Tenant.id))) == ["t0", "t1", "t2"]
    report = ctx.log.verify()
    assert report.ok and report.size == 3


def test_the_writer_survives_and_reports_errors(tmp_path):
    committer = GroupCommitter(EvidenceContext(tmp_path).log.transaction)
    with pytest.raises(ZeroDivisionError):
        committer.submit(lambda s, a: 1 / 0)
    assert committer.submit(lambda s, a: a({"type": "capture"}).index) == 0
