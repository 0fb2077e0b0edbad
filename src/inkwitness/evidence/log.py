"""The append-only transparency log: Merkle leaves in the database, a signed checkpoint per append.

Every capture, enrolment, verification and document signing becomes one leaf: the
canonical JSON of the event (hashes and ids, never coordinates). After each append the
new tree head is signed as a C2SP checkpoint and stored. Because a checkpoint exists for
every size, :meth:`TransparencyLog.verify` can name the first entry that was altered,
removed, inserted or reordered: it is the first size whose recomputed root differs from
the signed one.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..store.models import LogCheckpoint, LogEntry
from . import merkle
from .checkpoint import Checkpoint, load_or_create_key, open_checkpoint, sign_checkpoint, verifier_key
from .envelope import EvidenceError

#: Advisory-lock key that serialises log appenders on PostgreSQL (any fixed 64-bit number).
_ADVISORY_KEY = 0x696E6B77_6C6F6721

_INSERT_ENTRY = insert(LogEntry.__table__)
_INSERT_CHECKPOINT = insert(LogCheckpoint.__table__)
_MAX_INDEX = select(func.max(LogEntry.index))

EVENT_TYPES = ("capture", "enrolment", "verification", "signing", "key-rotation", "agreement")


def canonical_event(event: dict[str, Any]) -> bytes:
    """Canonical JSON bytes of a log event."""
    if event.get("type") not in EVENT_TYPES:
        raise EvidenceError(f"log event type must be one of {', '.join(EVENT_TYPES)}")
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def load_or_create_log_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The log's Ed25519 signing key, created (mode 0600) on first use."""
    return load_or_create_key(path)


@dataclass
class AppendResult:
    """Where an event landed and the checkpoint that covers it."""

    index: int
    leaf_hash: str
    checkpoint: str


@dataclass
class LogReport:
    """What a full verification of the log found."""

    size: int
    checkpoints: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


class TransparencyLog:
    """Append, prove and verify over the database's log tables."""

    def __init__(self, sessions: sessionmaker[Session], key: ed25519.Ed25519PrivateKey,
                 origin: str = "inkwitness.local/log", name: str = "inkwitness-log",
                 lock_file: Path | None = None) -> None:
        self.sessions = sessions
        self.key = key
        self.origin = origin
        self.name = name
        self._lock = threading.Lock()
        self._lock_file = lock_file
        self._lock_fd: int | None = None
        self._size = 0
        self._range = merkle.CompactRange()

    @property
    def verifier_key(self) -> str:
        """The key string relying parties pin to check checkpoints."""
        return verifier_key(self.name, self.key.public_key())

    def _sync(self, session: Session) -> int:
        """Bring the compact range up to the stored log; returns the log's size.

        Only the O(log n) compact range is kept in memory, so a long-running worker's memory
        does not grow with the log; proofs read the leaf hashes they need from the database.
        """
        # max(index) is an index lookup; count(*) would scan the table on every append.
        top = session.connection().scalar(_MAX_INDEX)
        count = 0 if top is None else top + 1
        if count < self._size:
            self._size, self._range = 0, merkle.CompactRange()  # entries vanished: rebuild (verify() says why)
        if count != self._size:
            # Another process appended: fetch only the new leaves and extend the compact range.
            for (leaf_hex,) in session.execute(select(LogEntry.leaf_hash).where(LogEntry.index >= self._size)
                                               .order_by(LogEntry.index)):
                self._range.append(bytes.fromhex(leaf_hex))
            self._size = count
        return count

    def _all_leaves(self) -> list[bytes]:
        with self.sessions() as session:
            return [bytes.fromhex(h) for (h,) in session.execute(select(LogEntry.leaf_hash)
                                                                  .order_by(LogEntry.index))]

    @contextmanager
    def _writers(self) -> Iterator[None]:
        """Serialise SQLite appenders across processes with an ``flock`` held until after the commit.

        Without it two processes pick the same next index and one must retry, and SQLite
        makes a blocked writer poll with sleeps of up to 100 ms; the kernel wakes the next
        ``flock`` waiter as soon as the lock is released. (PostgreSQL gets an advisory lock
        inside the transaction instead, see :meth:`transaction`.)
        """
        if self._lock_file is None:
            yield
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[tuple[Session, Any]]:
        """A database transaction that can also append to the log; both commit together.

        Yields ``(session, append)``; ``append(event)`` returns the AppendResult. The log's
        lock is held until the commit, so indexes cannot collide within this process (and a
        collision with another process fails the whole transaction, which is retried by
        the caller or reported).
        """
        with self._lock, self._writers(), self.sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Held to the end of the transaction: appenders in other processes queue here.
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
            pending: list[tuple[int, bytes, merkle.CompactRange]] = []

            def append(event: dict[str, Any]) -> AppendResult:
                data = canonical_event(event)
                leaf = merkle.leaf_hash(data)
                if pending:
                    index, base = pending[-1][0] + 1, pending[-1][2]
                else:
                    # _sync() refreshes the compact range when another process appended (or
                    # after a restart), so read the range only after it.
                    index = self._sync(session)
                    base = self._range
                grown = base.copy()
                grown.append(leaf)
                note = sign_checkpoint(Checkpoint(self.origin, index + 1, grown.root()), self.name, self.key)
                # Core inserts on the session's connection: the ORM layers cost more than the writes.
                connection = session.connection()
                connection.execute(_INSERT_ENTRY, {"index": index, "data": data, "leaf_hash": leaf.hex()})
                connection.execute(_INSERT_CHECKPOINT, {"size": index + 1, "root": grown.root().hex(), "note": note})
                pending.append((index, leaf, grown))
                return AppendResult(index, leaf.hex(), note)

            # The in-memory range moves only after a successful commit, so a failed
            # transaction leaves nothing to undo; _sync() catches up with other writers.
            yield session, append
            session.flush()
        if pending:
            self._size = pending[-1][0] + 1
            self._range = pending[-1][2]

    def append(self, event: dict[str, Any]) -> AppendResult:
        """Append an event and sign the new tree head, in one transaction."""
        for _ in range(20):
            try:
                with self.transaction() as (_session, add):
                    return add(event)
            except IntegrityError:
                # Another process took the index first; the next try syncs past it.
                continue
        raise EvidenceError("could not append to the log: too much contention")

    def size(self) -> int:
        """Number of entries."""
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(LogEntry)) or 0

    def entry(self, index: int) -> tuple[bytes, str]:
        """An entry's data and leaf hash."""
        with self.sessions() as session:
            row = session.get(LogEntry, index)
            if row is None:
                raise EvidenceError(f"log has no entry {index}")
            return row.data, row.leaf_hash

    def latest_checkpoint(self) -> str:
        """The newest signed checkpoint note."""
        with self.sessions() as session:
            row = session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(1)).first()
            if row is None:
                raise EvidenceError("log is empty")
            return row.note

    def find(self, session: Session | None = None, **match: str) -> list[tuple[int, dict[str, Any]]]:
        """Entries whose event has every given field equal to the given string, in log order.

        A substring search on the canonical JSON narrows the scan in the database (canonical
        events have no spaces, so ``"key":"value"`` appears verbatim); the JSON is then
        compared exactly.
        """
        if not match:
            raise EvidenceError("find needs at least one field to match")
        key, value = next(iter(match.items()))
        needle = json.dumps({key: value}, separators=(",", ":"), ensure_ascii=False)[1:-1].encode("utf-8")

        def run(s: Session) -> list[Any]:
            # SQLite's LIKE does not match BLOBs, but instr() does; PostgreSQL's bytea LIKE does.
            if s.get_bind().dialect.name == "sqlite":
                where = func.instr(LogEntry.data, needle) > 0
            else:
                where = LogEntry.data.like(b"%" + needle + b"%")
            return s.execute(select(LogEntry.index, LogEntry.data).where(where).order_by(LogEntry.index)).all()

        if session is None:
            with self.sessions() as own:
                rows = run(own)
        else:
            rows = run(session)
        out = []
        for index, data in rows:
            try:
                event = json.loads(data)
            except ValueError:
                continue  # a damaged entry: verify() names it
            if isinstance(event, dict) and all(event.get(k) == v for k, v in match.items()):
                out.append((index, event))
        return out

    def checkpoint_at(self, size: int) -> str:
        """The signed checkpoint note of the tree of ``size`` entries."""
        with self.sessions() as session:
            row = session.get(LogCheckpoint, size)
            if row is None:
                raise EvidenceError(f"log has no checkpoint of size {size}")
            return row.note

    def prove_inclusion(self, index: int, size: int | None = None) -> dict[str, Any]:
        """Everything a client needs to check entry ``index`` offline: entry, audit path, signed checkpoint."""
        size = size or self.size()
        data, leaf = self.entry(index)
        return {"index": index, "tree_size": size, "leaf_hash": leaf, "event": json.loads(data),
                "audit_path": self.inclusion_proof(index, size), "checkpoint": self.checkpoint_at(size)}

    def prove_consistency(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        """A consistency proof between two sizes, with both signed checkpoints (for clients and witnesses)."""
        new_size = new_size or self.size()
        return {"from": old_size, "to": new_size, "proof": self.consistency_proof(old_size, new_size),
                "old_checkpoint": self.checkpoint_at(old_size), "checkpoint": self.checkpoint_at(new_size)}

    def inclusion_proof(self, index: int, size: int | None = None) -> list[str]:
        """Audit path of entry ``index`` in the tree of ``size`` entries (default: all)."""
        leaves = self._all_leaves()
        size = size or len(leaves)
        if not 0 <= index < size <= len(leaves):
            raise EvidenceError(f"no entry {index} in a tree of size {size}")
        return [h.hex() for h in merkle.inclusion_proof(index, leaves[:size])]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[str]:
        """Proof that the tree of ``old_size`` entries is a prefix of the tree of ``new_size``."""
        leaves = self._all_leaves()
        new_size = new_size or len(leaves)
        if not 0 < old_size <= new_size <= len(leaves):
            raise EvidenceError(f"cannot prove {old_size} -> {new_size} in a log of {len(leaves)}")
        return [h.hex() for h in merkle.consistency_proof(old_size, leaves[:new_size])]

    def verify(self) -> LogReport:
        """Recompute every leaf and root from the stored entries and check every checkpoint."""
        with self.sessions() as session:
            entries = session.execute(select(LogEntry.index, LogEntry.data, LogEntry.leaf_hash)
                                      .order_by(LogEntry.index)).all()
            checkpoints = session.execute(select(LogCheckpoint.size, LogCheckpoint.root, LogCheckpoint.note)
                                          .order_by(LogCheckpoint.size)).all()
        report = LogReport(len(entries), len(checkpoints))
        problems = report.problems
        for position, (index, _data, _stored) in enumerate(entries):
            if index != position:
                problems.append(f"entry {position}: expected index {position}, found {index} "
                                f"(an entry was removed or inserted before it)")
                break
        # A hand-edited row may even come back as text (SQLite's replace() does that): hash what is there.
        leaves = [merkle.leaf_hash(data if isinstance(data, bytes) else str(data).encode("utf-8"))
                  for _, data, _ in entries]
        for (index, _data, stored), leaf in zip(entries, leaves, strict=True):
            if leaf.hex() != stored:
                problems.append(f"entry {index}: its data does not hash to its stored leaf hash (altered)")
        roots = list(merkle.iter_roots(leaves))
        signed: dict[int, bytes] = {}
        for size, root_hex, note in checkpoints:
            try:
                cp = open_checkpoint(note, self.verifier_key)
            except EvidenceError as exc:
                problems.append(f"checkpoint {size}: {exc}")
                continue
            if cp.size != size or cp.root.hex() != root_hex or cp.origin != self.origin:
                problems.append(f"checkpoint {size}: stored size/root differ from the signed note (altered)")
                continue
            signed[size] = cp.root
        first_bad = None
        for size in sorted(signed):
            if size > len(roots):
                problems.append(f"checkpoint {size} covers {size} entries but only {len(roots)} exist "
                                f"(entries {len(roots)}..{size - 1} removed)")
                break
            if roots[size - 1] != signed[size] and first_bad is None:
                # Later sizes inherit the mismatch; the first one names the entry.
                first_bad = size - 1
                problems.append(f"entry {first_bad}: the tree of {size} entries does not match its signed "
                                "checkpoint (entry altered, replaced, inserted or reordered)")
        top = max(signed) if signed else 0
        if len(entries) > top:
            problems.append(f"entries {top}..{len(entries) - 1} are not covered by any signed checkpoint "
                            "(inserted without signing)")
        problems.extend(_reused_signatures(entries))
        expected_sizes = set(range(1, len(entries) + 1))
        missing = sorted(expected_sizes - {s for s, _, _ in checkpoints})
        if missing and first_bad is None:
            problems.append(f"checkpoints missing for sizes {missing[:5]}{'...' if len(missing) > 5 else ''}")
        return report


def _reused_signatures(entries: list[Any]) -> list[str]:
    """Signing events that seal the same handwriting packet into different documents."""
    first: dict[str, tuple[int, Any]] = {}
    out = []
    for index, data, _ in entries:
        try:
            event = json.loads(data)
        except ValueError:
            continue  # a damaged entry is named by the hash checks
        if not isinstance(event, dict) or event.get("type") != "signing" or not event.get("signature_sha256"):
            continue
        sig, doc = event["signature_sha256"], event.get("document_sha256")
        if sig not in first:
            first[sig] = (index, doc)
        elif first[sig][1] != doc:
            out.append(f"entries {first[sig][0]} and {index}: the same handwriting (packet sha256 {sig}) is sealed "
                       "into two different documents (reused signature)")
    return out


def entry_time() -> str:
    """UTC time for event records."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
