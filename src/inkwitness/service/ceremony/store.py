"""Signing requests on disk: the document, where to sign, who asks and why, and what happened.

One folder per request under ``<data_dir>/ceremony``; files are written whole and renamed, so
every worker process sees a consistent request. Documents and sealed copies are encrypted with
the service's storage vault, like the biometric packets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..storage import NotFound, Vault

#: How long a signer may still download the sealed copy after signing.
COPY_RETENTION = dt.timedelta(hours=24)
_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
#: States after which a request's link does nothing more.
FINISHED = ("signed", "typed", "declined")


def now() -> str:
    """The current UTC time, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).isoformat()


def token_key(token: str) -> str:
    """The name a token is filed under (its hash: the token itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SigningRequest:
    """A document a clerk asks someone to sign through a link."""

    id: str
    tenant_id: str
    subject_id: str
    document_name: str
    document_sha256: str
    pages: list[tuple[float, float]]
    page: int
    box: tuple[float, float, float, float]
    requester: str
    reason: str
    signer_name: str | None
    expires_at: str
    created_at: str = field(default_factory=now)
    state: str = "open"  # open, viewed, signed, typed, declined
    events: list[dict[str, Any]] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)
    # Created while the server required capture bindings: a packet without this request's binding
    # is refused. False for requests filed before bindings existed (their JSON has no such key).
    binding_required: bool = False

    def ended_at(self, at: dt.datetime) -> dt.datetime | None:
        """When the request stopped being usable (finished, or expired before ``at``); None while open."""
        if self.state in FINISHED and self.events:
            return dt.datetime.fromisoformat(self.events[-1]["time"])
        expires = dt.datetime.fromisoformat(self.expires_at)
        expires = expires if expires.tzinfo else expires.replace(tzinfo=dt.timezone.utc)
        return expires if expires <= at else None

    def public(self) -> dict[str, Any]:
        """What the signer's page may know (no tenant, subject or verification outcome)."""
        return {"document_name": self.document_name, "pages": [list(p) for p in self.pages], "page": self.page,
                "box": list(self.box), "requester": self.requester, "reason": self.reason,
                "signer_name": self.signer_name, "expires_at": self.expires_at, "state": self.state}

    def for_clerk(self) -> dict[str, Any]:
        """The whole request, for the console."""
        return {**asdict(self), "pages": [list(p) for p in self.pages], "box": list(self.box)}


class RequestStore:
    """File-backed signing requests, encrypted documents, and the token -> request index."""

    def __init__(self, root: Path, vault: Vault) -> None:
        self.root = root
        self.vault = vault
        self._purged = -float("inf")  # monotonic time of the last purge

    def _dir(self, request_id: str) -> Path:
        if not _ID.match(request_id):
            raise NotFound("signing request not found")
        return self.root / "requests" / request_id

    @staticmethod
    def _write(path: Path, data: bytes, make_parent: bool = True) -> None:
        if make_parent:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():  # purged: a folder without request.json would be an orphan for good
            raise NotFound("signing request not found")
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def create(self, req: SigningRequest, token: str, pdf: bytes) -> None:
        """File a new request, its document and its token."""
        self.put_blob(req, "document", pdf)
        self.save(req)
        self._write(self.root / "tokens" / token_key(token), req.id.encode())

    def save(self, req: SigningRequest) -> None:
        """Write the request's state."""
        self._write(self._dir(req.id) / "request.json", json.dumps(req.for_clerk()).encode())

    def get(self, request_id: str) -> SigningRequest:
        """A request by id (NotFound if none)."""
        path = self._dir(request_id) / "request.json"
        if not path.exists():
            raise NotFound("signing request not found")
        data = json.loads(path.read_text())
        data["pages"] = [tuple(p) for p in data["pages"]]
        data["box"] = tuple(data["box"])
        return SigningRequest(**data)

    def for_tenant(self, tenant_id: str, request_id: str) -> SigningRequest:
        """A request of this tenant (others' are NotFound, not Forbidden: ids are not disclosed)."""
        req = self.get(request_id)
        if req.tenant_id != tenant_id:
            raise NotFound("signing request not found")
        return req

    def by_token(self, token: str) -> SigningRequest | None:
        """The request behind a link, or None for a link without a document."""
        path = self.root / "tokens" / token_key(token)
        return self.get(path.read_text().strip()) if path.exists() else None

    def put_link_note(self, token: str, note: dict[str, Any]) -> None:
        """File who asks and why beside a plain enrol/verify link (by the token's hash, as requests are)."""
        self._write(self.root / "links" / f"{token_key(token)}.json", json.dumps(note).encode())

    def link_note(self, token: str) -> dict[str, Any]:
        """Who asks and why for a plain link ({} when the clerk said nothing, or it was purged)."""
        path = self.root / "links" / f"{token_key(token)}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def purge(self, older_than: dt.timedelta, every: float = 3600.0) -> list[str]:
        """Purge ended requests (see :func:`purge_requests`), at most once per ``every`` seconds per process."""
        import time

        if time.monotonic() - self._purged < every:
            return []
        self._purged = time.monotonic()
        return purge_requests(self.root, older_than)

    def list(self, tenant_id: str, limit: int = 50) -> list[SigningRequest]:
        """The tenant's newest requests."""
        folder = self.root / "requests"
        found = [self.get(p.name) for p in folder.iterdir() if (p / "request.json").exists()] if folder.exists() else []
        mine = [r for r in found if r.tenant_id == tenant_id]
        return sorted(mine, key=lambda r: r.created_at, reverse=True)[:limit]

    def event(self, req: SigningRequest, state: str, **extra: Any) -> None:
        """Move a request to ``state`` and record when."""
        req.state = state
        req.events.append({"state": state, "time": now(), **extra})
        self.save(req)

    def put_blob(self, req: SigningRequest, name: str, data: bytes) -> None:
        """Store a document (encrypted, bound to tenant, request and name)."""
        self._write(self._dir(req.id) / f"{name}.bin", self.vault.seal(req.tenant_id, req.id, data, f"ceremony:{name}"),
                    make_parent=not req.events)  # only a request not filed yet gets a new folder

    def blob(self, req: SigningRequest, name: str) -> bytes:
        """A stored document, decrypted (NotFound if absent)."""
        path = self._dir(req.id) / f"{name}.bin"
        if not path.exists():
            raise NotFound(f"no {name} for this signing request")
        return self.vault.open(req.tenant_id, req.id, path.read_bytes(), f"ceremony:{name}")


def purge_requests(root: Path, older_than: dt.timedelta, at: dt.datetime | None = None,
                   dry_run: bool = False) -> list[str]:
    """Delete the requests that ended more than ``older_than`` ago: their files and links; their ids.

    Plain enrol/verify links' notes (who asks, why) go once their link expired as long ago.
    Only ``<data_dir>/ceremony`` is touched: the sealing's log entry, agreement and evidence
    artifacts live in the log and the evidence store, which are never purged.
    """
    at = at or dt.datetime.now(dt.timezone.utc)
    if not dry_run:
        _purge_link_notes(root, older_than, at)
    folder, gone = root / "requests", []
    for path in sorted(folder.iterdir()) if folder.exists() else []:
        try:
            data = json.loads((path / "request.json").read_text())
            req = SigningRequest(**data)
            ended = req.ended_at(at)
        except (OSError, ValueError, TypeError, KeyError):
            continue  # unreadable or half-written: not ours to judge; left for a person
        if ended is not None and at - ended > older_than:
            # The folder's own name, never the id inside the JSON: a tampered or mis-copied
            # request.json must not point the deletion at another request (or out of the folder).
            gone.append(path.name)
    if dry_run or not gone:
        return gone
    doomed = set(gone)
    tokens = root / "tokens"
    for link in tokens.iterdir() if tokens.exists() else []:
        try:
            if link.read_text().strip() in doomed:
                link.unlink()  # the link first: a half-purged request is never reachable by its link
        except OSError:
            continue
    for name in gone:
        shutil.rmtree(folder / name, ignore_errors=True)
    return gone


def _purge_link_notes(root: Path, older_than: dt.timedelta, at: dt.datetime) -> None:
    """Delete the notes (who asks, why) of plain links that expired more than ``older_than`` ago."""
    for path in (root / "links").glob("*.json") if (root / "links").exists() else []:
        try:
            expires = dt.datetime.fromisoformat(json.loads(path.read_text())["expires_at"])
            expires = expires if expires.tzinfo else expires.replace(tzinfo=dt.timezone.utc)
            if at - expires > older_than:
                path.unlink()
        except (OSError, ValueError, TypeError, KeyError):
            continue  # unreadable or half-written: left for a person, as requests are
