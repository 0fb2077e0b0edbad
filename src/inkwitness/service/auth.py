"""API-key authentication, done before a request's body is read."""

from __future__ import annotations

import re
from collections.abc import Callable

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import send_json
from .policy import CAPTURE
from .ratelimit import InFlight, Rate, TokenBuckets, retry_after
from .storage import KeyFound, Repository

#: Paths under /v1/ that authenticate otherwise (a signing link's token is its credential).
PUBLIC_PREFIXES = ("/v1/capture/",)
_UNAUTHORISED = {"www-authenticate": "Bearer"}
#: A verification of one subject: per-subject limits and the lockout apply to capture keys here.
_VERIFY = re.compile(r"^/v1/subjects/([A-Za-z0-9-]{1,64})/verifications$")


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <key>`` header (the scheme in any case, RFC 7235)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def secret_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key a request presents (``X-API-Key``, else ``Authorization: Bearer``), or None."""
    found = {k.lower(): v for k, v in headers if k.lower() in (b"x-api-key", b"authorization")}
    try:
        if b"x-api-key" in found:
            return found[b"x-api-key"].decode("latin-1").strip() or None
        return bearer_token(found.get(b"authorization", b"").decode("latin-1"))
    except UnicodeDecodeError:
        return None


async def authenticate(repo: Repository, secret: str | None) -> KeyFound | None:
    """The key's (id, tenant, scopes), or None for a missing, unknown, revoked or expired key."""
    if not secret or len(secret) > 200:
        return None
    return await anyio.to_thread.run_sync(repo.authenticate, secret)


def rate_for(capture: Rate, other: Rate) -> Callable[[KeyFound], Rate]:
    """The limit of a key: ``capture`` for capture-only keys, ``other`` for the rest."""
    def pick(found: KeyFound) -> Rate:
        return capture if found[2] == frozenset({CAPTURE}) else other
    return pick


def concurrency_for(capture: int, other: int) -> Callable[[KeyFound], int]:
    """Requests a key may have in progress at once (per process): ``capture`` for capture-only keys."""
    def pick(found: KeyFound) -> int:
        return capture if found[2] == frozenset({CAPTURE}) else other
    return pick


def is_capture_only(found: KeyFound) -> bool:
    """Whether a key holds the capture scope only (the unattended pad: per-subject limits and lockout)."""
    return found[2] == frozenset({CAPTURE})


class AuthGate:
    """Authenticate every /v1/ request before its body is read (strangers cost no parsing), then
    apply the key's rate limit and concurrency limit and, for a capture key verifying a subject,
    the subject's rate limit and lockout after a burst of failures (all 429 with Retry-After)."""

    def __init__(self, app: ASGIApp, repo: Repository, limits: Callable[[KeyFound], Rate] | None = None,
                 concurrency: Callable[[KeyFound], int] | None = None, subject_rate: Rate | None = None) -> None:
        self.app = app
        self.repo = repo
        self.limits = limits
        self.concurrency = concurrency
        self.subject_rate = subject_rate
        self.buckets = TokenBuckets()
        self.subject_buckets = TokenBuckets()
        self.in_flight = InFlight()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/") or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        secret = secret_of(scope.get("headers", []))
        if secret is None:
            await send_json(send, 401, {"error": "an API key is required (Authorization: Bearer <key>)"},
                            _UNAUTHORISED)
            return
        found = await authenticate(self.repo, secret)
        if found is None:
            await send_json(send, 401, {"error": "unknown, revoked or expired API key"}, _UNAUTHORISED)
            return
        if self.limits is not None:
            wait = self.buckets.take(found[0], self.limits(found))
            if wait:
                await send_json(send, 429, {"error": "too many requests for this API key; retry later"},
                                {"retry-after": retry_after(wait)})
                return
        verified = _VERIFY.match(path) if scope.get("method") == "POST" and is_capture_only(found) else None
        if verified is not None and found[1] is not None:
            subject = (found[1], verified.group(1))
            wait = self.subject_buckets.take(f"{subject[0]}/{subject[1]}", self.subject_rate) \
                if self.subject_rate is not None else 0.0
            if wait:
                await send_json(send, 429, {"error": "too many verifications of this subject; retry later"},
                                {"retry-after": retry_after(wait)})
                return
            locked = await anyio.to_thread.run_sync(self.repo.locked_for, *subject)
            if locked:
                await send_json(send, 429, {"error": "this subject is locked after repeated failed verifications; "
                                                     "retry later or ask an operator"},
                                {"retry-after": retry_after(locked)})
                return
        limit = self.concurrency(found) if self.concurrency is not None else 0
        if not self.in_flight.enter(found[0], limit):
            await send_json(send, 429, {"error": f"this API key already has {limit} requests in progress; "
                                                 "retry later"}, {"retry-after": "1"})
            return
        scope.setdefault("state", {})["api_key"] = found
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.leave(found[0])
