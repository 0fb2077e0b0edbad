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
from ..evidence.binding import NonceStore
from ..evidence.context import EvidenceContext
from ..evidence.log import entry_time
from ..signature import Signature
from ..verification import Prepared, Verifier, comparison_budget, dtw_compare, prepare
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


#: What sealing does with handwriting that is not the subject's: refuse it, or seal and record the verdict.
MISMATCH_POLICIES = ("refuse", "record")


class HandwritingRefused(InkwitnessError):
    """Sealing refused: the handwriting does not match the subject's enrolment (422)."""


class ReplayRefused(InkwitnessError):
    """Sealing refused: the handwriting replays a stored signature of the subject (409)."""


class FingerprintRefused(InkwitnessError):
    """Sealing refused: the finger-press does not match the subject's enrolled finger (422)."""


def consent_digest(consent: dict[str, Any]) -> str:
    """SHA-256 of a consent record's canonical JSON (the log names consents by it)."""
    return hashlib.sha256(json.dumps(consent, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


@dataclass
class SealingSetup:
    """What document sealing uses: certificate, key, chain, TSA and escrow public key."""

    cert: Path
    key: Path
    chain: tuple[Path, ...]
    tsa_url: str
    escrow_public: Path
    trust_roots: tuple[Path, ...]
    #: CRLs to embed: with them the seals are PAdES B-LTA.
    crls: tuple[Path, ...] = ()


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
        self.nonces = NonceStore(evidence.sessions)

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
              replace: bool = False, requester_key: str | None = None) -> dict[str, Any]:
        """Build and store a template; refuse too few, duplicate or inconsistent references.

        Replacing an active enrolment needs ``replace`` (else Conflict); who did it is audited and logged.
        A replacement is made at once only if a majority of the new references verify as genuine
        against the current template; otherwise it is stored as pending (``{"status":
        "pending-approval", ...}``) until a second key of the tenant approves it
        (:meth:`approve_enrolment`). ``requester_key`` (default: the key of ``actor``) may not approve it.
        """
        from .storage import Conflict

        self.repo.subject(tenant_id, subject_id)
        enrolled = self.repo.is_enrolled(tenant_id, subject_id)
        if not replace and enrolled:
            raise Conflict(f"subject {subject_id} is already enrolled; re-enrolment must be asked for "
                           "explicitly (replace: true)")
        for i, sig in enumerate(references, 1):
            if self.repo.has_identical(tenant_id, subject_id, sig.sha256):
                raise EnrolmentError(f"reference {i} is identical to a signature already stored for this subject")
        with comparison_budget(self.settings.verify_cpu_budget_seconds):
            verifier = Verifier().fit(references)  # raises EnrolmentError naming an inconsistent reference
            checked = self._against_current(tenant_id, subject_id, references) if enrolled else None
        funcs = replay_functions(verifier.model_)
        fingerprints = [pack_fingerprint(funcs, replay_matrices(sig, funcs)[1]) for sig in references]
        if checked is not None and not checked[1]["verified"]:
            if requester_key is None and actor.startswith("key:"):
                requester_key = actor[4:]
            pending = self.repo.save_pending_enrolment(
                tenant_id, subject_id, references, fingerprints, actor, requester_key, checked[0],
                {"check": checked[1]}, self.settings.reenrol_approval_ttl_seconds)
            return {"id": pending.id, "status": "pending-approval", "subject_id": subject_id,
                    "references": len(references), "expires_at": pending.expires_at.isoformat(),
                    "check": checked[1], "approve": f"/v1/subjects/{subject_id}/enrolments/{pending.id}/approve"}
        enrolment, previous = self.repo.save_enrolment(
            tenant_id, subject_id, references, fingerprints, actor, replace,
            expected=None if checked is None else checked[0],
            detail=None if checked is None else {"check": checked[1]})
        event = {"type": "enrolment", "tenant": tenant_id, "subject": subject_id, "enrolment": enrolment.id,
                 "references": [s.sha256 for s in references], "by": actor}
        if previous:
            event["replaces"] = previous
            if checked is not None:
                event["verified"] = {k: checked[1][k] for k in ("accepted", "of")}
        index = self._log(event)
        return {"id": enrolment.id, "subject_id": subject_id, "references": len(references), "log_index": index,
                "replaced": previous, **({} if checked is None else {"check": checked[1]})}

    def _against_current(self, tenant_id: str, subject_id: str,
                         references: list[Signature]) -> tuple[str, dict[str, Any]]:
        """(current enrolment id, how the new references score against its template).

        ``verified`` when a strict majority of them is accepted as genuine: the new references
        are one writer's (the consistency check refused outliers), so a majority accepted means
        the current template's writer, while a genuine signer's occasional rejection does not
        force an approval.
        """
        enrolment_id, current = self._verifier(tenant_id, subject_id)
        model = current.model_
        results = [current.score(prepare(sig, model)) for sig in references]
        accepted = sum(r.accepted for r in results)
        return enrolment_id, {"verified": 2 * accepted > len(results), "accepted": accepted, "of": len(results),
                              "rule": "majority", "threshold": results[0].threshold,
                              "scores": [round(r.score, 4) for r in results]}

    def approve_enrolment(self, tenant_id: str, subject_id: str, pending_id: str, approver_key: str,
                          actor: str) -> dict[str, Any]:
        """Complete a pending re-enrolment with a second key's approval (never the requesting key's)."""
        from .policy import Forbidden

        pending = self.repo.pending_enrolment(tenant_id, subject_id, pending_id)
        if pending.requester_key is not None and pending.requester_key == approver_key:
            raise Forbidden("a re-enrolment must be approved by another key than the one that asked for it")
        enrolment, previous, row = self.repo.approve_enrolment(tenant_id, subject_id, pending_id, actor)
        from sqlalchemy import select

        from ..store.models import StoredSignature

        with self.repo.sessions() as s:
            shas = dict(s.execute(select(StoredSignature.id, StoredSignature.sha256)
                                  .where(StoredSignature.id.in_(row.reference_ids))).all())
        event = {"type": "enrolment", "tenant": tenant_id, "subject": subject_id, "enrolment": enrolment.id,
                 "references": [shas[i] for i in row.reference_ids], "by": row.requested_by, "approved_by": actor,
                 "pending": row.id}
        if previous:
            event["replaces"] = previous
        index = self._log(event)
        return {"id": enrolment.id, "subject_id": subject_id, "references": len(row.reference_ids),
                "log_index": index, "replaced": previous, "approved_by": actor, "requested_by": row.requested_by}

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

    def _assess(self, tenant_id: str, subject_id: str, sig: Signature) -> tuple[str, Verifier, dict[str, Any], bool,
                                                                               np.ndarray]:
        """Score a questioned signature and run the replay check, storing nothing."""
        enrolment_id, verifier = self._verifier(tenant_id, subject_id)
        q = prepare(sig, verifier.model_)
        qm, coarse_q = replay_matrices(sig, replay_functions(verifier.model_))
        with comparison_budget(self.settings.verify_cpu_budget_seconds):
            replay = self._replay_of(tenant_id, subject_id, sig, qm, coarse_q, verifier)
            result = verifier.score(q).to_dict()
        if replay:
            _mark_replay(result, replay)
        return enrolment_id, verifier, result, replay is not None, coarse_q

    def _save_assessed(self, tenant_id: str, subject_id: str, sig: Signature,
                       assessed: tuple[str, Verifier, dict[str, Any], bool, np.ndarray],
                       extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store an assessed signature and its outcome, with its log entry."""
        enrolment_id, verifier, result, replay, coarse_q = assessed
        event = {"type": "verification", "time": entry_time(), "tenant": tenant_id, "subject": subject_id,
                 "signature_sha256": sig.sha256, "score": round(result["score"], 6), **(extra or {})}
        record, index = self.repo.save_verification(
            tenant_id, subject_id, enrolment_id, sig, result, replay, event, self.committer.submit,
            on_identical=lambda: _mark_replay(result, "identical to a signature of this subject stored meanwhile"),
            fingerprint=pack_fingerprint(replay_functions(verifier.model_), coarse_q))
        return {"id": record.id, "subject_id": subject_id, "signature_sha256": sig.sha256, "replay": record.replay,
                "log_index": index, **result}

    def verify(self, tenant_id: str, subject_id: str, sig: Signature) -> dict[str, Any]:
        """Score a questioned signature; replays are flagged and never accepted."""
        return self._save_assessed(tenant_id, subject_id, sig, self._assess(tenant_id, subject_id, sig))

    # --- reports --------------------------------------------------------------------------
    def report(self, tenant_id: str, subject_id: str, sig: Signature, case_id: str | None, examiner: str | None,
               lang: str) -> tuple[dict[str, Any], bytes]:
        """A forensic report of a questioned signature against the subject's references."""
        from ..report import build_report

        from ..report.analysis import Submitted

        _, refs = self.repo.active_enrolment(tenant_id, subject_id)
        # The questioned packet is listed with the SHA-256 of its canonical bytes (its identity in
        # the log and the store); the references come from the enrolment store, not from files.
        submitted: list[Submitted | None] = [None] * len(refs)
        submitted.append(Submitted.from_bytes("questioned packet (API request)", sig.canonical_bytes()))
        data, pdf = build_report([self.repo.load_signature(r) for r in refs], sig, case_id=case_id,
                                 examiner=examiner, lang=lang, submitted=submitted)
        self._log({"type": "capture", "tenant": tenant_id, "subject": subject_id, "signature_sha256": sig.sha256,
                   "purpose": "report", "report_sha256": hashlib.sha256(pdf).hexdigest()})
        return data.to_dict(), pdf

    # --- documents --------------------------------------------------------------------------
    def sign_document(self, tenant_id: str, pdf: bytes, sig: Signature, page: int,
                      box: tuple[float, float, float, float], signer_name: str | None,
                      subject_id: str | None, *, nonce: str | None = None, check_handwriting: bool = False,
                      on_mismatch: str = "refuse", finger: Any = None,
                      finger_consent: dict[str, Any] | None = None, reason: str | None = None,
                      agreement: dict[str, Any] | None = None, request_id: str | None = None,
                      binding_required: bool | None = None) -> tuple[bytes, dict[str, Any]]:
        """Seal a signature into a PDF, log it and keep the evidence.

        A packet already sealed into another document, or bound at capture to another document
        or nonce, is refused (BindingError). A server nonce in the packet's binding must have been
        issued to this tenant for this document (and for ``request_id``, the ceremony's signing
        request), be unexpired and unused; the sealing's log entry marks it used and records its
        SHA-256. Without a binding the packet is refused when ``binding_required`` (default: the
        ``require_binding`` setting). With ``check_handwriting`` and a subject, the
        handwriting is first verified against the subject's enrolment (with the replay check):
        ``on_mismatch`` "refuse" refuses anything but a genuine verdict, "record" seals and
        records the verdict in the signing's log entry. A ``finger`` press (a Fingerprint, given
        with its separate ``finger_consent``) is compared with the subject's enrolled finger under
        the same policy, drawn as the red mark into the seal and escrowed beside the handwriting.
        ``reason`` becomes the PDF signature's /Reason (else sign_pdf's "Handwritten signature") and,
        with ``agreement`` (what the signer accepted, e.g. the consent record), goes into the
        signing's log entry, so the log pins the words the sealed PDF carries.
        """
        from ..evidence.binding import BindingError, append_signing, check_not_sealed_elsewhere
        from ..evidence.envelope import load_public_key
        from ..evidence.pdf import SealConfig, sign_pdf

        if self.sealing is None:
            raise InkwitnessError("document sealing is not configured on this server")
        if on_mismatch not in MISMATCH_POLICIES:
            raise InkwitnessError(f"on_mismatch must be one of {', '.join(MISMATCH_POLICIES)}")
        if subject_id:
            self.repo.subject(tenant_id, subject_id)
        log = self.evidence.log
        document_sha256 = hashlib.sha256(pdf).hexdigest()
        # Cheap refusals before any comparison or sealing work; append_signing repeats the reuse
        # check inside the log's write transaction, so concurrent sealings cannot both pass.
        required = self.settings.binding_required() if binding_required is None else binding_required
        nonce_digest, bound_nonce, binding_event = self._check_capture_binding(
            tenant_id, sig, document_sha256, nonce, request_id, required, check_handwriting)
        check_not_sealed_elsewhere(log, sig.sha256, document_sha256)
        if finger is not None and not finger_consent:
            raise InkwitnessError("a finger-press needs its own, separate fingerprint consent (fingerprint_consent)")
        if finger is not None:
            # Like the handwriting, one press belongs to one document (checked here, outside the
            # log's write transaction: two concurrent sealings of one press are not excluded).
            elsewhere = [i for i, e in log.find(fingerprint_sha256=finger.sha256, type="signing")
                         if e.get("document_sha256") != document_sha256]
            if elsewhere:
                raise BindingError(f"this finger-press (capture sha256 {finger.sha256}) was already sealed into "
                                   f"another document (log entry {elsewhere[0]}); a press cannot be reused")
        assessed, verdict = None, None
        if check_handwriting and subject_id:
            assessed, verdict = self._handwriting_verdict(tenant_id, subject_id, sig, on_mismatch)
        finger_template, finger_verdict, mark = None, None, None
        if finger is not None:
            from ..fingerprint.mark import mark_png

            finger_template, finger_verdict = self._finger_verdict(tenant_id, subject_id, finger, on_mismatch)
            mark = mark_png(finger)
        s = self.sealing
        escrow = load_public_key(s.escrow_public)
        # OCSP answers when the responders answer (fresh_ocsp logs and skips those that do not), the
        # PKI's CRL otherwise: asked only when there is a CRL to fall back to, so a seal never loses
        # its revocation data to an unreachable responder.
        config = SealConfig(s.cert, s.key, s.chain, s.tsa_url, escrow, crls=s.crls,
                            ocsp=self.settings.seal_ocsp and bool(s.crls))
        # sign_pdf keeps its own default reason when none is given (the API's plain sealing).
        wording = {"reason": reason} if reason else {}
        sealed, container = sign_pdf(pdf, sig, page, box, config, signer_name=signer_name,
                                     expected_nonce=bound_nonce, finger_mark=mark, **wording)
        event = {"type": "signing", "tenant": tenant_id, "subject": subject_id,
                 "document_sha256": document_sha256,
                 "signed_document_sha256": hashlib.sha256(sealed).hexdigest(), "signature_sha256": sig.sha256,
                 "container_sha256": container.sha256, "escrow_key_id": container.key_id,
                 "field": container.header["extra"]["field"]}
        if verdict is not None:
            event["handwriting"] = verdict
        if binding_event is not None:
            event["binding"] = binding_event
        if reason:
            event["reason"] = reason
        if agreement:
            event["agreement"] = agreement
        finger_container = None
        if finger is not None:
            from ..evidence.envelope import seal_fingerprint

            # Escrowed beside the handwriting, bound to the same document; only hashes reach the log.
            finger_container = seal_fingerprint(finger, document_sha256, escrow, finger_template, sig.sha256)
            event.update(fingerprint_sha256=finger.sha256, fingerprint_container_sha256=finger_container.sha256,
                         fingerprint=finger_verdict, fingerprint_consent_sha256=consent_digest(finger_consent or {}))
        claim = NonceStore.claimer(nonce_digest) if nonce_digest else None
        index = append_signing(log, {"time": entry_time(), **event}, claim=claim).index
        self.evidence.store_artifact(sealed, "pdf", index, tenant_id)
        self.evidence.store_artifact(container.to_bytes(), "container", index, tenant_id)
        if finger_container is not None:
            self.evidence.store_artifact(finger_container.to_bytes(), "finger-container", index, tenant_id)
        if assessed is not None:
            # Stored only once sealed: a signer retrying after a failed seal (TSA down) must not
            # be flagged as a replay of their own first attempt.
            saved = self._save_assessed(tenant_id, subject_id, sig, assessed,
                                        {"purpose": "signing", "signing_log_index": index})
            verdict["verification_id"] = saved["id"]
        return sealed, {"log_index": index, **event}

    def issue_binding(self, tenant_id: str, document_sha256: str, ttl_seconds: int | None = None,
                      request_id: str | None = None) -> dict[str, Any]:
        """A capture binding for one signing of a document: its SHA-256 and a fresh single-use server nonce."""
        import datetime as dt

        ttl = dt.timedelta(seconds=ttl_seconds or self.settings.binding_ttl_seconds)
        issued = self.nonces.issue(document_sha256.lower(), ttl, tenant_id, request_id)
        return {"binding": issued.binding(), "expires_at": issued.expires_at.isoformat()}

    def _check_capture_binding(self, tenant_id: str, sig: Signature, document_sha256: str, nonce: str | None,
                               request_id: str | None, required: bool, check_handwriting: bool
                               ) -> tuple[str | None, str | None, dict[str, Any] | None]:
        """Check the packet's capture binding: (nonce SHA-256 to claim, nonce for sign_pdf, log record).

        A server nonce (``iwn1.``) is checked against the nonce store. Any other nonce is the
        caller's own (as before server nonces existed): compared with ``nonce`` only, and refused
        as unknown when bindings are required or the sealing is a signing request's.
        """
        from ..evidence.binding import (BindingMismatch, BindingMissing, NonceUnknown, binding_of, check_binding,
                                        is_server_nonce, nonce_sha256)

        binding = binding_of(sig)
        if binding is None:
            if required:
                raise BindingMissing("the handwriting carries no capture binding (capture.extra.binding with the "
                                     "document's SHA-256 and the server nonce issued for this signing); this "
                                     "signing requires one: capture it again on a client that binds it")
            if nonce is not None:
                raise BindingMissing("a nonce was issued for this signing but the handwriting carries none")
            return None, None, None
        check_binding(sig, document_sha256)  # the document named in the binding
        bound = binding.get("nonce")
        if bound is None:
            if required:
                raise BindingMissing("the handwriting's capture binding carries no server nonce; this signing "
                                     "requires one")
            check_binding(sig, document_sha256, nonce)
            return None, None, {"document_sha256": document_sha256, "nonce_sha256": None, "issued_by": None}
        if not isinstance(bound, str) or not 1 <= len(bound) <= 200:
            raise BindingMismatch("the handwriting's capture binding has a malformed nonce")
        if nonce is not None and nonce != bound:
            raise BindingMismatch("the handwriting was captured for another signing session (nonce mismatch); "
                                  "refusing to seal it")
        if is_server_nonce(bound):
            digest = self.nonces.check(bound, document_sha256, tenant_id, request_id)
            return digest, bound, {"document_sha256": document_sha256, "nonce_sha256": digest, "issued_by": "server"}
        if required or request_id is not None:
            raise NonceUnknown("the handwriting's binding nonce was not issued by this server; refusing to seal it")
        # A caller's own nonce: the API (which checks handwriting) never ignores one it was not given.
        check_binding(sig, document_sha256, nonce, require_nonce_check=check_handwriting)
        return None, bound, {"document_sha256": document_sha256, "nonce_sha256": nonce_sha256(bound),
                             "issued_by": "caller"}

    def _handwriting_verdict(self, tenant_id: str, subject_id: str, sig: Signature, on_mismatch: str
                             ) -> tuple[tuple[str, Verifier, dict[str, Any], bool, np.ndarray] | None, dict[str, Any]]:
        """Verify the handwriting for a signing; refuse (per ``on_mismatch``) anything but genuine."""
        from .storage import Conflict, NotFound

        try:
            assessed = self._assess(tenant_id, subject_id, sig)
        except (NotFound, EnrolmentError):
            if on_mismatch == "refuse":
                raise Conflict(f"subject {subject_id} has no enrolment to verify the handwriting against; enrol "
                               "the subject first, or seal with on_mismatch=record") from None
            return None, {"decision": "not-enrolled"}
        result = assessed[2]
        verdict = {"decision": result["decision"], "score": round(result["score"], 6),
                   "threshold": result.get("threshold")}
        if result["decision"] != "genuine" and on_mismatch == "refuse":
            # The refused attempt is stored and logged: the same packet sent again is a replay.
            saved = self._save_assessed(tenant_id, subject_id, sig, assessed, {"purpose": "signing-refused"})
            why = "; ".join(str(r) for r in result.get("reasons", [])[:3])
            if result["decision"] == "replay":
                raise ReplayRefused(f"refusing to seal: the handwriting replays a stored signature of subject "
                                    f"{subject_id} ({why}); verification {saved['id']}")
            raise HandwritingRefused(f"refusing to seal: the handwriting does not match the enrolment of subject "
                                     f"{subject_id} (decision {result['decision']}, score {result['score']:.3f} "
                                     f"below threshold {result.get('threshold', float('nan')):.3f}); verification "
                                     f"{saved['id']}")
        return assessed, verdict

    # --- finger-press -----------------------------------------------------------------------
    def enrol_finger(self, tenant_id: str, subject_id: str, finger: int, captures: list[Any],
                     consent: dict[str, Any], actor: str = "system", replace: bool = False) -> dict[str, Any]:
        """Enrol a finger from several impressions: each must pass the quality check and match another."""
        from ..fingerprint import LowQualityCapture, Matcher, require_quality, write_iso2005
        from ..fingerprint.matcher import MATCH_THRESHOLD

        self.repo.subject(tenant_id, subject_id)
        extractions, quality = [], []
        for i, fp in enumerate(captures, 1):
            try:
                ex, report = require_quality(fp)
            except LowQualityCapture as exc:
                raise LowQualityCapture(f"impression {i}: {exc}") from None
            extractions.append(ex)
            quality.append({"nfiq2": report.nfiq2, "minutiae": report.minutiae})
        matcher = Matcher()
        for i, ex in enumerate(extractions):
            best = max(matcher.compare(ex.template, other.template).score
                       for j, other in enumerate(extractions) if j != i)
            if best < MATCH_THRESHOLD:
                raise EnrolmentError(f"impression {i + 1} matches none of the others (best score {best:.1f} < "
                               f"{MATCH_THRESHOLD:g}): press the same finger again")
        templates = [write_iso2005(ex.template) for ex in extractions]
        row, previous = self.repo.save_finger_enrolment(tenant_id, subject_id, finger, templates, consent, actor,
                                                        replace)
        event = {"type": "enrolment", "modality": "finger", "tenant": tenant_id, "subject": subject_id,
                 "enrolment": row.id, "finger": finger, "captures": [fp.sha256 for fp in captures],
                 "consent_sha256": consent_digest(consent), "by": actor}
        if previous:
            event["replaces"] = previous
        index = self._log(event)
        return {"id": row.id, "subject_id": subject_id, "finger": finger, "impressions": len(captures),
                "quality": quality, "log_index": index, "replaced": previous}

    def _finger_verdict(self, tenant_id: str, subject_id: str | None, fp: Any, on_mismatch: str
                        ) -> tuple[bytes, dict[str, Any]]:
        """The press's template, and its comparison with the subject's enrolled finger (refused per policy)."""
        from ..fingerprint import Matcher, read_template, require_quality, write_iso2005
        from ..fingerprint.matcher import MATCH_THRESHOLD
        from .storage import Conflict

        ex, report = require_quality(fp)  # a poor press is refused whatever the policy: press again
        template = write_iso2005(ex.template)
        verdict: dict[str, Any] = {"finger": fp.finger, "nfiq2": report.nfiq2, "minutiae": report.minutiae}
        if not subject_id:
            return template, {**verdict, "decision": "not-compared"}
        # A press pixel-identical to one of the enrolment impressions is a replay, not a press.
        enrolled = [e for _, e in self.evidence.log.find(subject=subject_id, type="enrolment")
                    if e.get("modality") == "finger" and fp.sha256 in (e.get("captures") or [])]
        if enrolled:
            if on_mismatch == "refuse":
                raise ReplayRefused(f"refusing to seal: the finger-press is identical to an enrolment impression of "
                                    f"subject {subject_id} (a replayed capture, not a press)")
            return template, {**verdict, "decision": "replay"}
        found = self.repo.finger_templates(tenant_id, subject_id, fp.finger)
        if found is None:
            if on_mismatch == "refuse":
                raise Conflict(f"subject {subject_id} has no enrolled finger {fp.finger} to compare the "
                               "finger-press with; enrol it first, or seal with on_mismatch=record")
            return template, {**verdict, "decision": "not-enrolled"}
        enrolment_id, _, stored = found
        best = Matcher().compare_enrolled([read_template(t) for t in stored], ex.template)
        decision = "match" if best.score >= MATCH_THRESHOLD else "no-match"
        verdict.update(decision=decision, score=round(best.score, 3), threshold=MATCH_THRESHOLD,
                       finger_enrolment=enrolment_id)
        if decision != "match" and on_mismatch == "refuse":
            raise FingerprintRefused(f"refusing to seal: the finger-press does not match the enrolled finger "
                                     f"{fp.finger} of subject {subject_id} (score {best.score:.1f} below "
                                     f"{MATCH_THRESHOLD:g})")
        return template, verdict

    def verify_document(self, pdf: bytes) -> list[dict[str, Any]]:
        """verify-pdf over HTTP, with the log's finding when a packet was also sealed into another document."""
        from ..evidence.binding import reuse_problems
        from ..evidence.pdf import verify_pdf

        if self.sealing is None:
            raise InkwitnessError("no trust roots are configured on this server")
        checks = verify_pdf(pdf, list(self.sealing.trust_roots))
        for c in checks:
            sig_sha, doc_sha = c.biometric.get("signature_sha256"), c.biometric.get("document_sha256")
            if isinstance(sig_sha, str) and isinstance(doc_sha, str):
                c.problems.extend(reuse_problems(self.evidence.log, sig_sha, doc_sha))
        return [c.to_dict() for c in checks]

    def prove_inclusion(self, who: Any, index: int) -> dict[str, Any]:
        """An inclusion proof of entry ``index``, if the caller may see its event (else NotFound, as for no entry)."""
        from . import policy
        from .storage import NotFound

        log = self.evidence.log
        size = log.size()
        if not 0 <= index < size:
            raise NotFound(f"log entry {index} not found (the log has {size} entries)")
        data, _ = log.entry(index)
        try:
            tenant = json.loads(data).get("tenant")
        except (ValueError, AttributeError):
            tenant = None
        if not policy.may_read_entry(who, tenant):
            raise NotFound(f"log entry {index} not found")
        return log.prove_inclusion(index, size)

    def prove_consistency(self, old_size: int, new_size: int | None) -> dict[str, Any]:
        """A consistency proof between two tree sizes (404 beyond the log's size, 422 when from > to)."""
        from .storage import NotFound

        log = self.evidence.log
        size = log.size()
        new_size = size if new_size is None else new_size
        if new_size > size or old_size > size:
            raise NotFound(f"the log has {size} entries; no tree of size {max(old_size, new_size)}")
        if old_size > new_size:
            raise InkwitnessError(f"from ({old_size}) must not exceed to ({new_size})")
        return log.prove_consistency(old_size, new_size)

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

