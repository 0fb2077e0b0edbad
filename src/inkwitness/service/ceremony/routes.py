"""Routes of the signing ceremony: the signer's page and link API, the clerk's signing requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import logging
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import AfterValidator, BaseModel, Field

from ...errors import EnrolmentError, InkwitnessError
from ..policy import Caller
from ..routes import ISOLATION, Id, Token, may, ops_of, packet, run, tenant_of
from ..storage import Gone, NotFound
from ..validation import Name, visible_text
from .agreement import consent_record, log_agreement, name_hmac, notice_record, request_salt, seal_reason
from .consent import CONSENT, TYPED_NOTICE
from .errors import CopyExpired, LinkExpired, LinkUsed, NoDocument, RequestDeclined, SealingUnavailable
from .render import DocumentError, page_png, page_sizes
from .store import COPY_RETENTION, RequestStore, SigningRequest

router = APIRouter()
logger = logging.getLogger(__name__)
TEMPLATES = FilePath(__file__).parent / "templates"
Clerk = Annotated[Caller, Depends(may("document.manage"))]
#: The step named in a signed request's ``outcome.errors`` when the signer's copy could not be kept.
COPY_FAILED = "keeping the signer's copy"
#: Seconds between state checks of a live status stream, and how long one stream lasts at most.
EVENT_POLL_SECONDS, EVENT_STREAM_SECONDS = 0.5, 15 * 60


def store_of(request: Request) -> RequestStore:
    """The app's signing-request store (made on first use)."""
    state = request.app.state
    if getattr(state, "ceremony_store", None) is None:
        ops = ops_of(request)
        state.ceremony_store = RequestStore(ops.settings.data_dir / "ceremony", ops.repo.vault)
    return state.ceremony_store


# --- pages ---------------------------------------------------------------------------------------
@router.get("/s/{token}", include_in_schema=False)
async def signer_page(token: Token) -> FileResponse:
    """The signer's ceremony (the link is the credential; the page itself holds no data)."""
    return FileResponse(TEMPLATES / "sign.html", headers={**ISOLATION, "Referrer-Policy": "no-referrer"})


# --- the signer's link ----------------------------------------------------------------------------
class ConsentIn(BaseModel):
    accepted: Literal[True]
    lang: Literal["en", "zh"] = "en"


class SignIn(BaseModel):
    signature: dict[str, Any]
    consent: ConsentIn


class TypedIn(BaseModel):
    name: Name  # no control, bidi or zero-width characters: what the clerk reads is what was typed
    lang: Literal["en", "zh"] = "en"


class DeclineIn(BaseModel):
    reason: Annotated[str, Field(max_length=500), AfterValidator(visible_text)] | None = None


def _session_info(request: Request, token: str) -> dict[str, Any] | None:
    try:
        row = ops_of(request).repo.peek_session(token)
    except Gone:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.timezone.utc)
    note = store_of(request).link_note(token)
    return {"purpose": row.purpose, "references_needed": 5 if row.purpose == "enrol" else 1,
            "expires_at": expires.isoformat(), "requester": note.get("requester"), "reason": note.get("reason")}


def note_link(request: Request, token: str, requester: str | None, reason: str | None, expires_at: str) -> None:
    """Keep who asks and why for a plain enrol/verify link, to show the signer."""
    store_of(request).put_link_note(token, {"requester": requester, "reason": reason, "expires_at": expires_at})


@router.get("/v1/capture/{token}/request")
async def link_request(token: Token, request: Request) -> dict[str, Any]:
    """What the link asks for: who, why, which document and where, and the consent text."""
    store = store_of(request)
    req = await run(store.by_token, token)
    session = await run(_session_info, request, token)
    if session is None and (req is None or req.state == "open"):
        raise LinkUsed("this signing link was already used or has expired")
    if req is not None and req.state == "open":
        await run(store.event, req, "viewed")
    # The binding the page's capture client puts into the packet (none once the request is over).
    binding = await run(_binding_of, store, req) if req is not None and req.state == "viewed" else None
    body: dict[str, Any] = {"session": session, "consent": CONSENT, "typed_notice": TYPED_NOTICE,
                            "document": req.public() if req else None, "signed_at": None, "binding": binding}
    if req is not None and req.state in ("signed", "typed"):
        body["signed_at"] = req.events[-1]["time"]
        # No copy to offer when keeping it failed after the sealing (the outcome names the failure).
        body["copy"] = req.state == "signed" and not any(e.startswith(COPY_FAILED)
                                                         for e in req.outcome.get("errors", []))
    return body


def _binding_of(store: RequestStore, req: SigningRequest) -> dict[str, str] | None:
    """The capture binding issued with the request ({document_sha256, nonce}), or None (an older request)."""
    try:
        nonce = store.blob(req, "binding").decode()
    except NotFound:
        return None
    return {"document_sha256": req.document_sha256, "nonce": nonce}


def _open_request(request: Request, token: str) -> SigningRequest:
    req = store_of(request).by_token(token)
    if req is None:
        raise NoDocument("this link has no document")
    return req


@router.get("/v1/capture/{token}/pages/{page}.png", response_class=Response)
async def link_page(token: Token, page: int, request: Request, w: Annotated[int, Query(ge=100, le=1400)] = 900
                    ) -> Response:
    """A page of the document, as an image."""
    store = store_of(request)
    req = await run(_open_request, request, token)
    if req.state == "declined":
        raise RequestDeclined("this signing request was declined")
    if req.state in ("open", "viewed") and dt.datetime.fromisoformat(req.expires_at) < dt.datetime.now(dt.timezone.utc):
        raise LinkExpired("this signing link has expired")
    data = await run(page_png, await run(store.blob, req, "document"), page, w)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


async def _consume(request: Request, token: str) -> Any:
    return await run(ops_of(request).repo.consume_session, token)


def _verification(request: Request, row: Any, sig: Any) -> dict[str, Any]:
    """Verify against the subject's enrolment when there is one (for the clerk, never the signer)."""
    from ...errors import IncompatibleSignatures

    try:
        outcome = ops_of(request).verify(row.tenant_id, row.subject_id, sig)
    except (NotFound, EnrolmentError):
        return {"decision": "not-enrolled"}
    except IncompatibleSignatures as exc:
        return {"decision": "not-comparable", "reasons": [str(exc)]}
    return {k: outcome[k] for k in ("id", "decision", "score", "threshold", "reasons", "replay", "log_index")
            if k in outcome}


def _seal(request: Request, req: SigningRequest, sig: Any, accepted: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """Seal and log the signing (operations.sign_document); if this raises, nothing was sealed."""
    ops, store = ops_of(request), store_of(request)
    # Sealing first: if it fails (TSA down) the signer retries with the same packet, which a
    # verification stored before would then flag as a replay of itself.
    # The packet must carry the binding issued with this request (a nonce of this request only);
    # requests created while bindings were required refuse a packet without one.
    return ops.sign_document(req.tenant_id, store.blob(req, "document"), sig, req.page, req.box,
                             req.signer_name, req.subject_id, reason=seal_reason(accepted, req),
                             agreement={"request": req.id, "consent": accepted}, request_id=req.id,
                             binding_required=req.binding_required)


def _after_seal(request: Request, row: Any, req: SigningRequest, sig: Any, accepted: dict[str, Any],
                sealed: bytes, info: dict[str, Any]) -> bool:
    """Record a sealing that happened: the copy, the agreement, the outcome; whether the copy was kept.

    The document is sealed and logged by now, so the link is never released again: a step that
    fails is logged and named in the outcome (``errors``), and the request is marked signed.
    """
    ops, store = ops_of(request), store_of(request)
    sealed_sha256 = hashlib.sha256(sealed).hexdigest()
    errors: list[str] = []

    def attempt(what: str, step: Any) -> Any:
        try:
            return step()
        except Exception as exc:  # noqa: BLE001 - recorded; the sealing itself stands
            logger.exception("signing request %s: sealed (log entry %s) but %s failed", req.id, info["log_index"], what)
            errors.append(f"{what} failed: {type(exc).__name__}")
            return None

    try:
        verification = _verification(request, row, sig)
    except Exception as exc:  # noqa: BLE001 - the document is signed; the clerk sees why it was not checked
        verification = {"decision": "error", "reasons": [f"verification failed: {type(exc).__name__}"]}
    attempt(COPY_FAILED, lambda: store.put_blob(req, "sealed", sealed))
    copy = not errors
    attempt("keeping the signature packet", lambda: store.put_blob(req, "packet", json.dumps(sig.to_dict()).encode()))
    agreement = attempt("logging the agreement", lambda: log_agreement(
        ops.evidence.log, req, "handwritten", {"consent": accepted}, salt=request_salt(store, req),
        signing_log_index=info["log_index"], signature_sha256=sig.sha256, signed_document_sha256=sealed_sha256))
    req.outcome = {"log_index": info["log_index"], "sealed_sha256": sealed_sha256,
                   "signature_sha256": sig.sha256, "verification": verification, "consent": accepted,
                   "agreement_log_index": agreement}
    if errors:
        req.outcome["errors"] = errors
    attempt("recording the request's state", lambda: store.event(req, "signed"))
    attempt("closing the link", lambda: ops.repo.finish_session(row.id, {
        "state": "signed", "log_index": info["log_index"], "decision": verification.get("decision")}))
    return copy


@router.post("/v1/capture/{token}/sign", status_code=201)
async def link_sign(token: Token, body: SignIn, request: Request) -> dict[str, Any]:
    """Sign the document: verify (for the clerk), seal, keep a copy for the signer; the link works once."""
    req = await run(_open_request, request, token)
    sig = packet(body.signature)
    row = await _consume(request, token)
    # Accepted before sealing, so that the seal's /Reason can name the consent and its time.
    accepted = consent_record(body.consent.lang)
    try:
        sealed, info = await run(_seal, request, req, sig, accepted)
    except BaseException:
        # Nothing was sealed: the link stays usable and the signer may try again.
        with anyio.CancelScope(shield=True):
            await run(ops_of(request).repo.release_session, row.id)
        raise
    # Sealed and logged: whatever fails now is recorded, never undone by a second sealing.
    with anyio.CancelScope(shield=True):
        copy = await run(_after_seal, request, row, req, sig, accepted, sealed, info)
    return {"state": "signed", "copy": f"/v1/capture/{token}/copy.pdf" if copy else None}


@router.post("/v1/capture/{token}/typed", status_code=201)
async def link_typed(token: Token, body: TypedIn, request: Request) -> dict[str, Any]:
    """Agree with a typed name instead of drawing (recorded with its reduced evidential value)."""
    store = store_of(request)
    req = await run(_open_request, request, token)
    row = await _consume(request, token)
    name, notice = body.name.strip(), notice_record(body.lang)
    try:
        # The log keeps only a keyed hash of the name (the salt goes with the request's files).
        salt = await run(request_salt, store, req)
        agreement = await run(log_agreement, ops_of(request).evidence.log, req, "typed-name",
                              {"typed_name_hmac": name_hmac(salt, name), "notice": notice}, salt)
    except BaseException:
        # Nothing was logged: the link stays usable.
        with anyio.CancelScope(shield=True):
            await run(ops_of(request).repo.release_session, row.id)
        raise
    req.outcome = {"typed_name": name, "evidential_value": "reduced: no handwriting recorded",
                   "notice": notice, "agreement_log_index": agreement}
    await run(store.event, req, "typed")
    await run(ops_of(request).repo.finish_session, row.id, {"state": "typed"})
    return {"state": "typed"}


@router.post("/v1/capture/{token}/decline", status_code=201)
async def link_decline(token: Token, body: DeclineIn, request: Request) -> dict[str, Any]:
    """Decline to sign: the link closes and the clerk sees it at once."""
    store = store_of(request)
    req = await run(store.by_token, token)
    row = await _consume(request, token)
    await run(ops_of(request).repo.finish_session, row.id, {"state": "declined"})
    if req is not None:
        req.outcome = {"declined_reason": (body.reason or "").strip() or None}
        await run(store.event, req, "declined")
    return {"state": "declined"}


@router.get("/v1/capture/{token}/copy.pdf", response_class=Response)
async def link_copy(token: Token, request: Request) -> Response:
    """The signer's copy of the sealed document (for a day after signing)."""
    store = store_of(request)
    req = await run(_open_request, request, token)
    if req.state != "signed":
        raise NotFound("the document has not been signed through this link")
    signed = dt.datetime.fromisoformat(req.events[-1]["time"])
    if dt.datetime.now(dt.timezone.utc) - signed > COPY_RETENTION:
        raise CopyExpired("the copy is no longer available here; ask the sender for it")
    return Response(await run(store.blob, req, "sealed"), media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="signed.pdf"', "Cache-Control": "no-store"})


# --- the clerk's signing requests ---------------------------------------------------------------
def _default_box(size: tuple[float, float]) -> tuple[float, float, float, float]:
    """A 180 x 60 pt field at the bottom right of the page (inside a 36 pt margin)."""
    w, h = size
    width, height = min(180.0, w - 72), min(60.0, h / 6)
    return (w - 36 - width, 72.0, w - 36, 72.0 + height)


def _create(request: Request, who: Caller, pdf: bytes, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    import qrcode
    import qrcode.image.svg

    from ...evidence.pdf import parse_box
    from ..validation import check_box

    ops, store = ops_of(request), store_of(request)
    if ops.sealing is None:
        raise SealingUnavailable("document sealing is not configured on this server (TSA, escrow key, certificate)")
    sizes = page_sizes(pdf)
    page = fields["page"] or len(sizes)
    if not 1 <= page <= len(sizes):
        raise DocumentError(f"page {page} is not in the document (1..{len(sizes)})")
    box = check_box(parse_box(fields["box"])) if fields["box"] else _default_box(sizes[page - 1])
    ttl = fields["ttl_seconds"] or ops.settings.session_ttl_seconds
    tenant = tenant_of(who)
    session_id, token, expires = ops.repo.create_session(tenant, fields["subject_id"], "verify", ttl, False, who.key_id)
    req = SigningRequest(id=session_id, tenant_id=tenant, subject_id=fields["subject_id"], document_name=name,
                         document_sha256=hashlib.sha256(pdf).hexdigest(), pages=sizes, page=page, box=box,
                         requester=fields["requester"], reason=fields["reason"], signer_name=fields["signer_name"],
                         expires_at=expires.isoformat(), binding_required=ops.settings.ceremony_binding_required())
    # The binding the signer's page puts into the packet: the document's SHA-256 and a nonce for
    # this request only, as long-lived as its link. Kept encrypted beside the document.
    issued = ops.issue_binding(tenant, req.document_sha256, ttl, request_id=session_id)
    store.put_blob(req, "binding", issued["binding"]["nonce"].encode())
    # The key of the names' hashes in the log; purged with the request, so they become unlinkable.
    request_salt(store, req)
    store.create(req, token, pdf)
    url = f"{ops.settings.public_url.rstrip('/')}/s/{token}"
    svg = io.BytesIO()
    qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage).save(svg)
    return {**req.for_clerk(), "token": token, "url": url, "qr_svg": svg.getvalue().decode()}


@router.post("/v1/documents/requests", status_code=201)
async def create_request(who: Clerk, request: Request, file: Annotated[UploadFile, File()],
                         subject_id: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")],
                         requester: Annotated[str, Form(min_length=1, max_length=200), AfterValidator(visible_text)],
                         reason: Annotated[str, Form(min_length=1, max_length=500), AfterValidator(visible_text)],
                         signer_name: Annotated[str | None, Form(max_length=200),
                                                AfterValidator(lambda v: v if v is None else visible_text(v))] = None,
                         page: Annotated[int | None, Form(ge=1, le=100_000)] = None,
                         box: Annotated[str | None, Form(max_length=100)] = None,
                         ttl_seconds: Annotated[int | None, Form(ge=60, le=7 * 24 * 3600)] = None) -> dict[str, Any]:
    """Ask someone to sign a PDF: a single-use link (and QR code) to the signing ceremony."""
    pdf = await file.read()
    name = (file.filename or "document.pdf")[-120:]
    fields = {"subject_id": subject_id, "requester": requester.strip(), "reason": reason.strip(),
              "signer_name": (signer_name or "").strip() or None, "page": page, "box": box,
              "ttl_seconds": ttl_seconds}
    return await run(_create, request, who, pdf, name, fields)


#: Pages shown when choosing the field (a longer document's signature page is typed in).
PREVIEW_PAGES = 20


def _preview(pdf: bytes) -> dict[str, Any]:
    import base64

    sizes = page_sizes(pdf)
    images = [base64.b64encode(page_png(pdf, n, 700)).decode() for n in range(1, min(len(sizes), PREVIEW_PAGES) + 1)]
    return {"pages": [list(p) for p in sizes], "images": [f"data:image/png;base64,{i}" for i in images],
            "default_box": list(_default_box(sizes[-1]))}


@router.post("/v1/documents/preview")
async def preview_document(who: Clerk, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """Page sizes and images of a PDF, to choose the page and the field before asking for a signature."""
    return await run(_preview, await file.read())


@router.get("/v1/documents/requests")
async def list_requests(who: Clerk, request: Request) -> dict[str, Any]:
    """This tenant's newest signing requests."""
    store = store_of(request)
    # Clerks list requests all day: ended ones past their retention go (at most hourly per process).
    try:
        retention = ops_of(request).settings.request_retention()
    except InkwitnessError:
        # A server misconfiguration (serve checks it at start): listing still works, nothing is purged.
        logger.exception("signing requests not purged: the retention setting is invalid")
    else:
        await run(store.purge, retention)
    found = await run(store.list, tenant_of(who))
    return {"requests": [r.for_clerk() for r in found]}


@router.get("/v1/documents/requests/{request_id}")
async def get_request(request_id: Id, who: Clerk, request: Request) -> dict[str, Any]:
    """One signing request, with the verification outcome the signer never sees."""
    return (await run(store_of(request).for_tenant, tenant_of(who), request_id)).for_clerk()


@router.get("/v1/documents/requests/{request_id}/events")
async def request_events(request_id: Id, who: Clerk, request: Request) -> StreamingResponse:
    """Live status as server-sent events: one ``status`` event now and on every change."""
    store, tenant = store_of(request), tenant_of(who)
    await run(store.for_tenant, tenant, request_id)

    async def stream():  # noqa: ANN202
        last, waited, quiet = None, 0.0, 0.0
        while waited < EVENT_STREAM_SECONDS and not await request.is_disconnected():
            req = await run(store.for_tenant, tenant, request_id)
            data = json.dumps(req.for_clerk())
            if data != last:
                last, quiet = data, 0.0
                yield f"event: status\ndata: {data}\n\n"
                if req.state in ("signed", "typed", "declined"):
                    return
            elif quiet >= 15:
                quiet = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(EVENT_POLL_SECONDS)
            waited += EVENT_POLL_SECONDS
            quiet += EVENT_POLL_SECONDS

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/v1/documents/requests/{request_id}/pages/{page}.png", response_class=Response)
async def request_page(request_id: Id, page: int, who: Clerk, request: Request,
                       w: Annotated[int, Query(ge=100, le=1400)] = 700) -> Response:
    """A page of the request's document, as an image (for choosing and checking the field)."""
    store = store_of(request)
    req = await run(store.for_tenant, tenant_of(who), request_id)
    return Response(await run(page_png, await run(store.blob, req, "document"), page, w), media_type="image/png")


@router.get("/v1/documents/requests/{request_id}/sealed.pdf", response_class=Response)
async def request_sealed(request_id: Id, who: Clerk, request: Request) -> Response:
    """The sealed PDF."""
    store = store_of(request)
    req = await run(store.for_tenant, tenant_of(who), request_id)
    return Response(await run(store.blob, req, "sealed"), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="signed-{request_id[:8]}.pdf"'})


@router.get("/v1/documents/requests/{request_id}/evidence.zip", response_class=Response)
async def request_evidence(request_id: Id, who: Clerk, request: Request) -> Response:
    """The offline evidence bundle of the sealing."""
    req = await run(store_of(request).for_tenant, tenant_of(who), request_id)
    if "log_index" not in req.outcome:
        raise NotFound("this request has no sealed signature yet")
    data = await run(ops_of(request).bundle, req.tenant_id, req.outcome["log_index"])
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="evidence-{req.outcome["log_index"]}.zip"'})


@router.get("/v1/documents/requests/{request_id}/report.pdf", response_class=Response)
async def request_report(request_id: Id, who: Clerk, request: Request,
                         lang: Annotated[Literal["en", "zh"], Query()] = "en") -> Response:
    """The forensic report of the signed signature against the signer's enrolment."""
    from ...signature import Signature

    store = store_of(request)
    req = await run(store.for_tenant, tenant_of(who), request_id)
    sig = Signature.from_dict(json.loads(await run(store.blob, req, "packet")))
    _, pdf = await run(ops_of(request).report, req.tenant_id, req.subject_id, sig, f"request {req.id[:8]}", None, lang)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="report-{request_id[:8]}.pdf"'})
