"""API-key authentication, done before a request's body is read."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import send_json
from .policy import CAPTURE
from .ratelimit import Rate, TokenBuckets, retry_after
from .storage import KeyFound, Repository

#: Paths under /v1/ that authenticate otherwise (a signing link's token is its credential).
PUBLIC_PREFIXES = ("/v1/capture/",)
_UNAUTHORISED = {"www-authenticate": "Bearer"}


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


class AuthGate:
    """Authenticate every /v1/ request before its body is read (strangers cost no parsing), then
    apply the key's rate limit (429 with Retry-After)."""

    def __init__(self, app: ASGIApp, repo: Repository, limits: Callable[[KeyFound], Rate] | None = None) -> None:
        self.app = app
        self.repo = repo
        self.limits = limits
        self.buckets = TokenBuckets()

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
        scope.setdefault("state", {})["api_key"] = found
        await self.app(scope, receive, send)
