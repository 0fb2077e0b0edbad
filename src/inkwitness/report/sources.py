"""Where the material of a report comes from: files, sealed PDFs, log entries and the enrolment store.

Each loader returns the signature with a ``Submitted`` record whose ``source`` says, in a
language-neutral dict, how the item was obtained and what was checked on the way. The
evidence and store functions do the work; this module only wires them and refuses input
that does not hold together (``SourceError``: the CLI turns it into one line, exit 2).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InkwitnessError
from ..formats import native, read_signature
from ..signature import Signature
from .analysis import Submitted

if TYPE_CHECKING:
    from ..evidence.context import EvidenceContext
    from ..evidence.envelope import PrivateKey


class SourceError(InkwitnessError):
    """Material given for a report does not hold together (wrong field, entry, hash or key)."""


@dataclass(frozen=True)
class Item:
    """One signature for the report and the record of where it came from."""

    signature: Signature
    submitted: Submitted


def from_file(path: Path) -> Item:
    """A signature file as submitted."""
    return Item(read_signature(path), Submitted.from_path(path))


def open_context(data_dir: Path | None, database_url: str | None) -> EvidenceContext:
    """The evidence context of an existing data directory (a report never creates one)."""
    from ..evidence.context import DATA_DIR_ENV, DATABASE_URL_ENV, DEFAULT_DATA_DIR, EvidenceContext

    folder = data_dir or Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    url = database_url or os.environ.get(DATABASE_URL_ENV)
    if not url and not (folder / "inkwitness.db").exists():
        raise SourceError(f"no inkwitness database in {folder} (pass --data-dir or --database-url)")
    return EvidenceContext(folder, url)


def log_record(ctx: EvidenceContext, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(record, event) of a log entry: its leaf hash and whether its inclusion proof verifies.

    The proof is checked independently of the log's own code path: leaf hash recomputed from
    the stored bytes, audit path folded up to the root of the signed checkpoint.
    """
    from ..evidence import merkle
    from ..evidence.checkpoint import open_checkpoint
    from ..evidence.envelope import EvidenceError

    size = ctx.log.size()
    if not 0 <= index < size:
        raise SourceError(f"--log-entry {index}: the log has {size} entries"
                          + (f" (0 to {size - 1})" if size else ""))
    data, leaf = ctx.log.entry(index)
    proof = ctx.log.prove_inclusion(index, size)
    try:
        cp = open_checkpoint(proof["checkpoint"], ctx.log.verifier_key)
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        included = (merkle.leaf_hash(data).hex() == leaf and cp.size == size
                    and merkle.verify_inclusion(index, cp.size, merkle.leaf_hash(data), path, cp.root))
    except (EvidenceError, ValueError):
        included = False
    event = json.loads(data)
    record = {"index": index, "leaf_hash": leaf, "tree_size": size, "included": bool(included),
              "event_type": event.get("type"), "log_key": ctx.log.verifier_key.split("+")[0]}
    return record, event


def _signing_entry(ctx: EvidenceContext, container_sha256: str) -> dict[str, Any] | None:
    """The log record of the signing event of a container, if the log has one."""
    found = ctx.log.find(container_sha256=container_sha256, type="signing")
    return log_record(ctx, found[0][0])[0] if found else None


def from_sealed_pdf(data: bytes, name: str, field: str | None, keys: list[PrivateKey], trust: list[Path],
                    ctx: EvidenceContext | None = None) -> Item:
    """The escrowed packet of one signature field of a sealed PDF, after checking the PDF signature.

    Refused when the field is unknown, its signature does not verify (bytes altered) or its
    container is not bound to the signed revision; trust and time-stamp status are recorded.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    from ..evidence.envelope import find_key, open_container
    from ..evidence.pdf import evidence_of, verify_pdf

    if not data.startswith(b"%PDF"):
        raise SourceError(f"{name or 'the questioned PDF'} is not a PDF")
    checks = {c.field: c for c in verify_pdf(data, trust)}
    if field is None:
        if len(checks) != 1:
            raise SourceError(f"the PDF has {len(checks)} signatures; name one with --field "
                              f"(fields: {', '.join(checks)})")
        field = next(iter(checks))
    check = checks.get(field)
    if check is None:
        raise SourceError(f"--field {field}: the PDF has no signature field {field!r} (fields: {', '.join(checks)})")
    if not (check.intact and check.valid):
        raise SourceError(f"the PDF signature in field {field!r} does not verify: "
                          + (check.problems[0] if check.problems else "digest or signature mismatch"))
    if not check.biometric.get("bound"):
        raise SourceError(f"field {field!r}: " + next((p for p in check.problems if "biometric" in p),
                                                      "the biometric container is not bound to this document"))
    emb = next(e for e in PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
               if str(e.field_name) == field and e.sig_object_type != "/DocTimeStamp")
    container, _ = evidence_of(emb)
    assert container is not None  # verify_pdf found it bound
    # The escrow key opens the container only if it is the one it was sealed to; the
    # document hash was checked against the signed revision by verify_pdf.
    packet = open_container(container, find_key(container, keys), container.document_sha256)
    sig = native.loads(packet)
    ts = check.timestamp or {}
    source = {"kind": "pdf", "field": field, "signer": check.signer, "intact": check.intact, "valid": check.valid,
              "trusted": check.trusted, "timestamp": ts.get("time"), "timestamp_valid": bool(ts.get("valid")),
              "container_sha256": container.sha256, "bound": True, "problems": list(check.problems),
              "log": _signing_entry(ctx, container.sha256) if ctx is not None else None,
              "log_checked": ctx is not None}
    return Item(sig, Submitted(name, hashlib.sha256(data).hexdigest(), source))


def _named_hashes(event: dict[str, Any]) -> set[str]:
    """The packet hashes a log event names (a signature, or an enrolment's references)."""
    named = {event.get("signature_sha256")}
    named.update(event.get("references") or [])
    named.discard(None)
    return named


def with_log_entry(ctx: EvidenceContext, index: int, item: Item) -> Item:
    """State a log entry as the provenance of an item whose packet (or container) the entry names."""
    record, event = log_record(ctx, index)
    source = dict(item.submitted.source or {"kind": "file"})
    if source["kind"] == "pdf":
        if event.get("container_sha256") != source["container_sha256"]:
            raise SourceError(f"--log-entry {index} records another container than field {source['field']!r} "
                              "of the questioned PDF")
        source["log"] = record
    else:
        if item.signature.sha256 not in _named_hashes(event):
            raise SourceError(f"--log-entry {index} ({event.get('type')}) does not name the questioned packet "
                              f"{item.signature.sha256[:16]}...: the hashes differ")
        source = {"kind": "log", "log": record}
    return replace(item, submitted=replace(item.submitted, source=source))


def from_log_entry(ctx: EvidenceContext, index: int, keys: list[PrivateKey], trust: list[Path],
                   field: str | None = None) -> Item:
    """The questioned signature of a signing entry whose sealed PDF the data directory keeps."""
    record, event = log_record(ctx, index)
    pdf = ctx.artifacts_for(index).get("pdf")
    if pdf is None:
        raise SourceError(f"log entry {index} ({event.get('type')}) keeps hashes only; give the packet with "
                          "--questioned FILE to check it against the entry")
    if not keys:
        raise SourceError(f"log entry {index} keeps a sealed PDF: --escrow-key is needed to open its packet")
    item = from_sealed_pdf(pdf, "", field or event.get("field"), keys, trust, ctx)
    item = with_log_entry(ctx, index, item)
    source = {**(item.submitted.source or {}), "stored_with": index}
    return replace(item, submitted=replace(item.submitted, source=source))


def from_store(ctx: EvidenceContext, subject: str) -> list[Item]:
    """A subject's enrolled references, decrypted through the service's repository with the storage key."""
    from ..service.custody import key_path, open_vault
    from ..service.settings import STORAGE_KEY_ENV, Settings
    from ..service.storage import Repository

    settings = Settings(data_dir=ctx.data_dir, database_url=ctx.database_url)
    # Without this check the store would make a fresh key, which opens nothing.
    if not os.environ.get(STORAGE_KEY_ENV) and not key_path(settings).exists():
        raise SourceError(f"no storage key: {key_path(settings)} is missing and {STORAGE_KEY_ENV} is not set")
    repo = Repository(ctx.sessions, open_vault(settings, ctx.sessions))
    tenant = repo.tenant_of_subject(subject)
    enrolment, rows = repo.active_enrolment(tenant, subject)
    found = ctx.log.find(type="enrolment", enrolment=enrolment.id)
    record, event = log_record(ctx, found[-1][0]) if found else (None, {})
    items = []
    for row in rows:
        sig = repo.load_signature(row, keep=False)
        source = {"kind": "store", "subject": subject, "enrolment": enrolment.id, "log": record,
                  "listed": sig.sha256 in _named_hashes(event) if record else None}
        items.append(Item(sig, Submitted("", "", source)))
    return items


__all__ = ["Item", "SourceError", "from_file", "from_log_entry", "from_sealed_pdf", "from_store", "log_record",
           "open_context", "with_log_entry"]
