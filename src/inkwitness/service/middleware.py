"""ASGI middleware around every request: request ids, response headers and fault reporting."""

from __future__ import annotations

import errno
import json
import logging
import secrets

from sqlalchemy.exc import DataError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import StorageError

log = logging.getLogger("inkwitness.service")
#: Seconds a client is asked to wait after an infrastructure fault (503).
RETRY_AFTER_SECONDS = 5
_INFRASTRUCTURE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE}


def new_request_id() -> str:
    """A short random id that ties a response to the server's log line."""
    return secrets.token_hex(8)


class RequestContext:
    """Give every request an id (``request.state.request_id``, ``X-Request-ID`` response header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            status, detail = classify(exc)
            log.error("request %s failed with %s (%s)", rid, type(exc).__name__, status,
                      exc_info=status >= 500 and status != 503)
            headers = {"x-request-id": rid}
            if status == 503:
                headers["retry-after"] = str(RETRY_AFTER_SECONDS)
            await send_json(send, status, {"error": detail, "request_id": rid}, headers)


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
