"""A transparency-log witness: co-signs a checkpoint only if it extends the last one it signed.

The log operator signs its own checkpoints, so on its own a checkpoint shows only that the
operator stands by it, not that the operator showed everyone the same history. A witness
is an independent party with its own Ed25519 key. It remembers, per log origin, the last
tree (size, root) it co-signed and co-signs a new checkpoint only when

* the checkpoint carries a valid signature of that log's (pinned) key, and
* an RFC 6962 consistency proof shows the new tree extends the remembered one.

A log that rewrites history (and re-signs it with its own key) cannot produce that proof,
so the witness refuses, and a relying party that requires the witness's co-signature
(``evidence verify --witness-key``) rejects the rewritten checkpoint.

Formats follow C2SP tlog-cosignature and tlog-witness: the co-signed message is
``cosignature/v1\\ntime <unix seconds>\\n`` followed by the checkpoint body; the note
line is ``\\u2014 <name> <base64(key id || 8-byte big-endian time || Ed25519 signature)>``
with key id = SHA-256(name || 0x0A || 0x04 || public key)[:4]; the witness's verifier
key is ``<name>+<hex key id>+<base64(0x04 || public key)>``. ``add-checkpoint`` requests
are ``old <size>\\n`` then one base64 proof hash per line, a blank line and the note.

This module depends only on :mod:`.checkpoint` and :mod:`.merkle`.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from . import merkle
from .checkpoint import (EM_DASH, Checkpoint, EvidenceError, key_hash, load_or_create_key, open_checkpoint,
                         verifier_key)

COSIGNATURE_V1 = 0x04
MAX_REQUEST = 256 * 1024


class WitnessError(EvidenceError):
    """The witness refuses to co-sign (bad signature, inconsistent history, malformed request)."""


class WitnessConflict(WitnessError):
    """The request's old size is not the size the witness last co-signed; retry from ``size``."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def cosigner_key_id(name: str, public: ed25519.Ed25519PublicKey) -> bytes:
    """The 4-byte key id of a cosignature/v1 key."""
    return key_hash(name, public, COSIGNATURE_V1)


def witness_verifier_key(name: str, public: ed25519.Ed25519PublicKey) -> str:
    """The witness's verifier key string (``name+keyid+base64(0x04||key)``) that relying parties pin."""
    return verifier_key(name, public, COSIGNATURE_V1, WitnessError, "a witness name")


def parse_witness_key(text: str) -> tuple[str, ed25519.Ed25519PublicKey]:
    """Parse a witness verifier key, checking its key id."""
    try:
        name, id_hex, key_b64 = text.strip().split("+", 2)
        raw = base64.b64decode(key_b64, validate=True)
        if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
            raise ValueError("not a cosignature/v1 Ed25519 key")
        public = ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, IndexError) as exc:
        raise WitnessError(f"malformed witness key: {exc}") from exc
    if cosigner_key_id(name, public).hex() != id_hex:
        raise WitnessError("witness key id does not match its key")
    return name, public


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signature covers."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def _body_of(note: str) -> str:
    if "\n\n" not in note:
        raise WitnessError("checkpoint note has no signature block")
    return note.split("\n\n", 1)[0] + "\n"


def cosign_body(body: str, name: str, key: ed25519.Ed25519PrivateKey, timestamp: int | None = None) -> str:
    """One cosignature line over a checkpoint body."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    sig = key.sign(cosigned_message(body, stamp))
    blob = cosigner_key_id(name, key.public_key()) + struct.pack(">Q", stamp) + sig
    return f"{EM_DASH} {name} {base64.b64encode(blob).decode()}"


def add_signature_lines(note: str, lines: list[str]) -> str:
    """The note with extra signature lines appended (duplicates dropped)."""
    present = set(note.rstrip("\n").split("\n"))
    extra = [line for line in lines if line not in present]
    return note.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in extra)


def verify_cosignature(note: str, verifier: str) -> int:
    """Check the note carries a valid cosignature by ``verifier``; returns its time (unix seconds)."""
    name, public = parse_witness_key(verifier)
    body = _body_of(note)
    key_id = cosigner_key_id(name, public)
    for line in note.split("\n\n", 1)[1].splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if len(blob) != 4 + 8 + 64 or blob[:4] != key_id:
            continue
        (stamp,) = struct.unpack(">Q", blob[4:12])
        try:
            public.verify(blob[12:], cosigned_message(body, stamp))
        except _BadSignature:
            raise WitnessError(f"cosignature by witness {name} does not verify: the checkpoint was altered") from None
        return stamp
    raise WitnessError(f"checkpoint carries no cosignature by witness {name}")


def load_or_create_witness_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The witness's own Ed25519 key, created (mode 0600) on first use."""
    return load_or_create_key(path, WitnessError)


@dataclass(frozen=True)
class Remembered:
    """The last tree a witness co-signed for one log."""

    size: int
    root: bytes


class Witness:
    """Co-signs checkpoints of the logs it knows, never two histories of one log."""

    def __init__(self, name: str, key: ed25519.Ed25519PrivateKey, state_path: Path,
                 logs: dict[str, str]) -> None:
        """``logs`` maps each log origin to the log's pinned verifier key."""
        self.name = name
        self.key = key
        self.state_path = Path(state_path)
        self.logs = dict(logs)
        self._lock = threading.Lock()
        witness_verifier_key(name, key.public_key())  # validates the name

    @property
    def verifier_key(self) -> str:
        """The key string relying parties pin to require this witness."""
        return witness_verifier_key(self.name, self.key.public_key())

    def _load(self) -> dict[str, Remembered]:
        if not self.state_path.exists():
            return {}
        try:
            raw = json.loads(self.state_path.read_text())
            return {origin: Remembered(int(v["size"]), base64.b64decode(v["root"], validate=True))
                    for origin, v in raw.items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise WitnessError(f"witness state {self.state_path} is damaged: {exc}") from exc

    def _save(self, state: dict[str, Remembered]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({o: {"size": r.size, "root": base64.b64encode(r.root).decode()}
                                   for o, r in state.items()}, indent=1, sort_keys=True))
        # Written then renamed, so a crash never leaves a half-written state (which could
        # make the witness forget what it signed).
        os.replace(tmp, self.state_path)

    def remembered(self, origin: str) -> Remembered | None:
        """The last tree co-signed for ``origin``."""
        return self._load().get(origin)

    def cosign(self, note: str, old_size: int, proof: list[bytes], timestamp: int | None = None) -> str:
        """Co-sign ``note`` if it extends the remembered tree of size ``old_size``; returns the cosignature line."""
        origin = note.split("\n", 1)[0]
        if origin not in self.logs:
            raise WitnessError(f"unknown log origin {origin!r}")
        try:
            cp: Checkpoint = open_checkpoint(note, self.logs[origin])
        except EvidenceError as exc:
            raise WitnessError(f"checkpoint is not signed by the log's key: {exc}") from exc
        with self._lock:
            state = self._load()
            last = state.get(origin, Remembered(0, merkle.EMPTY_ROOT))
            if old_size != last.size:
                raise WitnessConflict(f"the witness last co-signed size {last.size}, not {old_size}", last.size)
            if cp.size < last.size:
                raise WitnessError(f"checkpoint of size {cp.size} is older than the co-signed size {last.size} "
                                   "(rollback)")
            if cp.size == last.size and cp.root != last.root and last.size:
                raise WitnessError(f"checkpoint of size {cp.size} has another root than the one co-signed "
                                   "(the log forked)")
            if last.size and not merkle.verify_consistency(last.size, cp.size, last.root, cp.root, proof):
                raise WitnessError(f"the tree of size {cp.size} is not consistent with the co-signed tree of size "
                                   f"{last.size}: the log rewrote its history")
            line = cosign_body(_body_of(note), self.name, self.key, timestamp)
            state[origin] = Remembered(cp.size, cp.root)
            self._save(state)
        return line


def add_checkpoint_request(old_size: int, proof: list[bytes], note: str) -> bytes:
    """The body of a tlog-witness ``add-checkpoint`` request."""
    lines = [f"old {old_size}"] + [base64.b64encode(p).decode() for p in proof]
    return ("\n".join(lines) + "\n\n" + note).encode()


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], str]:
    """Split an ``add-checkpoint`` request into old size, proof and checkpoint note."""
    try:
        text = body.decode("utf-8")
        head, note = text.split("\n\n", 1)
        first, *proof_lines = head.split("\n")
        if not first.startswith("old "):
            raise ValueError("first line must be 'old <size>'")
        old = int(first[4:])
        proof = [base64.b64decode(p, validate=True) for p in proof_lines]
        if old < 0 or any(len(p) != 32 for p in proof) or len(proof) > 63:
            raise ValueError("bad size or proof hash")
    except (UnicodeDecodeError, ValueError) as exc:
        raise WitnessError(f"malformed add-checkpoint request: {exc}") from exc
    return old, proof, note


class WitnessServer:
    """The witness over HTTP: ``POST /add-checkpoint`` (C2SP tlog-witness), on a background thread."""

    def __init__(self, witness: Witness, host: str = "127.0.0.1", port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != "/add-checkpoint" or not 0 < length <= MAX_REQUEST:
                    self._reply(404 if self.path != "/add-checkpoint" else 400, b"expected POST /add-checkpoint\n")
                    return
                try:
                    old, proof, note = parse_add_checkpoint(self.rfile.read(length))
                    line = witness.cosign(note, old, proof)
                except WitnessConflict as exc:
                    self._reply(409, f"{exc.size}\n".encode(), "text/x.tlog.size")
                    return
                except WitnessError as exc:
                    # Bad signatures and unknown logs are 403, inconsistent proofs 422 (tlog-witness).
                    code = 422 if "consistent" in str(exc) or "rollback" in str(exc) or "forked" in str(exc) else 403
                    self._reply(code, f"{exc}\n".encode())
                    return
                self._reply(200, f"{line}\n".encode())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL (append ``/add-checkpoint``)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WitnessServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> WitnessServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def submit(url: str, old_size: int, proof: list[bytes], note: str, timeout: float = 30.0) -> str:
    """Send a checkpoint to a witness server; returns its cosignature line(s) or raises WitnessError."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url.rstrip("/") + "/add-checkpoint", data=add_checkpoint_request(
        old_size, proof, note), method="POST", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            return response.read().decode().strip()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace").strip()
        if exc.code == 409:
            raise WitnessConflict(f"the witness is at size {detail}", int(detail or 0)) from None
        raise WitnessError(f"witness refused ({exc.code}): {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessError(f"cannot reach the witness at {url}: {exc}") from exc
