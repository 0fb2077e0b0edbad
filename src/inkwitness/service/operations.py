"""What the service does, independent of HTTP: enrol, verify (with replay detection), sign, report."""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from ..errors import EnrolmentError, InkwitnessError
from ..evidence.context import EvidenceContext
from ..evidence.log import entry_time
from ..signature import Signature
from ..verification import Prepared, Verifier, dtw_compare, prepare
from .committer import GroupCommitter
from .replay import pack_fingerprint, replay_functions, replay_matrices, screen, unpack_fingerprint
from .settings import Settings
from .storage import Repository, remember

#: A questioned sample closer than this (in units of the references' mutual DTW distance)
#: to a stored sample is a replay: genuine repetitions are never that alike.
REPLAY_RATIO = 0.15
#: Bounds of the per-process caches. A prepared 300-point reference is ~40 kB and a template
#: with its references ~0.4 MB, so a worker's caches stay below ~0.25 GB however long it runs.
PREPARED_CACHE = 1024
TEMPLATE_CACHE = 512
#: Full replay matrices of stored questioned samples that passed the coarse screen (~10 kB
#: each; a few in a thousand verifications need one).
MATRIX_CACHE = 64
#: How many of the stored samples closest on the fixed-length screen go on to DTW. Every stored
#: sample of the subject is screened (no window that filler submissions could push a sample out of).
REPLAY_SHORTLIST = 8
#: Fixed-length screens kept per process (~1 kB each).
SCREEN_CACHE = 8192


def _mark_replay(result: dict[str, Any], why: str) -> None:
    result["decision"] = "replay"
    result["reasons"] = [f"replay: {why}", *result["reasons"]]


@dataclass
class SealingSetup:
    """What document sealing uses: certificate, key, chain, TSA and escrow public key."""

    cert: Path
    key: Path
    chain: tuple[Path, ...]
    tsa_url: str
    escrow_public: Path
    trust_roots: tuple[Path, ...]


class Operations:
    """The service's operations over a repository and the evidence context."""

    def __init__(self, repo: Repository, evidence: EvidenceContext, settings: Settings,
                 sealing: SealingSetup | None = None) -> None:
        self.repo = repo
        self.evidence = evidence
        self.settings = settings
        self.sealing = sealing
        self._templates: OrderedDict[str, Verifier] = OrderedDict()
        self._prepared: OrderedDict[str, Prepared] = OrderedDict()
        self._matrices: OrderedDict[tuple[str, tuple[str, ...]], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._screens: OrderedDict[tuple[str, tuple[str, ...]], np.ndarray] = OrderedDict()
        self._lock = Lock()
        self.committer = GroupCommitter(evidence.log.transaction)

    # --- helpers ------------------------------------------------------------------------
    def _log(self, event: dict[str, Any]) -> int:
        return self.evidence.log.append({"time": entry_time(), **event}).index

    def _prepared_of(self, row: Any) -> Prepared:
        with self._lock:
            cached = self._prepared.get(row.id)
        if cached is not None:
            return cached
        prep = prepare(self.repo.load_signature(row))
        remember(self._prepared, self._lock, row.id, prep, PREPARED_CACHE)
        return prep

    def _verifier(self, tenant_id: str, subject_id: str) -> tuple[str, Verifier]:
        enrolment_id = self.repo.active_enrolment_id(tenant_id, subject_id)
        with self._lock:
            verifier = self._templates.get(enrolment_id)
        if verifier is None:
            enrolment, refs = self.repo.active_enrolment(tenant_id, subject_id)
            verifier = Verifier().fit([self._prepared_of(r) for r in refs], check_consistency=False)
            remember(self._templates, self._lock, enrolment.id, verifier, TEMPLATE_CACHE)
            enrolment_id = enrolment.id
        return enrolment_id, verifier

    # --- enrolment ------------------------------------------------------------------------
    def enrol(self, tenant_id: str, subject_id: str, references: list[Signature], actor: str = "system",
              replace: bool = False) -> dict[str, Any]:
        """Build and store a template; refuse too few, duplicate or inconsistent references.

        Replacing an active enrolment needs ``replace`` (else Conflict); who did it is audited and logged.
        """
        from .storage import Conflict

        self.repo.subject(tenant_id, subject_id)
        if not replace and self.repo.is_enrolled(tenant_id, subject_id):
            raise Conflict(f"subject {subject_id} is already enrolled; re-enrolment must be asked for "
                           "explicitly (replace: true)")
        for i, sig in enumerate(references, 1):
            if self.repo.has_identical(tenant_id, subject_id, sig.sha256):
                raise EnrolmentError(f"reference {i} is identical to a signature already stored for this subject")
        verifier = Verifier().fit(references)  # raises EnrolmentError naming an inconsistent reference
        funcs = replay_functions(verifier.model_)
        fingerprints = [pack_fingerprint(funcs, replay_matrices(sig, funcs)[1]) for sig in references]
        enrolment, previous = self.repo.save_enrolment(tenant_id, subject_id, references, fingerprints, actor,
                                                       replace)
        event = {"type": "enrolment", "tenant": tenant_id, "subject": subject_id, "enrolment": enrolment.id,
                 "references": [s.sha256 for s in references], "by": actor}
        if previous:
            event["replaces"] = previous
        index = self._log(event)
        return {"id": enrolment.id, "subject_id": subject_id, "references": len(references), "log_index": index,
                "replaced": previous}

    # --- verification ---------------------------------------------------------------------
    def _replay_of(self, tenant_id: str, subject_id: str, sig: Signature, qm: np.ndarray, coarse_q: np.ndarray,
                   verifier: Verifier) -> str | None:
        identical, candidates = self.repo.replay_candidates(tenant_id, subject_id, sig.sha256)
        if identical:
            return "identical to a stored signature of this subject"
        model = verifier.model_
        funcs = replay_functions(model)
        scale, _, _ = verifier.template_.spread(funcs, model)
        screens, kept = [], []
        for row_id, row_sha, blob in candidates:
            found = self._screen_of(row_id, blob, funcs)
            if found is not None:
                screens.append(found[1])
                kept.append((row_id, row_sha, found[0]))
        if not kept:
            return None
        gaps = np.sqrt(((np.stack(screens) - screen(coarse_q)) ** 2).mean(axis=(1, 2)))
        for i in np.argsort(gaps, kind="stable")[:REPLAY_SHORTLIST]:
            row_id, row_sha, coarse_o = kept[i]
            # A replay is close at every resolution: a 4x-decimated DTW (1/16 of the work)
            # rules out the clearly different samples before the full comparison.
            coarse, _ = dtw_compare(coarse_q, coarse_o, model.window_frac, 3.0)
            if not coarse < 3 * REPLAY_RATIO * scale:
                continue
            matrices = self._view_matrices(row_id, funcs)
            if matrices is None:
                continue
            distance, _ = dtw_compare(qm, matrices[0], model.window_frac, model.min_window)
            if math.isfinite(distance) and distance < REPLAY_RATIO * scale:
                return (f"near-identical to stored signature {row_sha[:12]} "
                        f"(distance {distance / scale:.3f} of the references' spread)")
        return None

    def _screen_of(self, row_id: str, blob: bytes | None,
                   funcs: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        """(decimated matrix, fixed-length screen) of a stored sample, from its fingerprint or its packet."""
        key = (row_id, funcs)
        with self._lock:
            cached = self._screens.get(key)
        if cached is not None:
            return cached
        coarse = None if blob is None else unpack_fingerprint(blob, funcs)
        if coarse is None:  # stored before re-timed fingerprints, or under another model
            matrices = self._view_matrices(row_id, funcs)
            if matrices is None:
                return None
            coarse = matrices[1]
        found = (coarse, screen(coarse))
        remember(self._screens, self._lock, key, found, SCREEN_CACHE)
        return found

    def _view_matrices(self, row_id: str, funcs: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        key = (row_id, funcs)
        with self._lock:
            cached = self._matrices.get(key)
        if cached is None:
            # Only the matrices are kept: caching a stored questioned sample's packet too filled
            # the caches slowly with samples rarely needed again.
            sig = self.repo.load_signature(self.repo.signature_row(row_id), keep=False)
            if "pressure" in funcs and sig.pressure is None:
                return None
            cached = replay_matrices(sig, funcs)
            remember(self._matrices, self._lock, key, cached, MATRIX_CACHE)
        return cached

    def verify(self, tenant_id: str, subject_id: str, sig: Signature) -> dict[str, Any]:
        """Score a questioned signature; replays are flagged and never accepted."""
        enrolment_id, verifier = self._verifier(tenant_id, subject_id)
        q = prepare(sig, verifier.model_)
        qm, coarse_q = replay_matrices(sig, replay_functions(verifier.model_))
        replay = self._replay_of(tenant_id, subject_id, sig, qm, coarse_q, verifier)
        result = verifier.score(q).to_dict()
        if replay:
            _mark_replay(result, replay)
        event = {"type": "verification", "time": entry_time(), "tenant": tenant_id, "subject": subject_id,
                 "signature_sha256": sig.sha256, "score": round(result["score"], 6)}
        record, index = self.repo.save_verification(
            tenant_id, subject_id, enrolment_id, sig, result, replay is not None, event, self.committer.submit,
            on_identical=lambda: _mark_replay(result, "identical to a signature of this subject stored meanwhile"),
            fingerprint=pack_fingerprint(replay_functions(verifier.model_), coarse_q))
        return {"id": record.id, "subject_id": subject_id, "signature_sha256": sig.sha256, "replay": record.replay,
                "log_index": index, **result}

    # --- reports --------------------------------------------------------------------------
    def report(self, tenant_id: str, subject_id: str, sig: Signature, case_id: str | None, examiner: str | None,
               lang: str) -> tuple[dict[str, Any], bytes]:
        """A forensic report of a questioned signature against the subject's references."""
        from ..report import build_report

        _, refs = self.repo.active_enrolment(tenant_id, subject_id)
        data, pdf = build_report([self.repo.load_signature(r) for r in refs], sig, case_id=case_id,
                                 examiner=examiner, lang=lang)
        self._log({"type": "capture", "tenant": tenant_id, "subject": subject_id, "signature_sha256": sig.sha256,
                   "purpose": "report", "report_sha256": hashlib.sha256(pdf).hexdigest()})
        return data.to_dict(), pdf

    # --- documents --------------------------------------------------------------------------
    def sign_document(self, tenant_id: str, pdf: bytes, sig: Signature, page: int,
                      box: tuple[float, float, float, float], signer_name: str | None,
                      subject_id: str | None) -> tuple[bytes, dict[str, Any]]:
        """Seal a signature into a PDF, log it and keep the evidence."""
        from ..evidence.envelope import load_public_key
        from ..evidence.pdf import SealConfig, sign_pdf

        if self.sealing is None:
            raise InkwitnessError("document sealing is not configured on this server")
        if subject_id:
            self.repo.subject(tenant_id, subject_id)
        s = self.sealing
        config = SealConfig(s.cert, s.key, s.chain, s.tsa_url, load_public_key(s.escrow_public))
        sealed, container = sign_pdf(pdf, sig, page, box, config, signer_name=signer_name)
        event = {"type": "signing", "tenant": tenant_id, "subject": subject_id,
                 "document_sha256": hashlib.sha256(pdf).hexdigest(),
                 "signed_document_sha256": hashlib.sha256(sealed).hexdigest(), "signature_sha256": sig.sha256,
                 "container_sha256": container.sha256, "escrow_key_id": container.key_id,
                 "field": container.header["extra"]["field"]}
        index = self._log(event)
        self.evidence.store_artifact(sealed, "pdf", index, tenant_id)
        self.evidence.store_artifact(container.to_bytes(), "container", index, tenant_id)
        return sealed, {"log_index": index, **event}

    def verify_document(self, pdf: bytes) -> list[dict[str, Any]]:
        """verify-pdf over HTTP."""
        from ..evidence.pdf import verify_pdf

        if self.sealing is None:
            raise InkwitnessError("no trust roots are configured on this server")
        return [c.to_dict() for c in verify_pdf(pdf, list(self.sealing.trust_roots))]

    def bundle(self, tenant_id: str, index: int) -> bytes:
        """The evidence bundle of a log entry that belongs to this tenant."""
        from ..evidence.bundle import build_bundle
        from .storage import NotFound

        log = self.evidence.log
        if not 0 <= index < log.size():
            raise NotFound(f"log entry {index} not found")
        data, _ = log.entry(index)
        if json.loads(data).get("tenant") != tenant_id:
            raise NotFound(f"log entry {index} not found")
        artifacts = self.evidence.artifacts_for(index)
        trust = {p.name: p.read_bytes() for p in self.sealing.trust_roots} if self.sealing else {}
        escrow = self.sealing.escrow_public.read_bytes() if self.sealing else None
        return build_bundle(index, data, log.inclusion_proof(index), log.latest_checkpoint(), log.verifier_key,
                            log.key.sign, container=artifacts.get("container"), pdf=artifacts.get("pdf"),
                            trust=trust if "pdf" in artifacts else {}, escrow_public=escrow)

