"""Evidence bundles: everything an examiner needs to check one event offline.

A bundle is a ZIP (stored, not compressed, so damage stays local) with::

    MANIFEST.json        SHA-256 of every other member, and what the bundle is about
    MANIFEST.sig         the manifest signed as a note by the log key
    entry.json           the log entry (canonical JSON event) and its index
    proof.json           inclusion proof of the entry in the checkpoint's tree
    checkpoint.txt       the signed checkpoint (C2SP signed note), with witness co-signatures if any
    log-key.txt          the log's verifier key
    container.json       the escrow container (if the event has one)
    escrow-public.pem    the escrow public key id is in the container; the key itself if known
    signed.pdf           the sealed PDF (signing events)
    trust/*.pem          certificates needed to validate the PDF offline
    README.md            how to check all of the above by hand

``verify_bundle`` needs no database and no network.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from . import merkle
from .checkpoint import open_checkpoint, parse_verifier_key
from .envelope import Container, EvidenceError

MAX_BUNDLE_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 64

README = """# inkwitness evidence bundle

This bundle lets an examiner check one recorded event without any database or network.

1. `MANIFEST.json` lists the SHA-256 of every other file; `MANIFEST.sig` is the manifest's
   Ed25519 signature by the log key (`log-key.txt`, format `name+keyhash+base64(0x01||key)`).
2. `entry.json` holds the log entry. Its leaf hash is SHA-256(0x00 || canonical JSON of
   `event`) (RFC 6962). `proof.json` is the inclusion proof (audit path) of that leaf in the
   tree whose size and root hash are in `checkpoint.txt`, a C2SP signed note by the log key.
3. `container.json` is the escrow container. Only the escrow private key holder can open it
   (`inkwitness escrow decrypt container.json --key escrow.pem`); its SHA-256 is recorded in
   the log entry, and its header names the document hash it is bound to.
4. `signed.pdf`, for signing events, is the sealed document. Validate its PAdES signatures
   with the certificates in `trust/` or, better, with the trust anchor you hold yourself.

   Lines by other names in `checkpoint.txt` are witness co-signatures (C2SP
   tlog-cosignature): independent parties vouch that this tree extends every tree they
   saw before, so the log cannot show you a rewritten history.

`inkwitness evidence verify bundle.zip --trust ca.pem --log-key KEY [--witness-key W]` does all of this.
Pin the trust anchor and the log key from an independent source: keys taken from the
bundle itself only prove consistency, not origin, so without them the check reports
UNTRUSTED and fails unless you pass `--trust-bundle-keys`.
"""


def build_bundle(entry_index: int, event: bytes, proof: list[str], checkpoint: str, log_key: str,
                 sign_manifest: Any, container: bytes | None = None, pdf: bytes | None = None,
                 trust: dict[str, bytes] | None = None, escrow_public: bytes | None = None) -> bytes:
    """Assemble a bundle; ``sign_manifest`` signs bytes with the log's Ed25519 key."""
    members: dict[str, bytes] = {
        "entry.json": json.dumps({"index": entry_index, "event": json.loads(event)}, sort_keys=True,
                                 ensure_ascii=False, indent=1).encode("utf-8"),
        "proof.json": json.dumps({"index": entry_index, "audit_path": proof}, indent=1).encode(),
        "checkpoint.txt": checkpoint.encode(),
        "log-key.txt": (log_key + "\n").encode(),
        "README.md": README.encode(),
    }
    if container is not None:
        members["container.json"] = container
    if pdf is not None:
        members["signed.pdf"] = pdf
    if escrow_public is not None:
        members["escrow-public.pem"] = escrow_public
    for name, data in (trust or {}).items():
        members[f"trust/{name}"] = data
    manifest = json.dumps({"format": "inkwitness.bundle/1", "entry": entry_index,
                           "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(members.items())}},
                          sort_keys=True, indent=1).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in [("MANIFEST.json", manifest), ("MANIFEST.sig", base64.b64encode(sign_manifest(manifest))),
                           *sorted(members.items())]:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(info, data)
    return buf.getvalue()


@dataclass
class BundleReport:
    """Outcome of an offline bundle check.

    ``untrusted`` lists keys and anchors taken from the bundle itself: they show the bundle
    is self-consistent, not who made it, so they fail the report unless the caller opted in.
    """

    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    untrusted: list[tuple[str, str]] = field(default_factory=list)
    accept_bundle_keys: bool = False

    def add(self, what: str, ok: bool, detail: str = "") -> None:
        """Record one check."""
        self.checks.append((what, ok, detail))

    def add_untrusted(self, what: str, detail: str) -> None:
        """Record a key or anchor that came from the bundle rather than from the caller."""
        self.untrusted.append((what, detail))

    @property
    def ok(self) -> bool:
        """Every check passed, and nothing rests on bundle keys unless the caller accepted that."""
        return (bool(self.checks) and all(ok for _, ok, _ in self.checks)
                and (self.accept_bundle_keys or not self.untrusted))

    @property
    def problems(self) -> list[str]:
        """The failed checks (and unaccepted bundle keys), as sentences."""
        failed = [f"{what}: {detail}" for what, ok, detail in self.checks if not ok]
        if not self.accept_bundle_keys:
            failed += [f"{what}: UNTRUSTED, {detail}" for what, detail in self.untrusted]
        return failed


def _read_members(data: bytes, report: BundleReport) -> dict[str, bytes] | None:
    if len(data) > MAX_BUNDLE_BYTES:
        report.add("bundle", False, "larger than the limit")
        return None
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        report.add("bundle zip structure", False, f"corrupt ({exc})")
        return None
    if len(infos) > MAX_MEMBERS:
        report.add("bundle", False, f"has {len(infos)} members, at most {MAX_MEMBERS} expected")
        return None
    members: dict[str, bytes] = {}
    for info in infos:
        if info.file_size > MAX_BUNDLE_BYTES or ".." in info.filename or info.filename.startswith("/"):
            report.add(f"member {info.filename!r}", False, "unsafe name or size")
            continue
        try:
            members[info.filename] = zf.read(info)
        except (zipfile.BadZipFile, ValueError, OSError, UnicodeDecodeError) as exc:
            report.add(f"member {info.filename}", False, f"damaged ({exc})")
    return members


def _key_name(text: str) -> str:
    # The name and key hash identify a verifier key without its 44 base64 characters.
    return "+".join(text.strip().split("+")[:2])


def verify_bundle(data: bytes, trust: list[Path] | None = None, log_key: str | None = None,
                  trust_bundle_keys: bool = False, witness_keys: list[str] | None = None) -> BundleReport:
    """Check a bundle offline: manifest, log key, checkpoint, inclusion, container, PDF.

    Without a pinned ``log_key`` and ``trust`` roots the bundle's own are used, reported as
    UNTRUSTED, and the report fails unless ``trust_bundle_keys`` is set.
    """
    report = BundleReport(accept_bundle_keys=trust_bundle_keys)
    members = _read_members(data, report)
    if members is None:
        return report
    pinned = log_key is not None
    bundle_key = members.get("log-key.txt", b"").decode("utf-8", "replace").strip()
    key_text = log_key.strip() if log_key is not None else bundle_key
    try:
        name, public = parse_verifier_key(key_text)
    except EvidenceError as exc:
        report.add("pinned log key" if pinned else "log key", False, str(exc))
        return report
    if pinned:
        report.add("log key", True, f"pinned by the caller ({_key_name(key_text)})")
    else:
        report.add_untrusted("log key", f"taken from the bundle itself ({_key_name(key_text)}); pin it with "
                                        "--log-key, or accept it with --trust-bundle-keys")
    other_key = _other_signer(bundle_key, key_text) if pinned else None
    manifest_raw = members.get("MANIFEST.json")
    try:
        sig = base64.b64decode(members.get("MANIFEST.sig", b""), validate=True)
        public.verify(sig, manifest_raw or b"")
        report.add("MANIFEST.sig", True, "manifest signed by the log key")
    except (ValueError, _BadSignature):
        if other_key is not None and _verifies(other_key, members.get("MANIFEST.sig", b""), manifest_raw or b""):
            report.add("MANIFEST.sig", False, f"manifest signed by log key {_key_name(bundle_key)} (the bundle's "
                       f"log-key.txt), but the pinned key is {_key_name(key_text)}: a different log signed it")
        else:
            report.add("MANIFEST.json / MANIFEST.sig", False,
                       "manifest signature does not verify (manifest altered)")
    try:
        manifest = json.loads(manifest_raw or b"")
        files = manifest["files"]
    except (ValueError, KeyError, TypeError):
        report.add("MANIFEST.json", False, "unreadable")
        return report
    for member, digest in sorted(files.items()):
        got = members.get(member)
        if got is None:
            report.add(member, False, "listed in the manifest but missing")
        elif hashlib.sha256(got).hexdigest() != digest:
            report.add(member, False, "content differs from the manifest (altered)")
    for extra in sorted(set(members) - set(files) - {"MANIFEST.json", "MANIFEST.sig"}):
        report.add(extra, False, "not listed in the manifest (inserted)")
    try:
        cp = open_checkpoint(members["checkpoint.txt"].decode(), key_text)
        report.add("checkpoint.txt", True, f"signed tree of {cp.size} entries")
        _check_cosignatures(members["checkpoint.txt"].decode(), witness_keys or [], report)
    except (EvidenceError, KeyError, UnicodeDecodeError) as exc:
        detail = str(exc)
        if other_key is not None and "checkpoint.txt" in members:
            try:
                open_checkpoint(members["checkpoint.txt"].decode(), bundle_key)
                detail = (f"signed by log key {_key_name(bundle_key)}, expected the pinned key "
                          f"{_key_name(key_text)}")
            except (EvidenceError, UnicodeDecodeError):
                pass
        report.add("checkpoint.txt", False, detail)
        return report
    try:
        entry = json.loads(members["entry.json"])
        proof = json.loads(members["proof.json"])
        event_bytes = json.dumps(entry["event"], sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False).encode("utf-8")
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        index = int(entry["index"])
    except (ValueError, KeyError, TypeError) as exc:
        report.add("entry.json / proof.json", False, f"unreadable ({exc})")
        return report
    included = index == proof.get("index") and merkle.verify_inclusion(index, cp.size, merkle.leaf_hash(event_bytes),
                                                                         path, cp.root)
    report.add("entry.json + proof.json", included,
               f"entry {index} is in the signed tree" if included else "inclusion proof fails (entry or proof altered)")
    event = entry["event"]
    if "container.json" in members:
        raw = members["container.json"]
        try:
            container = Container.from_bytes(raw)
            ok = hashlib.sha256(raw).hexdigest() == event.get("container_sha256")
            report.add("container.json", ok, "matches the logged hash" if ok else "differs from the logged hash")
            if event.get("document_sha256") and container.document_sha256 != event.get("document_sha256"):
                report.add("container.json", False, "bound to a different document than the logged one")
        except EvidenceError as exc:
            report.add("container.json", False, str(exc))
    if "signed.pdf" in members:
        _check_pdf(members, event, trust, report)
    if "signed.pdf" in members and not trust:
        report.add_untrusted("trust anchors", "the PDF was validated against CA certificates taken from the "
                                              "bundle itself; pin yours with --trust, or accept them with "
                                              "--trust-bundle-keys")
    return report


def _check_cosignatures(note: str, witness_keys: list[str], report: BundleReport) -> None:
    """Every pinned witness must have co-signed the checkpoint."""
    import datetime as dt

    from .witness import verify_cosignature

    for key in witness_keys:
        name = _key_name(key)
        try:
            stamp = verify_cosignature(note, key)
        except EvidenceError as exc:
            report.add(f"checkpoint.txt witness {name}", False, str(exc))
            continue
        when = dt.datetime.fromtimestamp(stamp, dt.timezone.utc).isoformat()
        report.add(f"checkpoint.txt witness {name}", True, f"co-signed at {when} (consistent with what it saw)")


def _other_signer(bundle_key: str, pinned: str) -> ed25519.Ed25519PublicKey | None:
    """The bundle's own log key when it parses and differs from the pinned one."""
    try:
        _, public = parse_verifier_key(bundle_key)
    except EvidenceError:
        return None
    return public if bundle_key.strip() != pinned.strip() else None


def _verifies(public: ed25519.Ed25519PublicKey, sig_b64: bytes, message: bytes) -> bool:
    try:
        public.verify(base64.b64decode(sig_b64, validate=True), message)
    except (ValueError, _BadSignature):
        return False
    return True


def _check_pdf(members: dict[str, bytes], event: dict[str, Any], trust: list[Path] | None,
               report: BundleReport) -> None:
    import tempfile

    from .pdf import verify_pdf

    pdf = members["signed.pdf"]
    if hashlib.sha256(pdf).hexdigest() != event.get("signed_document_sha256"):
        report.add("signed.pdf", False, "differs from the logged hash of the sealed document")
    with tempfile.TemporaryDirectory() as tmp:
        roots = list(trust or [])
        if not roots:
            for name, data in members.items():
                if name.startswith("trust/"):
                    path = Path(tmp) / Path(name).name
                    path.write_bytes(data)
                    roots.append(path)
        try:
            checks = verify_pdf(pdf, roots)
        except EvidenceError as exc:
            report.add("signed.pdf", False, str(exc))
            return
    for check in checks:
        report.add(f"signed.pdf {check.field}", check.ok, "; ".join(check.problems) or "valid, trusted, time-stamped, "
                   "biometric container bound")
