"""ASGI middleware around every request: request ids, response headers, localised errors and fault reporting."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import logging
import re
import secrets
from pathlib import Path

from sqlalchemy.exc import DataError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import StorageError
from .messages import localise, pick_lang

log = logging.getLogger("inkwitness.service")
#: Seconds a client is asked to wait after an infrastructure fault (503).
RETRY_AFTER_SECONDS = 5
_INFRASTRUCTURE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE}


def new_request_id() -> str:
    """A short random id that ties a response to the server's log line."""
    return secrets.token_hex(8)


def inline_script_hashes(page: Path) -> list[str]:
    """CSP source expressions for the inline scripts of a page (so no 'unsafe-inline' is needed)."""
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page.read_text(encoding="utf-8"), flags=re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts if s]


def security_headers(static_dir: Path, frame_origins: list[str]) -> dict[str, list[tuple[bytes, bytes]]]:
    """Response headers by kind of path: the capture page, the API docs, everything else."""
    ancestors = " ".join(["'self'", *frame_origins]) if frame_origins else "'none'"
    scripts = " ".join(["'self'", *inline_script_hashes(static_dir / "index.html")])
    common = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
    page = (f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            f"frame-ancestors {ancestors}")
    # The interactive API docs load their script from a CDN; they may not be framed at all.
    docs = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
    api = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    return {"page": [(b"content-security-policy", page.encode()), *common],
            "docs": [(b"content-security-policy", docs.encode()), *common],
            "api": [(b"content-security-policy", api.encode()), *common]}


def _kind(path: str) -> str:
    if path == "/" or path.startswith("/s/") or path.startswith("/static/"):
        return "page"
    if path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        return "docs"
    return "api"


class RequestContext:
    """Give every request an id (``request.state.request_id``, ``X-Request-ID`` response header),
    security headers on every response, a JSON error (500, or 503 with Retry-After for
    storage faults) for any exception no handler caught, and a ``code`` and a ``message`` in the
    caller's language (Accept-Language) on every JSON error, whichever layer sent it."""

    def __init__(self, app: ASGIApp, headers: dict[str, list[tuple[bytes, bytes]]] | None = None) -> None:
        self.app = app
        self.headers = headers or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid

        started = False
        lang = pick_lang(_header(scope, b"accept-language"))
        held: list[Message] = []   # an error response's start and body so far, until it is complete

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers.get(_kind(scope["path"]), []) if k not in present]
                message["headers"] = [*message.get("headers", []), *extra, (b"x-request-id", rid.encode())]
                if message["status"] >= 400 and _is_json(message["headers"]):
                    held.append(message)
                    return
            elif held and message["type"] == "http.response.body":
                held.append(message)
                if message.get("more_body"):
                    return
                start, body = held[0], b"".join(m.get("body", b"") for m in held[1:])
                held.clear()
                start, body = localise_response(start, body, lang)
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started and not held:
                raise
            held.clear()  # an error response cut short is replaced by the 500 below
            status, detail = classify(exc)
            log.error("request %s failed with %s (%s)", rid, type(exc).__name__, status,
                      exc_info=status >= 500 and status != 503)
            headers = {"retry-after": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
            await send_json(send_with_id, status, {"error": detail, "request_id": rid}, headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.split(b";")[0].strip() == b"application/json" for k, v in headers)


def localise_response(start: Message, body: bytes, lang: str) -> tuple[Message, bytes]:
    """An error response with ``code`` and a ``message`` in ``lang`` added to its JSON body (see messages.py)."""
    try:
        data = json.loads(body)
    except ValueError:
        return start, body
    if not isinstance(data, dict) or "error" not in data:
        return start, body
    data = localise(start["status"], data, lang)
    out = json.dumps(data, ensure_ascii=False).encode()
    drop = {b"content-length", b"content-language"}
    headers = [(k, v) for k, v in start["headers"] if k.lower() not in drop]
    headers += [(b"content-length", str(len(out)).encode()), (b"content-language", data["lang"].encode())]
    # Caches must keep the Chinese and the English error apart.
    if not any(k.lower() == b"vary" and b"accept-language" in v.lower() for k, v in headers):
        headers.append((b"vary", b"Accept-Language"))
    return {**start, "headers": headers}, out


def classify(exc: BaseException) -> tuple[int, str]:
    """Status and public message of an exception no handler caught: infrastructure faults are 503."""
    if isinstance(exc, DataError):
        return 422, "a value in the request is not acceptable to the database"
    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, StorageError)):
        return 503, "the service's storage is unavailable (busy, full or unreachable); retry later"
    if isinstance(exc, OSError) and exc.errno in _INFRASTRUCTURE_ERRNOS:
        return 503, "the service's storage is unavailable (busy, full or unreachable); retry later"
    return 500, "internal error; quote the request id when reporting it"


async def send_json(send: Send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON response from middleware."""
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Refuse request bodies over a limit (413), whether or not they declare a length."""

    def __init__(self, app: ASGIApp, limit: int, document_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.document_limit = document_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.document_limit if scope["path"].startswith("/v1/documents") else self.limit
        too_large = {"error": f"request body is larger than {limit} bytes"}
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    await send_json(send, 413, too_large)
                    return
        seen = 0
        refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now and make the app see a client that went away: whatever it then
                    # does (a body-parsing error, typically) never reaches the client.
                    refused = True
                    await send_json(send, 413, too_large)
                    return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, limited, unless_refused)
        except Exception:
            if not refused:
                raise
