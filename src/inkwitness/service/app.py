"""The FastAPI application: configuration, auth, limits, error mapping and static capture page."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (DatasetError, EnrolmentError, IncompatibleSignatures, InkwitnessError, InvalidSignature,
                      StorageError, UnsupportedFormat)
from ..evidence.context import EvidenceContext
from ..evidence.binding import BindingError
from ..evidence.envelope import EvidenceError
from .auth import AuthGate, concurrency_for, rate_for
from .custody import open_vault
from .middleware import RETRY_AFTER_SECONDS, BodyLimit, RequestContext, security_headers
from .operations import FingerprintRefused, HandwritingRefused, Operations, ReplayRefused, SealingSetup
from .policy import Forbidden
from .ratelimit import Rate
from .settings import Settings
from .storage import Conflict, Gone, NotFound, Repository

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("inkwitness.service")


_STATUS: list[tuple[type[Exception], int]] = [
    (StorageError, 503), (Forbidden, 403), (NotFound, 404), (Gone, 410), (Conflict, 409), (ReplayRefused, 409),
    (BindingError, 409), (HandwritingRefused, 422), (FingerprintRefused, 422),
    (InvalidSignature, 422), (UnsupportedFormat, 415), (EnrolmentError, 422), (IncompatibleSignatures, 422),
    (EvidenceError, 422), (DatasetError, 422), (InkwitnessError, 422),
]


def _sealing(settings: Settings, evidence: EvidenceContext) -> SealingSetup | None:
    pki = settings.pki_dir or evidence.pki_dir
    needed = [pki / "signer.cert.pem", pki / "signer.key.pem", pki / "ca.cert.pem"]
    if not (settings.tsa_url and settings.escrow_public_key and all(p.exists() for p in needed)):
        return None
    # With the PKI's CRL the seals are PAdES B-LTA (revocation data and a document time-stamp), as the CLI's.
    crls = (pki / "ca.crl",) if (pki / "ca.crl").exists() else ()
    return SealingSetup(pki / "signer.cert.pem", pki / "signer.key.pem", (pki / "ca.cert.pem",), settings.tsa_url,
                        settings.escrow_public_key, (pki / "ca.cert.pem",), crls)


def create_app(settings: Settings) -> FastAPI:
    """Build the application: open (and migrate) the database, wire operations and routes."""
    from .ceremony import router as ceremony
    from .routes import router

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    evidence = EvidenceContext(settings.data_dir, settings.database_url, settings.origin)
    repo = Repository(evidence.sessions, open_vault(settings, evidence.sessions))
    ops = Operations(repo, evidence, settings, _sealing(settings, evidence))
    app = FastAPI(title="inkwitness", version="0.1.0",
                  description="Handwritten e-signatures: capture, verification, sealed evidence and reports.")
    app.state.ops = ops
    app.state.settings = settings
    app.include_router(ceremony)  # before the API's routes: the ceremony owns /s/{token}
    app.include_router(router)

    @app.exception_handler(InkwitnessError)
    async def _domain(_: Request, exc: InkwitnessError) -> JSONResponse:
        status = next(code for cls, code in _STATUS if isinstance(exc, cls))
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
        return JSONResponse({"error": str(exc), "type": type(exc).__name__}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return JSONResponse({"error": "request is not valid", "details": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    repo.configure_lockout(settings.failure_threshold, settings.failure_window_seconds, settings.lockout_seconds)
    app.add_middleware(AuthGate, repo=repo, limits=rate_for(
        Rate(settings.capture_rate_per_second, settings.capture_burst),
        Rate(settings.key_rate_per_second, settings.key_burst)),
        concurrency=concurrency_for(settings.capture_concurrency, settings.key_concurrency),
        subject_rate=Rate(settings.capture_subject_rate_per_second, settings.capture_subject_burst))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, document_limit=settings.max_document_bytes)
    origins = settings.allowed_origins()
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"],
                           expose_headers=["X-Request-ID", "Retry-After", "X-Inkwitness-Log-Index"], max_age=600)
    # Added last, so outermost: even a refused body or a CORS preflight gets a request id and the headers.
    app.add_middleware(RequestContext, headers=security_headers(STATIC, origins))
    return app
