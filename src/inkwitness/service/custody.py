"""Custody of the storage keyring: load it, never silently replace it, check it against the database, rotate it.

The keyring is ``storage.key`` in the data directory (or ``INKWITNESS_STORAGE_KEY``): one
base64 AES-256 key per line, the newest first. New data is sealed under the newest key; older
keys stay only while rows are sealed under them. Every encrypted row records its key's version
(a SHA-256 prefix), so a missing, swapped or corrupt key stops the service at start-up with one
clear line instead of leaving old subjects undecryptable. A new key is made only for an empty
database, or by :func:`rotate`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fcntl
import logging
import math
import os
import stat as stat_
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import StorageError
from ..store.models import FingerEnrolment, ServiceState, StoredSignature, utcnow
from .settings import STORAGE_KEY_ENV, Settings
from .storage import FINGERPRINT, NotFound, Undecryptable, Vault, key_version, versions_in_use

if TYPE_CHECKING:
    from .ceremony.store import RequestStore

#: ``service_state`` row holding the version of the key new data is sealed under.
KEY_VERSION = "storage_key_version"
#: ``service_state`` row: when the newest key became the sealing key (a rotation's grace period runs from it).
ROTATED_AT = "storage_key_rotated_at"
#: ``service_state`` row naming the version a rotation is making the sealing key ("" once none is running):
#: a re-run resumes only while the keyring's newest key is that one.
ROTATING = "storage_key_rotation_target"
#: Default wait between making a new key the sealing key and retiring the old one: running workers
#: re-read the keyring within a second, and a write they sealed just before must have committed.
GRACE_SECONDS = 30.0
#: Seconds a worker trusts the recorded sealing version it last read; before sealing it checks that
#: version against its own, and refuses the write when it cannot switch (see ``Vault.current``).
VERSION_CHECK_SECONDS = 1.0
#: The least wait before retiring, whatever the grace asked: every worker has then switched or refuses writes.
MIN_GRACE_SECONDS = VERSION_CHECK_SECONDS + Vault.RELOAD_EVERY_SECONDS
#: Passes that still find data sealed under an old key (a worker that has not switched) before a rotation gives up.
STRAGGLER_ROUNDS = 5

_log = logging.getLogger("inkwitness.service")


#: Where the keyring file lives when ``Settings.storage_key_file`` is not given (default: in the data
#: directory). Pointing it outside the data directory keeps the key out of the data's backups.
STORAGE_KEY_FILE_ENV = "INKWITNESS_STORAGE_KEY_FILE"


def key_path(settings: Settings) -> Path:
    """Where the storage keyring file lives: the setting, else INKWITNESS_STORAGE_KEY_FILE, else the data directory."""
    if settings.storage_key_file is not None:
        return settings.storage_key_file
    env = os.environ.get(STORAGE_KEY_FILE_ENV, "").strip()
    return Path(env).expanduser() if env else settings.data_dir / "storage.key"


def key_beside_data(settings: Settings) -> bool:
    """Whether the keyring file (not INKWITNESS_STORAGE_KEY) lies inside the data directory, where a copy
    of the data directory carries the key that opens it."""
    if os.environ.get(STORAGE_KEY_ENV):
        return False
    return key_path(settings).resolve().is_relative_to(settings.data_dir.resolve())


def _decode(text: bytes, where: str) -> bytes:
    """The newest key of a keyring text (what a single-key reader needs)."""
    return _decode_ring(text, where)[0]


def decode_keyring(text: bytes, where: str) -> list[bytes]:
    """Every key of a keyring text, newest first (``where`` names its source in errors)."""
    return _decode_ring(text, where)


def _decode_ring(text: bytes, where: str) -> list[bytes]:
    """Every key of a keyring text, newest first (one base64 key per line or comma-separated)."""
    parts = [p for p in text.replace(b",", b"\n").split() if p]
    if not parts:
        raise StorageError(f"the storage key in {where} is corrupt (empty)")
    keys = []
    for part in parts:
        try:
            key = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise StorageError(f"the storage key in {where} is corrupt (not base64)") from exc
        if len(key) != 32:
            raise StorageError(f"the storage key in {where} is corrupt: {len(key)} bytes, expected 32 (AES-256)")
        keys.append(key)
    return keys


def stored_version(sessions: sessionmaker[Session]) -> str | None:
    """The version of the key new data is sealed under, as recorded (None for a database without data)."""
    with sessions() as s:
        recorded = s.get(ServiceState, KEY_VERSION)
        return None if recorded is None else recorded.value


def needed_versions(sessions: sessionmaker[Session]) -> set[str]:
    """Every key version the database needs: those rows are sealed under, and the recorded sealing key's."""
    with sessions() as s:
        needed = versions_in_use(s)
    recorded = stored_version(sessions)
    return needed | ({recorded} if recorded else set())


def write_new_key(path: Path) -> bytes:
    """Create a fresh key file, readable by its owner only from the first byte."""
    key = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64encode(key) + b"\n")
    return key


def write_keyring(path: Path, keys: list[bytes]) -> None:
    """Replace the keyring file atomically (a reader sees the old ring or the new one), synced; the new
    file keeps the old one's owner, group and mode (0600 for a new file), so that a rotation run by
    another user (root) leaves a keyring the service can still read."""
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if old is not None:
        try:
            now = os.fstat(fd)
            if (now.st_uid, now.st_gid) != (old.st_uid, old.st_gid):
                os.fchown(fd, old.st_uid, old.st_gid)
            os.fchmod(fd, stat_.S_IMODE(old.st_mode))
        except OSError as exc:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot give the new keyring the owner ({old.st_uid}:{old.st_gid}) and mode of {path}: "
                               f"{exc.strerror}; run the rotation as the keyring's owner (or as root)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(b"".join(base64.b64encode(k) + b"\n" for k in keys))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def _read_file(path: Path) -> list[bytes]:
    try:
        return _decode_ring(path.read_bytes(), str(path))
    except OSError as exc:
        raise StorageError(f"cannot read the storage key {path}: {exc.strerror}") from exc


def load_keyring(settings: Settings, sessions: sessionmaker[Session]) -> list[bytes]:
    """The keyring from the environment or the key file; a new file only when the database holds no data."""
    env = os.environ.get(STORAGE_KEY_ENV)
    if env:
        return _decode_ring(env.encode(), STORAGE_KEY_ENV)
    path = key_path(settings)
    if path.exists():
        return _read_file(path)
    needed = needed_versions(sessions)
    if needed:
        raise StorageError(f"the storage key {path} is missing but the database holds data sealed under key "
                           f"version {', '.join(sorted(needed))}; restore the key file (or set {STORAGE_KEY_ENV}) "
                           "before starting")
    return [write_new_key(path)]


def load_key(settings: Settings, sessions: sessionmaker[Session]) -> bytes:
    """The newest storage key (see :func:`load_keyring`)."""
    return load_keyring(settings, sessions)[0]


def _reloader(settings: Settings, sessions: sessionmaker[Session]) -> Callable[[], list[bytes] | None]:
    """A hook that returns the keyring file's keys when it changed since the last call and still holds
    every version the database needs, else None (the vault keeps the keys it holds)."""
    path = key_path(settings)
    seen: list[tuple[int, int] | None] = [None]
    warned: list = [None, -math.inf]  # last warning and when: one a minute while the same fault lasts

    def warn(message: str) -> None:
        now = time.monotonic()
        if warned[0] != message or now - warned[1] >= 60:
            warned[:] = [message, now]
            _log.warning("%s; keeping the storage keys held (writes are refused once a rotation needs the new key)",
                         message)

    def reload() -> list[bytes] | None:
        if os.environ.get(STORAGE_KEY_ENV):
            return None  # the environment does not change under a running process
        try:
            stat = path.stat()
            if seen[0] == (stat.st_mtime_ns, stat.st_ino):
                return None
            keys = _decode_ring(path.read_bytes(), str(path))
            # A swapped or truncated file must not make a running service seal under a key the data
            # is not sealed under; it is read again (and refused again) until it is put right.
            lacking = needed_versions(sessions) - {key_version(k) for k in keys}
            if lacking:
                warn(f"the storage keyring {path} lacks key version(s) {', '.join(sorted(lacking))} the data needs")
                return None
        except (OSError, StorageError, SQLAlchemyError) as exc:
            # Keep the keys held: a broken file or a database fault must not fail a running service's requests.
            warn(f"cannot re-read the storage keyring {path}: {getattr(exc, 'strerror', None) or exc}")
            return None
        seen[0] = (stat.st_mtime_ns, stat.st_ino)
        return keys

    return reload


def _recorded(sessions: sessionmaker[Session]) -> Callable[[], str | None]:
    """A hook returning the recorded sealing version, read from the database at most once a
    :data:`VERSION_CHECK_SECONDS`; a worker compares it with its own before every seal."""
    cache: list = [-math.inf, None]
    lock = Lock()  # one thread reads it; the others keep the value it replaces meanwhile (no second connection)

    def recorded() -> str | None:
        now = time.monotonic()
        if now - cache[0] >= VERSION_CHECK_SECONDS and lock.acquire(blocking=False):
            try:
                value = stored_version(sessions)
            except SQLAlchemyError as exc:
                raise StorageError(f"cannot read the recorded storage key version ({type(exc).__name__})") from exc
            finally:
                lock.release()
            cache[:] = [now, value]
        return cache[1]

    return recorded


def open_vault(settings: Settings, sessions: sessionmaker[Session]) -> Vault:
    """A vault with the right keyring: refuse to start if it lacks a key the database's data is sealed under."""
    keys = load_keyring(settings, sessions)
    vault = Vault(keys, _reloader(settings, sessions), _recorded(sessions))
    missing = sorted(needed_versions(sessions) - vault.versions)
    if missing:
        raise StorageError(f"the storage key (version {vault.version}) is not the one the database's data is sealed "
                           f"under (version {', '.join(missing)}); restore the original key before starting")
    try:
        with sessions.begin() as s:
            if s.get(ServiceState, KEY_VERSION) is None:
                s.add(ServiceState(name=KEY_VERSION, value=vault.version, updated=utcnow()))
    except IntegrityError:  # another worker recorded it first: check it holds what that worker recorded
        if stored_version(sessions) not in vault.versions:
            raise StorageError("the storage key is not the one another worker started with") from None
    return vault


# --- rotation ---------------------------------------------------------------------------------------
@dataclass
class Rotation:
    """What a rotation run did."""

    version: str
    signatures: int = 0
    finger_enrolments: int = 0
    ceremony_files: int = 0
    retired: list[str] = field(default_factory=list)
    versions_left: list[str] = field(default_factory=list)
    finished: bool = False
    #: This run carried on an unfinished rotation to the same new key.
    resumed: bool = False

    @property
    def rows(self) -> int:
        """Database rows re-encrypted by this run."""
        return self.signatures + self.finger_enrolments


@contextmanager
def _rotation_lock(path: Path) -> Iterator[None]:
    """One rotation at a time per keyring; the kernel drops the lock if the process dies, so a re-run resumes."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StorageError(f"another storage-key rotation is running on {path}") from None
        yield
    finally:
        os.close(fd)


def _set_state(s: Session, name: str, value: str) -> None:
    row = s.get(ServiceState, name)
    if row is None:
        s.add(ServiceState(name=name, value=value, updated=utcnow()))
    else:
        row.value, row.updated = value, utcnow()


def _start(path: Path, sessions: sessionmaker[Session], keys: list[bytes]) -> tuple[list[bytes], bool]:
    """The keyring to rotate to and whether this resumes: a new newest key, unless an unfinished rotation
    (recorded in ``service_state``) made the keyring's newest key."""
    with sessions() as s:
        target = s.get(ServiceState, ROTATING)
    if target is not None and target.value and target.value == key_version(keys[0]):
        started, resumed = None, True  # the grace period runs from the first run's switch
    else:
        new = os.urandom(32)
        with sessions.begin() as s:  # recorded before the file: a crash in between makes a new key next time
            _set_state(s, ROTATING, key_version(new))
        # The file first: rows sealed under the new key are readable by every process from the moment they exist.
        keys = [new, *keys]
        write_keyring(path, keys)
        started, resumed = utcnow(), False
    with sessions.begin() as s:
        _set_state(s, KEY_VERSION, key_version(keys[0]))
        if started is not None or s.get(ServiceState, ROTATED_AT) is None:
            _set_state(s, ROTATED_AT, (started or utcnow()).isoformat())
    return keys, resumed


def _reseal_signatures(s: Session, vault: Vault, old: list[str], limit: int) -> int:
    key = vault.current()
    rows = s.scalars(select(StoredSignature).where(StoredSignature.key_version.in_(old))
                     .order_by(StoredSignature.id).limit(limit).with_for_update()).all()
    for row in rows:
        packet = vault.open(row.tenant_id, row.sha256, row.packet_encrypted, version=row.key_version)
        fingerprint = None if row.replay_fingerprint is None else vault.seal(
            row.tenant_id, row.sha256, vault.open(row.tenant_id, row.sha256, row.replay_fingerprint, FINGERPRINT,
                                                  row.key_version), FINGERPRINT, key)
        # Guarded by the old version: a row another run re-sealed meanwhile is left as it is.
        s.execute(update(StoredSignature).where(StoredSignature.id == row.id,
                                                StoredSignature.key_version == row.key_version)
                  .values(packet_encrypted=vault.seal(row.tenant_id, row.sha256, packet, key=key),
                          replay_fingerprint=fingerprint, key_version=key[0]))
    return len(rows)


def _reseal_fingers(s: Session, vault: Vault, old: list[str], limit: int) -> int:
    key = vault.current()
    rows = s.scalars(select(FingerEnrolment).where(FingerEnrolment.key_version.in_(old))
                     .order_by(FingerEnrolment.id).limit(limit).with_for_update()).all()
    for row in rows:
        blob = vault.open(row.tenant_id, row.templates_sha256, row.templates_encrypted, "finger-templates",
                          row.key_version)
        s.execute(update(FingerEnrolment).where(FingerEnrolment.id == row.id,
                                                FingerEnrolment.key_version == row.key_version)
                  .values(templates_encrypted=vault.seal(row.tenant_id, row.templates_sha256, blob,
                                                         "finger-templates", key), key_version=key[0]))
    return len(rows)


def _reseal_ceremony(settings: Settings, vault: Vault) -> int:
    """Re-seal the signing requests' documents (files, no recorded version) that the newest key does not open;
    each re-sealed file and its folder are synced before this returns (the old key may retire next)."""
    root = settings.data_dir / "ceremony"
    folder = root / "requests"
    if not folder.is_dir():
        return 0
    from .ceremony.store import RequestStore  # the ceremony package imports the service's modules

    store, newest = RequestStore(root, vault), vault.version
    done = 0
    for blob in sorted(folder.glob("*/*.bin")):
        try:
            done += _reseal_file(store, blob, newest)
        except (NotFound, FileNotFoundError):  # purged meanwhile, or a request never filed: nothing reads it
            continue
    return done


def _reseal_file(store: RequestStore, blob: Path, newest: str) -> int:
    """Re-seal one signing-request file under the newest key; 1 if it was under an older one.

    Written beside the old file and renamed over it, never creating a folder: a request purged
    meanwhile is not brought back as an orphan (a folder without request.json).
    """
    req, name = store.get(blob.parent.name), blob.stem
    data, purpose = blob.read_bytes(), f"ceremony:{name}"
    try:
        store.vault.open(req.tenant_id, req.id, data, purpose, newest)
        return 0
    except Undecryptable:
        pass
    try:
        plain = store.vault.open(req.tenant_id, req.id, data, purpose)
    except Undecryptable:
        raise StorageError(f"{blob} does not decrypt under any key of the keyring; move it away and run "
                           "the rotation again") from None
    _replace_synced(blob, store.vault.seal(req.tenant_id, req.id, plain, purpose))
    if not (blob.parent / "request.json").exists():  # purged while it was re-sealed: leave nothing behind
        blob.unlink(missing_ok=True)
        try:
            blob.parent.rmdir()
        except OSError:
            pass
        return 0
    return 1


def _replace_synced(path: Path, data: bytes) -> None:
    """Replace a file in its existing folder (FileNotFoundError when the folder is gone), data and rename synced."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _reseal_rows(sessions: sessionmaker[Session], vault: Vault, report: Rotation, batch_size: int,
                 max_rows: int | None, on_batch: Callable[[Rotation], None] | None) -> bool:
    """Re-seal rows under older keys, one transaction per batch; True once none is left."""
    while True:
        old = sorted(set(vault.versions) - {vault.version})
        room = batch_size if max_rows is None else min(batch_size, max_rows - report.rows)
        if not old:
            return True
        if room <= 0:
            return False
        with sessions.begin() as s:
            signatures = _reseal_signatures(s, vault, old, room)
            fingers = _reseal_fingers(s, vault, old, room - signatures) if signatures < room else 0
        report.signatures += signatures
        report.finger_enrolments += fingers
        if on_batch is not None:
            on_batch(report)
        if signatures + fingers == 0:
            return True


def _retire(path: Path, settings: Settings, sessions: sessionmaker[Session], vault: Vault,
            report: Rotation) -> None:
    """Drop from the keyring every older key no row is sealed under any more.

    Just before the file is written, the rows' versions are read again and every signing-request
    file is checked to open under the newest key (stragglers are re-sealed): files record no version.
    """
    report.ceremony_files += _reseal_ceremony(settings, vault)
    with sessions() as s:
        in_use = versions_in_use(s)
    keys = _read_file(path)
    kept = [k for i, k in enumerate(keys) if i == 0 or key_version(k) in in_use]
    report.retired = [key_version(k) for k in keys if k not in kept]
    if report.retired:
        write_keyring(path, kept)
    report.versions_left = [key_version(k) for k in kept]


def _settle(settings: Settings, sessions: sessionmaker[Session], vault: Vault, report: Rotation, batch_size: int,
            max_rows: int | None, on_batch: Callable[[Rotation], None] | None, grace_seconds: float,
            sleep: Callable[[float], None]) -> bool:
    """Wait out the grace period, then re-run the re-encryption pass (rows and files) until a pass finds
    nothing: what a worker sealed under an old key before it switched (or started refusing writes).
    False when ``max_rows`` stopped it; StorageError when writes under an old key do not stop."""
    wait = _grace_left(sessions, max(grace_seconds, MIN_GRACE_SECONDS))
    for _ in range(STRAGGLER_ROUNDS):
        if wait > 0:
            sleep(wait)  # running workers may still seal under the old key until they re-read the keyring
        before = report.rows + report.ceremony_files
        if not _reseal_rows(sessions, vault, report, batch_size, max_rows, on_batch):
            return False
        report.ceremony_files += _reseal_ceremony(settings, vault)
        if report.rows + report.ceremony_files == before:
            return True
        wait = MIN_GRACE_SECONDS  # something was still written under an old key: give its writer time to stop
    raise StorageError(f"data is still being written under an old storage key after {STRAGGLER_ROUNDS} passes (a "
                       "worker that has not switched to the new keyring); no key was retired: restart the "
                       "service's workers, then run the rotation again")


def _grace_left(sessions: sessionmaker[Session], grace_seconds: float) -> float:
    with sessions() as s:
        row = s.get(ServiceState, ROTATED_AT)
    if row is None:
        return 0.0
    started = dt.datetime.fromisoformat(row.value)
    return max(0.0, grace_seconds - (utcnow() - started).total_seconds())


def rotate(settings: Settings, sessions: sessionmaker[Session], batch_size: int = 500,
           grace_seconds: float = GRACE_SECONDS, max_rows: int | None = None,
           on_batch: Callable[[Rotation], None] | None = None, sleep: Callable[[float], None] = time.sleep,
           announce: Callable[[str], None] | None = None) -> Rotation:
    """Make a new storage key the sealing key, re-seal every row under it in batches, then retire the old key.

    Re-running after an interruption resumes (no second new key is made) while the keyring's newest
    key is the one the unfinished rotation recorded; otherwise a new key is made, also when older keys
    are still kept. At every moment each row is sealed under a key the keyring holds; workers that
    cannot switch to the new key refuse writes instead of sealing under the old one. The old key
    retires only after the grace period (at least :data:`MIN_GRACE_SECONDS`) and a pass that finds
    nothing left under it. ``max_rows`` stops early, as an interruption would.
    """
    if batch_size < 1:
        raise StorageError("the batch size must be at least 1")
    if os.environ.get(STORAGE_KEY_ENV):
        raise StorageError(f"the storage key comes from {STORAGE_KEY_ENV}: rotation writes the keyring file, so "
                           f"unset {STORAGE_KEY_ENV} and keep the keyring in {key_path(settings)}")
    path = key_path(settings)
    if not path.exists():
        raise StorageError(f"no storage key at {path}: nothing to rotate")
    with _rotation_lock(path):
        open_vault(settings, sessions)  # refuses a keyring that lacks a version the data needs
        keys, resumed = _start(path, sessions, _read_file(path))
        vault = Vault(keys)
        report = Rotation(version=vault.version, resumed=resumed)
        if resumed and announce is not None:
            announce(f"resuming rotation to {vault.version}")
        report.finished = _reseal_rows(sessions, vault, report, batch_size, max_rows, on_batch)
        if report.finished:
            report.ceremony_files = _reseal_ceremony(settings, vault)
            report.finished = _settle(settings, sessions, vault, report, batch_size, max_rows, on_batch,
                                      grace_seconds, sleep)
        if report.finished:
            _retire(path, settings, sessions, vault, report)
            # A write its worker sealed under the old key just before switching and committed only now: this
            # run still holds every key, so it re-seals it (later than this run, nothing would).
            late = report.rows
            _reseal_rows(sessions, vault, report, batch_size, None, on_batch)
            report.ceremony_files += _reseal_ceremony(settings, vault)
            if report.rows != late:
                _log.warning("re-sealed %d rows written under a retired storage key as it retired", report.rows - late)
            if len(report.versions_left) == 1:
                with sessions.begin() as s:
                    _set_state(s, ROTATING, "")  # done: the next rotation makes a new key
        else:
            report.versions_left = [key_version(k) for k in keys]
    return report
