"""HTTP routes. Every tenant-level route is scoped by the caller's API key."""

from __future__ import annotations

import datetime as dt
import io
from functools import partial
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from ..errors import InvalidSignature
from ..signature import Signature
from . import policy
from .auth import authenticate, bearer_token
from .operations import Operations
from .policy import Caller
from .validation import Name, ReportText, Text, check_box, check_workload, read_capture, report_text

router = APIRouter()
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Token = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def ops_of(request: Request) -> Operations:
    """The Operations object of the app."""
    return request.app.state.ops


async def caller(request: Request, authorization: Annotated[str | None, Header()] = None,
                 x_api_key: Annotated[str | None, Header()] = None) -> Caller:
    """The API key of ``Authorization: Bearer <key>`` or ``X-API-Key`` (the gate checked it before the body)."""
    found = request.scope.get("state", {}).get("api_key")
    if found is None:  # a route outside the gate's paths
        found = await authenticate(ops_of(request).repo, x_api_key or bearer_token(authorization))
    if found is None:
        raise HTTPException(401, "unknown, revoked or expired API key", headers={"WWW-Authenticate": "Bearer"})
    return Caller(key_id=found[0], tenant_id=found[1], scopes=found[2])


def may(action: str):  # noqa: ANN201
    """A dependency: the caller, if the policy lets it take ``action`` (else 403)."""
    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        return policy.authorize(who, action)
    return check


def request_id(request: Request) -> str:
    """The id of this request (also in the X-Request-ID response header)."""
    return request.scope.get("state", {}).get("request_id", "")


def tenant_of(who: Caller) -> str:
    """The caller's tenant (the policy lets only tenant keys take tenant actions)."""
    if who.tenant_id is None:
        raise policy.Forbidden("this route needs a tenant key")
    return who.tenant_id


def packet(data: dict[str, Any], what: str = "signature") -> Signature:
    """Validate a native packet from a request body, within the service's duration and point caps."""
    try:
        return check_workload(Signature.from_dict(data))
    except InvalidSignature as exc:
        raise InvalidSignature(f"{what}: {exc}") from exc


async def run(fn, *args):  # noqa: ANN001, ANN201
    """Run blocking work (numba, database, crypto) off the event loop."""
    return await anyio.to_thread.run_sync(fn, *args)


KeyAdmin = Annotated[Caller, Depends(may("key.manage"))]
SubjectAdmin = Annotated[Caller, Depends(may("subject.manage"))]
Enroller = Annotated[Caller, Depends(may("subject.enrol"))]
Submitter = Annotated[Caller, Depends(may("subject.verify"))]
HistoryReader = Annotated[Caller, Depends(may("subject.history"))]
Reporter = Annotated[Caller, Depends(may("subject.report"))]
SessionAdmin = Annotated[Caller, Depends(may("session.manage"))]
DocumentAdmin = Annotated[Caller, Depends(may("document.manage"))]
EvidenceReader = Annotated[Caller, Depends(may("evidence.read"))]
LogReader = Annotated[Caller, Depends(may("log.read"))]


# --- models -------------------------------------------------------------------------------
class TenantIn(BaseModel):
    name: Name


class ApiKeyIn(BaseModel):
    name: Name
    scopes: list[Literal["admin", "operator", "capture"]] = Field(min_length=1, max_length=3)
    tenant_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    expires_at: AwareDatetime | None = Field(default=None, description="when the key stops working (ISO 8601 with "
                                                                        "a time zone)")


class SubjectIn(BaseModel):
    external_ref: Text | None = None
    display_name: Text | None = None


class EnrolIn(BaseModel):
    references: list[dict[str, Any]] = Field(min_length=3, max_length=20)
    replace: bool = Field(default=False, description="replace an existing enrolment (audited); else 409")


class VerifyIn(BaseModel):
    signature: dict[str, Any]


class ReportIn(BaseModel):
    signature: dict[str, Any]
    case_id: ReportText | None = None
    examiner: ReportText | None = None
    lang: Literal["en", "zh"] = "en"
    format: Literal["pdf", "json"] = "pdf"


class SessionIn(BaseModel):
    subject_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    purpose: Literal["enrol", "verify"] = "verify"
    replace: bool = Field(default=False, description="an enrol link may replace an existing enrolment")
    ttl_seconds: int | None = Field(default=None, ge=30, le=24 * 3600)
    # Shown to the signer on the link's page (plain text: no markup, no control characters).
    requester: ReportText | None = Field(default=None, description="who asks, shown to the signer")
    reason: Annotated[str, Field(max_length=500), AfterValidator(report_text)] | None = Field(
        default=None, description="why, shown to the signer")


class FingerImage(BaseModel):
    """One finger image record as a local capture agent posts it."""

    format: Literal["png", "wsq", "iso19794-4"]
    data: str = Field(min_length=8, max_length=3_000_000, description="the image file, base64")
    ppi: float | None = Field(default=None, ge=250, le=2000,
                              description="resolution; required when the file states none")


class FingerprintConsent(BaseModel):
    """The separate, explicit consent to the finger-press (PIPL art. 29, 单独同意), apart from any other."""

    agreed: Literal[True]
    notice: Name = Field(description="the notice the person agreed to (its text, or its id and version)")
    lang: Literal["zh", "en"] = "zh"


class FingerEnrolIn(BaseModel):
    finger: int = Field(ge=0, le=10, description="ISO finger position (0 unknown, 1 right thumb ... 10)")
    impressions: list[FingerImage] = Field(min_length=2, max_length=5)
    fingerprint_consent: FingerprintConsent
    replace: bool = Field(default=False, description="replace an enrolled finger (audited); else 409")


class FingerPressIn(FingerImage):
    """A finger-press at signing: the image and the finger's position."""

    finger: int = Field(default=0, ge=0, le=10)


class CaptureIn(BaseModel):
    signatures: list[dict[str, Any]] = Field(min_length=1, max_length=20)


class BindingIn(BaseModel):
    document_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 (hex) of the PDF to be signed")
    ttl_seconds: int | None = Field(default=None, ge=30, le=24 * 3600,
                                    description="how long the nonce may seal (default: the server's setting)")


# --- pages ----------------------------------------------------------------------------------
# Cross-origin isolation lets browsers stamp input events at 5 us instead of 100 us.
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
             "Cache-Control": "no-store"}


@router.get("/", include_in_schema=False)
async def capture_page() -> FileResponse:
    from .app import STATIC

    return FileResponse(STATIC / "index.html", headers=ISOLATION)


@router.get("/s/{token}", include_in_schema=False)
async def session_page(token: Token) -> FileResponse:
    from .app import STATIC

    return FileResponse(STATIC / "index.html", headers={**ISOLATION, "Referrer-Policy": "no-referrer"})


@router.get("/healthz")
async def health(request: Request) -> JSONResponse:
    """Liveness and readiness, part by part (``checks``): the database answers, the storage keyring holds
    every key version rows are sealed under, and the data directory has room. Any part failing: 503
    with Retry-After, ``error`` naming the failing parts and ``checks`` saying what each found."""
    import logging
    import shutil

    from .middleware import RETRY_AFTER_SECONDS
    from .storage import Undecryptable

    ops = ops_of(request)
    checks: dict[str, str] = {}
    try:
        await run(ops.repo.ping)
        checks.update(database="ok", key="ok")
    except Undecryptable as exc:  # the database answered; the keyring lacks a version rows need
        checks.update(database="ok", key=str(exc))
    except Exception as exc:  # noqa: BLE001 - any fault of the database is "not ready", never a 500
        logging.getLogger("inkwitness.service").warning("healthz: the database does not answer: %r", exc)
        checks.update(database=f"the database does not answer ({type(exc).__name__})",
                      key="not checked (the database did not answer)")
    free = shutil.disk_usage(ops.settings.data_dir).free
    checks["disk"] = ("ok" if free >= ops.settings.min_free_bytes else
                      f"the data directory has {free // 2**20} MiB free; writes would fail")
    failing = [part for part in ("database", "key", "disk") if checks[part] != "ok"
               and not (part == "key" and checks["database"] != "ok")]
    if failing:
        return JSONResponse({"status": "unavailable", "error": "; ".join(f"{p}: {checks[p]}" for p in failing),
                             "failing": failing, "checks": checks},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return JSONResponse({"status": "ok", "checks": checks})


# --- administration ---------------------------------------------------------------------------
@router.post("/v1/tenants", status_code=201)
async def create_tenant(body: TenantIn, who: Annotated[Caller, Depends(may("tenant.create"))],
                        request: Request) -> dict[str, str]:
    """Create a tenant (platform key only); an existing name is a conflict."""
    return {"id": await run(ops_of(request).repo.create_tenant, body.name, f"key:{who.key_id}"), "name": body.name}


@router.post("/v1/api-keys", status_code=201)
async def create_key(body: ApiKeyIn, who: KeyAdmin, request: Request) -> dict[str, Any]:
    """Create an API key for the caller's tenant (a platform key names the tenant); the secret is shown once."""
    tenant = policy.key_tenant(who, body.tenant_id)
    policy.may_grant(who, list(body.scopes))
    expires = body.expires_at
    key = await run(ops_of(request).repo.create_api_key, tenant, body.name, list(body.scopes), expires,
                    f"key:{who.key_id}")
    return {"key": key, "tenant_id": tenant, "scopes": sorted(body.scopes),
            "expires_at": expires.isoformat() if expires else None}


@router.get("/v1/api-keys")
async def list_keys(who: KeyAdmin, request: Request,
                    tenant_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9-]+$")] = None
                    ) -> dict[str, Any]:
    """The caller's tenant's keys (a platform key: the named tenant's, else the platform keys), without secrets."""
    return {"keys": await run(ops_of(request).repo.list_keys, policy.keys_visible(who, tenant_id))}


@router.delete("/v1/api-keys/{key_id}")
async def revoke_key(key_id: Id, who: KeyAdmin, request: Request) -> dict[str, Any]:
    """Revoke a key (by id or prefix) at once, in every worker; audited."""
    scope = policy.keys_visible(who, None)
    return await run(ops_of(request).repo.revoke_key, key_id, scope, who.is_platform, f"key:{who.key_id}")


@router.post("/v1/api-keys/{key_id}/roll", status_code=201)
async def roll_key(key_id: Id, who: KeyAdmin, request: Request) -> dict[str, Any]:
    """Replace a key by a new secret (same name, scopes and expiry); the old one stops working at once."""
    scope = policy.keys_visible(who, None)
    key, old = await run(ops_of(request).repo.roll_key, key_id, scope, who.is_platform, f"key:{who.key_id}")
    return {"key": key, "tenant_id": old["tenant_id"], "scopes": old["scopes"], "replaces": old["prefix"]}


# --- subjects, enrolment, verification ------------------------------------------------------------
@router.post("/v1/subjects", status_code=201)
async def create_subject(body: SubjectIn, who: SubjectAdmin, request: Request) -> dict[str, Any]:
    """Register a person who signs."""
    subject = await run(ops_of(request).repo.create_subject, tenant_of(who), body.external_ref, body.display_name)
    return {"id": subject.id, "external_ref": subject.external_ref, "display_name": subject.display_name}


@router.get("/v1/subjects/{subject_id}")
async def get_subject(subject_id: Id, who: SubjectAdmin, request: Request) -> dict[str, Any]:
    """A subject."""
    subject = await run(ops_of(request).repo.subject, tenant_of(who), subject_id)
    return {"id": subject.id, "external_ref": subject.external_ref, "display_name": subject.display_name}


@router.post("/v1/subjects/{subject_id}/enrolments", status_code=201,
             responses={202: {"description": "re-enrolment awaiting a second key's approval"}})
async def enrol(subject_id: Id, body: EnrolIn, who: Enroller, request: Request) -> JSONResponse:
    """Enrol k references; an inconsistent enrolment is refused with the reference named.

    Re-enrolling an enrolled subject needs ``replace: true`` (else 409) and is audited. It takes
    effect at once (201) when a majority of the new references verify as genuine against the
    current template; otherwise it is kept pending (202, ``status: pending-approval``) until
    another staff key of the tenant approves it (``POST .../enrolments/{pending_id}/approve``).
    """
    refs = [packet(r, f"reference {i}") for i, r in enumerate(body.references, 1)]
    outcome = await run(ops_of(request).enrol, tenant_of(who), subject_id, refs, f"key:{who.key_id}", body.replace)
    return JSONResponse(outcome, status_code=202 if outcome.get("status") == "pending-approval" else 201)


@router.post("/v1/subjects/{subject_id}/enrolments/{pending_id}/approve", status_code=201)
async def approve_enrolment(subject_id: Id, pending_id: Id, who: Annotated[Caller, Depends(may("enrolment.approve"))],
                            request: Request) -> dict[str, Any]:
    """Approve a pending re-enrolment: by a staff key of the tenant other than the one that asked (403),
    before it expires (410), once (409); audited and logged with both keys."""
    return await run(ops_of(request).approve_enrolment, tenant_of(who), subject_id, pending_id, who.key_id,
                     f"key:{who.key_id}")


@router.post("/v1/subjects/{subject_id}/verifications", status_code=201)
async def verify(subject_id: Id, body: VerifyIn, who: Submitter, request: Request) -> JSONResponse:
    """Verify a questioned signature: score, decision, components, reasons, replay flag.

    A capture-only key learns just the decision (genuine or forgery) and ids, never scores or
    reasons: they would let a forger tune attempts against the model.
    """
    # The hottest route: its plain-JSON result goes out as is, without response-model validation.
    outcome = await run(ops_of(request).verify, tenant_of(who), subject_id, packet(body.signature))
    if not policy.sees_details(who):
        outcome = {"id": outcome["id"], "decision": "genuine" if outcome["decision"] == "genuine" else "forgery",
                   "request_id": request_id(request)}
    return JSONResponse(outcome, status_code=201)


@router.get("/v1/subjects/{subject_id}/history")
async def history(subject_id: Id, who: HistoryReader, request: Request) -> dict[str, Any]:
    """Enrolments and verifications of a subject."""
    return await run(ops_of(request).repo.history, tenant_of(who), subject_id)


@router.post("/v1/subjects/{subject_id}/reports", response_model=None)
async def report(subject_id: Id, body: ReportIn, who: Reporter, request: Request) -> Response | dict[str, Any]:
    """Forensic comparison report (PDF, or its numbers as JSON) against the subject's references."""
    data, pdf = await run(ops_of(request).report, tenant_of(who), subject_id, packet(body.signature), body.case_id,
                          body.examiner, body.lang)
    if body.format == "json":
        return data
    return Response(pdf, media_type="application/pdf")


@router.post("/v1/subjects/{subject_id}/fingers", status_code=201)
async def enrol_finger(subject_id: Id, body: FingerEnrolIn, who: Annotated[Caller, Depends(may("finger.enrol"))],
                       request: Request) -> dict[str, Any]:
    """Enrol a finger from several impressions; a poor or inconsistent impression is refused with the reasons.

    Needs ``fingerprint_consent``: the person's separate, explicit consent to the finger-press.
    """
    captures = [read_capture(_base64(img.data, f"impression {i}"), img.format, img.ppi, body.finger)
                for i, img in enumerate(body.impressions, 1)]
    consent = {**body.fingerprint_consent.model_dump(), "time": dt.datetime.now(dt.timezone.utc).isoformat()}
    return await run(partial(ops_of(request).enrol_finger, tenant_of(who), subject_id, body.finger, captures, consent,
                             f"key:{who.key_id}", body.replace))


def _base64(text: str, what: str) -> bytes:
    """Decode base64 (standard or URL-safe), else 422."""
    import base64
    import binascii

    from ..fingerprint import InvalidFingerprint

    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidFingerprint(f"{what}: data is not base64") from exc


def _form_json(text: str | None, model: type[BaseModel], what: str) -> Any:
    """A finger-press JSON form field validated by ``model`` (else 422), or None."""
    from pydantic import ValidationError

    from ..fingerprint import InvalidFingerprint

    if text is None:
        return None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidFingerprint(f"{what} is not valid: {problems}") from None


# --- cross-device signing sessions --------------------------------------------------------------
@router.post("/v1/signing-sessions", status_code=201)
async def create_session(body: SessionIn, who: SessionAdmin, request: Request) -> dict[str, Any]:
    """A single-use, expiring link (and QR code) for signing on another device."""
    import qrcode
    import qrcode.image.svg

    ops = ops_of(request)
    ttl = body.ttl_seconds or ops.settings.session_ttl_seconds
    session_id, token, expires = await run(ops.repo.create_session, tenant_of(who), body.subject_id, body.purpose, ttl,
                                           body.replace, who.key_id)
    requester, reason = (body.requester or "").strip() or None, (body.reason or "").strip() or None
    if requester or reason:
        from .ceremony.routes import note_link

        await run(note_link, request, token, requester, reason, expires.isoformat())
    url = f"{ops.settings.public_url.rstrip('/')}/s/{token}"
    svg = io.BytesIO()
    qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage).save(svg)
    return {"id": session_id, "token": token, "url": url, "expires_at": expires.isoformat(),
            "purpose": body.purpose, "requester": requester, "reason": reason, "qr_svg": svg.getvalue().decode()}


@router.get("/v1/signing-sessions/{session_id}")
async def session_status(session_id: Id, who: SessionAdmin, request: Request) -> dict[str, Any]:
    """Whether the customer has signed yet, and the outcome."""
    return await run(ops_of(request).repo.session_status, tenant_of(who), session_id)


@router.get("/v1/capture/{token}")
async def capture_info(token: Token, request: Request) -> dict[str, Any]:
    """What a signing link asks for (the link itself is the credential)."""
    row = await run(ops_of(request).repo.peek_session, token)
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.timezone.utc)
    return {"purpose": row.purpose, "references_needed": 5 if row.purpose == "enrol" else 1,
            "expires_at": expires.isoformat()}


@router.post("/v1/capture/{token}", status_code=201)
async def capture_submit(token: Token, body: CaptureIn, request: Request) -> dict[str, Any]:
    """Submit the signature(s) for a signing link; the link works once."""
    ops = ops_of(request)
    sigs = [packet(s, f"signature {i}") for i, s in enumerate(body.signatures, 1)]
    row = await run(ops.repo.consume_session, token)
    try:
        if row.purpose == "enrol":
            outcome = await run(partial(ops.enrol, row.tenant_id, row.subject_id, sigs, f"session:{row.id}",
                                        row.replace, requester_key=row.created_by))
            pending = outcome.get("status") == "pending-approval"
            shown = {"enrolled": not pending, "references": outcome["references"]}
            if pending:
                shown["pending_approval"] = True
        else:
            outcome = await run(ops.verify, row.tenant_id, row.subject_id, sigs[0])
            shown = {"decision": outcome["decision"]}
    except BaseException:
        # Nothing was decided (an inconsistent enrolment, a storage fault): the link stays usable.
        with anyio.CancelScope(shield=True):
            await run(ops.repo.release_session, row.id)
        raise
    kept = {k: outcome[k] for k in ("id", "decision", "score", "replay", "references", "log_index", "status")
            if k in outcome}
    await run(ops.repo.finish_session, row.id, kept)
    # The signer's device learns only the outcome, not scores or reasons.
    return shown


# --- documents and evidence ------------------------------------------------------------------------
@router.post("/v1/documents/bindings", status_code=201)
async def create_binding(body: BindingIn, who: DocumentAdmin, request: Request) -> dict[str, Any]:
    """A capture binding for one signing of a document: its SHA-256 and a single-use server nonce.

    The capture client puts ``binding`` into the packet (``capture.extra.binding``) before the
    packet is hashed; ``POST /v1/documents/sign`` then seals that packet into this document
    only, once, before ``expires_at``.
    """
    return await run(ops_of(request).issue_binding, tenant_of(who), body.document_sha256.lower(), body.ttl_seconds)


@router.post("/v1/documents/sign", response_class=Response)
async def sign_document(who: DocumentAdmin, request: Request, file: Annotated[UploadFile, File()],
                        signature: Annotated[str, Form(max_length=4_000_000)],
                        page: Annotated[int, Form(ge=1, le=100_000)],
                        box: Annotated[str, Form(max_length=100)],
                        signer_name: Annotated[ReportText | None, Form()] = None,
                        subject_id: Annotated[str | None, Form(max_length=64, pattern=r"^[A-Za-z0-9-]+$")] = None,
                        nonce: Annotated[str | None, Form(min_length=1, max_length=200,
                                                          pattern=r"^[\x21-\x7e]+$")] = None,
                        on_mismatch: Annotated[Literal["refuse", "record"], Form()] = "refuse",
                        finger: Annotated[str | None, Form(max_length=3_100_000, description=(
                            "a finger-press: JSON {format, data (base64), ppi, finger}"))] = None,
                        fingerprint_consent: Annotated[str | None, Form(max_length=2000, description=(
                            "JSON {agreed: true, notice, lang}: the separate consent a finger-press needs"))] = None
                        ) -> Response:
    """Seal a handwritten signature into a PDF (PAdES B-T, or B-LTA with a CRL; escrow container, log entry).

    A packet already sealed into another document, or bound at capture to another document or
    to a nonce other than ``nonce``, is refused (409). A server nonce in the packet's binding
    (from ``POST /v1/documents/bindings``) must be unexpired and unused, and issued to this
    tenant for this document (``nonce`` may then be left out); without a binding the packet is
    refused when the server's ``require_binding`` setting is on (409, type BindingMissing). With ``subject_id`` the handwriting is
    first verified against the subject's enrolment, with the replay check: ``on_mismatch=refuse``
    (default) refuses a forgery (422), a replay or a subject without enrolment (409);
    ``record`` seals anyway and records the verdict in the log entry. A ``finger`` press needs
    ``fingerprint_consent``; it is compared with the subject's enrolled finger under the same
    policy, pressed as a red mark into the seal and escrowed beside the handwriting.
    """
    import json

    from ..evidence.pdf import parse_box

    policy.may_seal_mismatch(who, on_mismatch)
    policy.may_press_finger(who, finger is not None)
    press = _form_json(finger, FingerPressIn, "finger")
    consent = _form_json(fingerprint_consent, FingerprintConsent, "fingerprint_consent")
    if press is not None and consent is None:
        from ..fingerprint import InvalidFingerprint

        raise InvalidFingerprint("a finger-press needs the person's separate fingerprint consent (fingerprint_consent)")
    fp = None if press is None else read_capture(_base64(press.data, "finger"), press.format, press.ppi, press.finger)
    consent_record = None if consent is None else {**consent.model_dump(),
                                                   "time": dt.datetime.now(dt.timezone.utc).isoformat()}
    try:
        packet_data = json.loads(signature)
    except ValueError as exc:
        raise InvalidSignature(f"signature is not JSON: {exc}") from exc
    if not isinstance(packet_data, dict):
        raise InvalidSignature("signature must be a JSON object")
    pdf = await file.read()
    ops = ops_of(request)
    sealed, info = await run(partial(ops.sign_document, tenant_of(who), pdf, packet(packet_data), page,
                                     check_box(parse_box(box)), signer_name, subject_id, nonce=nonce,
                                     check_handwriting=True, on_mismatch=on_mismatch, finger=fp,
                                     finger_consent=consent_record))
    headers = {"X-Inkwitness-Log-Index": str(info["log_index"])}
    verdict = info.get("handwriting")
    if verdict is not None:
        headers["X-Inkwitness-Handwriting"] = verdict["decision"]
    if info.get("fingerprint") is not None:
        headers["X-Inkwitness-Fingerprint"] = info["fingerprint"]["decision"]
    return Response(sealed, media_type="application/pdf", headers=headers)


@router.post("/v1/documents/verify")
async def verify_document(who: DocumentAdmin, request: Request, file: Annotated[UploadFile, File()]) -> JSONResponse:
    """verify-pdf: each signature's validity, time-stamp, later changes, biometric binding and reuse in the log."""
    checks = await run(ops_of(request).verify_document, await file.read())
    return JSONResponse({"signatures": checks, "ok": all(c["ok"] for c in checks)})


# --- the bundled PKI's revocation service ----------------------------------------------------------
# With ``pki init --base-url http://HOST:PORT/pki`` the certificates name /pki/ca.crl and /pki/ocsp
# of this server, so one process seals and answers revocation queries (as ``pki serve`` does).
def _pki_paths(request: Request):  # noqa: ANN202
    from ..evidence.pki import PkiPaths

    ops = ops_of(request)
    return PkiPaths(ops.settings.pki_dir or ops.evidence.pki_dir)


@router.get("/pki/ca.crl", include_in_schema=False)
async def pki_crl(request: Request) -> Response:
    """The bundled CA's current CRL (DER), where its certificates' CRL distribution point says."""
    from .storage import NotFound

    crl = _pki_paths(request).crl
    if not crl.exists():
        raise NotFound("this server holds no CA revocation list")
    return Response(await run(crl.read_bytes), media_type="application/pkix-crl",
                    headers={"Cache-Control": "max-age=300"})


def _ocsp_answer(request: Request, der: bytes) -> Response:
    from ..evidence.ocsp import OcspResponder
    from .storage import NotFound

    paths = _pki_paths(request)
    if not (paths.ca_key.exists() and paths.ca_cert.exists()):
        raise NotFound("this server holds no CA to answer OCSP requests")
    return Response(OcspResponder(paths).respond(der), media_type="application/ocsp-response",
                    headers={"Cache-Control": "no-store"})


@router.post("/pki/ocsp", include_in_schema=False)
async def pki_ocsp(request: Request) -> Response:
    """An OCSP answer (RFC 6960) to a DER request POSTed as application/ocsp-request."""
    der = await request.body()
    if len(der) > 16_384:
        raise HTTPException(413, "an OCSP request is a few hundred bytes")
    return await run(_ocsp_answer, request, der)


@router.get("/pki/ocsp/{encoded:path}", include_in_schema=False)
async def pki_ocsp_get(encoded: Annotated[str, Path(max_length=4096)], request: Request) -> Response:
    """An OCSP answer to a request in the URL (RFC 6960 appendix A.1, base64)."""
    from ..evidence.ocsp import decode_get_request

    try:
        der = decode_get_request(encoded)
    except Exception:  # noqa: BLE001 - a malformed URL is the caller's error, never a 500
        raise HTTPException(400, "the OCSP request in the URL is not base64") from None
    return await run(_ocsp_answer, request, der)


@router.get("/v1/log/checkpoint")
async def checkpoint(who: LogReader, request: Request) -> dict[str, Any]:
    """The newest signed checkpoint and the key to verify it."""
    log = ops_of(request).evidence.log
    return {"checkpoint": await run(log.latest_checkpoint), "verifier_key": log.verifier_key}


@router.get("/v1/log/proof/{index}")
async def inclusion_proof(index: Annotated[int, Path(ge=0, le=2**62)], who: LogReader,
                          request: Request) -> dict[str, Any]:
    """Inclusion proof of a log entry: the entry, its audit path and the signed checkpoint it verifies against."""
    return await run(ops_of(request).prove_inclusion, who, index)


@router.get("/v1/log/consistency")
async def consistency_proof(who: LogReader, request: Request,
                            old: Annotated[int, Query(alias="from", ge=1, le=2**62)],
                            new: Annotated[int | None, Query(alias="to", ge=1, le=2**62)] = None
                            ) -> dict[str, Any]:
    """Consistency proof that the log of ``from`` entries is a prefix of the log of ``to`` (default: all)."""
    return await run(ops_of(request).prove_consistency, old, new)


@router.get("/v1/evidence/{index}", response_class=Response)
async def evidence_bundle(index: Annotated[int, Path(ge=0, le=2**62)], who: EvidenceReader,
                          request: Request) -> Response:
    """The offline evidence bundle of one of this tenant's log entries."""
    data = await run(ops_of(request).bundle, tenant_of(who), index)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="evidence-{index}.zip"'})
