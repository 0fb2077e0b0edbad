"""Service configuration: where data lives and what the service may sign with."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InkwitnessError

STORAGE_KEY_ENV = "INKWITNESS_STORAGE_KEY"
#: Comma-separated origins that may call the API from a browser and frame the capture page.
CORS_ORIGINS_ENV = "INKWITNESS_CORS_ORIGINS"
#: Days a finished or expired signing request (its document, sealed copy and link) is kept.
REQUEST_RETENTION_ENV = "INKWITNESS_REQUEST_RETENTION_DAYS"
DEFAULT_REQUEST_RETENTION_DAYS = 30.0
#: "1"/"true" to refuse, on POST /v1/documents/sign, packets without a server-issued capture binding.
REQUIRE_BINDING_ENV = "INKWITNESS_REQUIRE_BINDING"
#: "1"/"true" to refuse, in the ceremony, packets without the binding issued with the signing request.
CEREMONY_REQUIRE_BINDING_ENV = "INKWITNESS_CEREMONY_REQUIRE_BINDING"


def _flag(value: bool | None, env: str, default: bool) -> bool:
    """A boolean setting: as given, else the environment variable, else ``default``."""
    if value is not None:
        return value
    raw = os.environ.get(env, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise InkwitnessError(f"{env} must be true or false, got {raw[:20]!r}")


@dataclass
class Settings:
    """Everything ``create_app`` needs; the CLI fills it from options and environment."""

    data_dir: Path = Path("inkwitness-data")
    database_url: str | None = None
    storage_key_file: Path | None = None
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 2 * 1024 * 1024
    max_document_bytes: int = 20 * 1024 * 1024
    session_ttl_seconds: int = 15 * 60
    tsa_url: str | None = None
    escrow_public_key: Path | None = None
    pki_dir: Path | None = None
    origin: str = "inkwitness.local/log"
    cors_origins: list[str] | None = None
    #: /healthz reports unavailable below this much free space in the data directory.
    min_free_bytes: int = 64 * 2**20
    # Per key and worker process (see ratelimit.py). Capture-only keys get a tight limit: a pad
    # submits a signature every few seconds, and a scoring oracle needs thousands of tries.
    capture_rate_per_second: float = 2.0
    capture_burst: int = 20
    key_rate_per_second: float = 500.0
    key_burst: int = 1000
    # Capture keys verifying one subject share a per-subject bucket (per process), so that several
    # pads (or stolen keys) cannot multiply the tries against one person.
    capture_subject_rate_per_second: float = 1.0
    capture_subject_burst: int = 20
    #: Requests one key may have in progress at once, per process (0: no limit); over it, 429.
    capture_concurrency: int = 4
    key_concurrency: int = 64
    #: This many failed verifications (forgery or replay) of one subject within the window, in one
    #: process, raise an alert (audit event ``subject.locked``, warning in the log) and refuse capture
    #: keys' verifications of the subject for ``lockout_seconds`` (0 turns this off).
    failure_threshold: int = 5
    failure_window_seconds: float = 600.0
    lockout_seconds: float = 900.0
    #: Days a signing request is kept once signed, typed, declined or expired (None: environment,
    #: else 30). Its sealing's log entries and evidence are kept regardless.
    request_retention_days: float | None = None
    #: Plain API sealing refuses packets without a server-issued capture binding (None: environment,
    #: else False, so that existing integrations keep working; see docs/evidence.md).
    require_binding: bool | None = None
    #: Signing requests created while this is on refuse packets without their binding (None:
    #: environment, else True: the signer's page always binds).
    ceremony_require_binding: bool | None = None
    #: Lifetime of a binding nonce issued by POST /v1/documents/bindings (when the caller names none).
    binding_ttl_seconds: int = 15 * 60
    #: Seals ask the OCSP responders the certificates name (when the PKI also has a CRL to fall back
    #: to; an unanswered responder is skipped with a logged warning, the CRL then stands).
    seal_ocsp: bool = True
    #: Seconds of comparison work one verification or enrolment may take before it is stopped
    #: (503, Retry-After; nothing stored). 0 turns the budget off.
    # Elapsed time, so it also covers a fresh worker's first request (numba kernels loading) and a
    # 20-reference enrolment at the point cap (about 7.8 s): the caps bound the work, this bounds the wait.
    verify_cpu_budget_seconds: float = 10.0
    #: How long a re-enrolment waiting for a second key's approval stays approvable.
    reenrol_approval_ttl_seconds: int = 24 * 3600

    def allowed_origins(self) -> list[str]:
        """Browser origins allowed to call the API and frame the capture page (setting, else environment)."""
        raw = self.cors_origins if self.cors_origins is not None else os.environ.get(CORS_ORIGINS_ENV, "").split(",")
        origins = [o.strip().rstrip("/") for o in raw if o.strip()]
        for o in origins:
            if not (o.startswith("https://") or o.startswith("http://")) or any(c in o for c in " ;'\"*"):
                raise InkwitnessError(f"CORS origin {o!r} must be a scheme and host such as https://shop.example")
        return origins

    def binding_required(self) -> bool:
        """Whether plain API sealing refuses packets without a server-issued binding."""
        return _flag(self.require_binding, REQUIRE_BINDING_ENV, False)

    def ceremony_binding_required(self) -> bool:
        """Whether new signing requests refuse packets without their binding."""
        return _flag(self.ceremony_require_binding, CEREMONY_REQUIRE_BINDING_ENV, True)

    def request_retention(self) -> dt.timedelta:
        """How long ended signing requests are kept (setting, else environment, else 30 days)."""
        raw = self.request_retention_days
        if raw is None:
            try:
                raw = float(os.environ.get(REQUEST_RETENTION_ENV, DEFAULT_REQUEST_RETENTION_DAYS))
            except ValueError:
                raise InkwitnessError(f"{REQUEST_RETENTION_ENV} must be a number of days") from None
        # Never shorter than the signer's copy stays downloadable behind the link (24 hours).
        from .ceremony.store import COPY_RETENTION

        least = COPY_RETENTION / dt.timedelta(days=1)
        if not least <= raw <= 36500:
            raise InkwitnessError(f"request retention must be {least:g} to 36500 days (the signer's copy is kept "
                                  f"{least:g} day after signing), got {raw:g}")
        return dt.timedelta(days=raw)

    def validate(self) -> None:
        """Check the settings read from the environment (at start-up: one line, not a fault per request)."""
        self.allowed_origins()
        self.request_retention()
        self.binding_required()
        self.ceremony_binding_required()

    def storage_key(self) -> bytes:
        """The newest AES-256 storage key: env, key file, or a new key file (0600). For setting up a fresh
        data directory only (tests): it holds no older key, checks nothing against the database and
        makes a key even where data exists. Everything that reads stored data opens the keyring with
        :func:`custody.open_vault`, which refuses a missing key when the database holds data and a
        keyring the data is not sealed under.
        """
        from .custody import decode_keyring, key_path, write_new_key

        env = os.environ.get(STORAGE_KEY_ENV)
        if env:
            return decode_keyring(env.encode(), STORAGE_KEY_ENV)[0]
        path = key_path(self)
        if not path.exists():
            return write_new_key(path)
        return decode_keyring(path.read_bytes(), str(path))[0]
