"""``inkwitness serve`` and API-key administration."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_common import CliError, console, err_console, local_sealing

#: Environment variable naming a file for the bootstrap keys (``serve --bootstrap-key-file``).
BOOTSTRAP_KEY_FILE_ENV = "INKWITNESS_BOOTSTRAP_KEY_FILE"
#: Where earlier versions left the bootstrap keys.
LEGACY_KEY_FILES = ("platform-key.txt", "bootstrap-admin-key.txt")


def serve(host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
          data_dir: Annotated[Path, typer.Option(help="data directory")] = Path("inkwitness-data"),
          database_url: Annotated[Optional[str], typer.Option(help="database URL (default SQLite in data dir)")] = None,
          public_url: Annotated[Optional[str], typer.Option(help="URL customers' devices reach (signing links)")]
          = None,
          tsa_url: Annotated[Optional[str], typer.Option(help="RFC 3161 TSA URL (default: a local TSA)")] = None,
          escrow_pub: Annotated[Optional[Path], typer.Option(help="escrow public key (default: a demo key pair)")]
          = None,
          workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
          max_body: Annotated[int, typer.Option(help="largest request body in bytes")] = 2 * 1024 * 1024,
          shutdown_timeout: Annotated[int, typer.Option(min=1, max=3600, help="seconds in-flight requests get to "
                                                        "finish on shutdown")] = 30,
          bootstrap_key_file: Annotated[Optional[Path], typer.Option(
              envvar=BOOTSTRAP_KEY_FILE_ENV, help="on first start, also write the bootstrap keys to this file "
              "(0600; default: printed once, no file)")] = None,
          require_binding: Annotated[Optional[bool], typer.Option(
              "--require-binding/--no-require-binding", help="POST /v1/documents/sign refuses packets without a "
              "server-issued capture binding (default: INKWITNESS_REQUIRE_BINDING, else off; the ceremony always "
              "requires its own binding unless INKWITNESS_CEREMONY_REQUIRE_BINDING=0)")] = None) -> None:
    """Run the HTTP service (OpenAPI docs at /docs). Migrations run on start-up."""
    import uvicorn

    from .evidence.context import EvidenceContext
    from .service.asgi import SETTINGS_ENV, settings_to_env
    from .service.custody import open_vault
    from .service.settings import Settings
    from .service.storage import Repository

    data_dir.mkdir(parents=True, exist_ok=True)
    _warn_legacy_key_files(data_dir)
    settings = Settings(data_dir=data_dir, database_url=database_url, max_body_bytes=max_body,
                        public_url=public_url or f"http://{host}:{port}", require_binding=require_binding)
    # A malformed INKWITNESS_CORS_ORIGINS or INKWITNESS_REQUEST_RETENTION_DAYS is one line here, not a
    # worker traceback (or a refusal of every request that reads it).
    settings.validate()
    evidence = EvidenceContext(data_dir, database_url)
    # Migrates, and checks the storage key against the database, before workers start.
    repo = Repository(evidence.sessions, open_vault(settings, evidence.sessions))
    _warn_key_beside_data(settings)
    tsa, tsa_url, escrow_pub = local_sealing(evidence.pki_dir, data_dir, tsa_url, escrow_pub)
    settings.tsa_url, settings.escrow_public_key = tsa_url, escrow_pub
    if not repo.any_api_key():
        _bootstrap(repo, bootstrap_key_file)
    os.environ[SETTINGS_ENV] = settings_to_env(settings)
    console.print(f"inkwitness listening on http://{host}:{port} (API docs at /docs)", highlight=False)
    try:
        # No access log: paths of signing links carry their tokens.
        uvicorn.run("inkwitness.service.asgi:app", factory=True, host=host, port=port, workers=workers,
                    access_log=False, log_level="warning", timeout_graceful_shutdown=shutdown_timeout)
    finally:
        if tsa is not None:
            tsa.stop()


def _write_secret(path: Path, text: str) -> None:
    """Create a secret file readable by its owner only (0600 from the first byte; an existing file is refused)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(f"{path} already exists: remove it or choose another --bootstrap-key-file") from None
    except OSError as exc:
        raise CliError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _warn_legacy_key_files(data_dir: Path) -> None:
    """Earlier versions left the bootstrap keys in plain files in the data directory: say so at every start."""
    for name in LEGACY_KEY_FILES:
        if (data_dir / name).exists():
            err_console.print(f"warning: {data_dir / name} holds a bootstrap API key in a plain file; store it in "
                              "a secret store and delete the file (or revoke the key with inkwitness keys revoke)",
                              highlight=False, markup=False, soft_wrap=True)


def _warn_key_beside_data(settings) -> None:  # noqa: ANN001
    """The storage keyring in the data directory travels with every copy of the data: say so at every start."""
    from .service.custody import STORAGE_KEY_FILE_ENV, key_beside_data, key_path

    if key_beside_data(settings):
        err_console.print(f"warning: the storage key {key_path(settings)} is inside the data directory, so a copy "
                          f"of the data directory can be decrypted; move it out and set {STORAGE_KEY_FILE_ENV} "
                          "(or pass the keyring in INKWITNESS_STORAGE_KEY)", highlight=False, markup=False,
                          soft_wrap=True)


def _bootstrap(repo, key_file: Path | None) -> None:  # noqa: ANN001
    """First start: a platform-operator key (creates tenants) and an admin key of the tenant "default".

    Printed once to standard output when it is a terminal, and kept nowhere else, unless ``key_file``
    is given (for automation that reads them): a key left in the data directory outlives its purpose.
    Standard output that is not a terminal (journald, docker logs, a pipe) would keep them in a log,
    so there the keys go to ``key_file`` only, and without one the service refuses to start.
    """
    tty = sys.stdout.isatty()
    if key_file is None and not tty:
        raise CliError(f"standard output is not a terminal, so the bootstrap API keys would end up in a log: pass "
                       f"--bootstrap-key-file PATH (or set {BOOTSTRAP_KEY_FILE_ENV}), or create the first keys with "
                       "inkwitness keys create before the first start")
    if key_file is not None and (key_file.exists() or not key_file.parent.is_dir()):
        raise CliError(f"--bootstrap-key-file {key_file} must be a new file in an existing directory")
    platform = repo.create_api_key(None, "bootstrap platform", ["platform"])
    admin = repo.create_api_key(repo.ensure_tenant("default"), "bootstrap admin", ["admin"])
    for key, what in ((platform, "platform-operator"), (admin, 'admin (tenant "default")')) if tty else ():
        # soft_wrap: a key is never broken across lines, whatever the terminal's width.
        console.print(f"bootstrap {what} API key (shown once; store it in a secret store): {key}", highlight=False,
                      markup=False, soft_wrap=True)
    if key_file is not None:
        # The admin key last, alone at the end of its line: scripts take the last word of the last line.
        _write_secret(key_file, f"# inkwitness bootstrap keys: move them to a secret store and delete this file\n"
                                f"platform {platform}\nadmin {admin}\n")
        console.print(f"bootstrap keys {'also ' if tty else ''}written to {key_file} (0600)", highlight=False)


def _repo(data_dir: Path, database_url: str | None):  # noqa: ANN202
    from .evidence.context import EvidenceContext
    from .service.custody import open_vault
    from .service.settings import Settings
    from .service.storage import Repository

    data_dir.mkdir(parents=True, exist_ok=True)
    evidence = EvidenceContext(data_dir, database_url)
    return Repository(evidence.sessions, open_vault(Settings(data_dir=data_dir), evidence.sessions))


def parse_expiry(text: str) -> dt.datetime:
    """``30d``, ``12h`` or ``90`` (days) from now, or an ISO 8601 date or time (UTC if no zone given)."""
    units = {"d": 86400, "h": 3600, "m": 60}
    raw = text.strip().lower()
    try:
        if raw[-1:] in units and raw[:-1].isdigit():
            return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=int(raw[:-1]) * units[raw[-1]])
        if raw.isdigit():
            return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=int(raw))
        when = dt.datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError) as exc:
        raise CliError(f"--expires must be like 30d, 12h or an ISO 8601 date, got {text!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def keys_create(tenant: Annotated[Optional[str], typer.Option(help="tenant name (created if needed)")] = None,
                scopes: Annotated[str, typer.Option(help="comma-separated: admin, operator, capture")] = "operator",
                name: Annotated[str, typer.Option(help="what the key is for")] = "api key",
                expires: Annotated[Optional[str], typer.Option(help="30d, 12h, or an ISO 8601 date")] = None,
                platform: Annotated[bool, typer.Option("--platform", help="a platform-operator key (creates "
                                                                         "tenants; no tenant data)")] = False,
                data_dir: Annotated[Path, typer.Option()] = Path("inkwitness-data"),
                database_url: Annotated[Optional[str], typer.Option()] = None) -> None:
    """Create an API key (printed once; only its hash is stored)."""
    if platform == bool(tenant):
        raise CliError("give either --tenant NAME or --platform")
    chosen = ["platform"] if platform else [s.strip() for s in scopes.split(",") if s.strip()]
    bad = [s for s in chosen if s not in ("admin", "operator", "capture", "platform")]
    if bad or not chosen or ("platform" in chosen and not platform):
        raise CliError(f"unknown scope(s): {', '.join(bad) or '(none)'}")
    when = parse_expiry(expires) if expires else None
    repo = _repo(data_dir, database_url)
    tenant_id = None if platform else repo.ensure_tenant(tenant)
    console.print(repo.create_api_key(tenant_id, name, chosen, when, "cli"), highlight=False)


def keys_list(tenant: Annotated[Optional[str], typer.Option(help="tenant name (default: platform keys)")] = None,
              data_dir: Annotated[Path, typer.Option()] = Path("inkwitness-data"),
              database_url: Annotated[Optional[str], typer.Option()] = None) -> None:
    """List keys (never their secrets): prefix, name, scopes, expiry, last use, revocation."""
    from rich.table import Table

    repo = _repo(data_dir, database_url)
    table = Table("id", "prefix", "name", "scopes", "created", "expires", "last used", "revoked")
    for k in repo.list_keys(repo.ensure_tenant(tenant) if tenant else None):
        table.add_row(k["id"], k["prefix"], k["name"], ",".join(k["scopes"]), k["created"][:19],
                      (k["expires_at"] or "-")[:19], (k["last_used_at"] or "-")[:19],
                      (k["revoked_at"] or "yes")[:19] if k["revoked"] else "-")
    console.print(table)


def keys_revoke(key: Annotated[str, typer.Argument(help="key id or prefix (see keys list)")],
                data_dir: Annotated[Path, typer.Option()] = Path("inkwitness-data"),
                database_url: Annotated[Optional[str], typer.Option()] = None) -> None:
    """Revoke a key; it stops working at once in every worker."""
    info = _repo(data_dir, database_url).revoke_key(key, None, any_tenant=True, actor="cli")
    console.print(f"revoked key {info['prefix']} ({info['name']})", highlight=False)


def keys_roll(key: Annotated[str, typer.Argument(help="key id or prefix (see keys list)")],
              data_dir: Annotated[Path, typer.Option()] = Path("inkwitness-data"),
              database_url: Annotated[Optional[str], typer.Option()] = None) -> None:
    """Replace a key by a new secret (printed once); the old key stops working at once."""
    secret, _ = _repo(data_dir, database_url).roll_key(key, None, any_tenant=True, actor="cli")
    console.print(secret, highlight=False)


def keys_rotate_storage(data_dir: Annotated[Path, typer.Option()] = Path("inkwitness-data"),
                        database_url: Annotated[Optional[str], typer.Option()] = None,
                        batch_size: Annotated[int, typer.Option(help="rows re-encrypted per transaction")] = 500,
                        grace_seconds: Annotated[float, typer.Option(help="wait after the switch before the old "
                                                                     "key is retired (running workers re-read the "
                                                                     "keyring within a second)")] = 30.0) -> None:
    """Rotate the storage key: a new key seals from now on, every row is re-encrypted under it, the old key retires.

    Safe while the service runs; an interrupted run is resumed by running it again.
    """
    from .evidence.context import EvidenceContext
    from .service.custody import rotate
    from .service.settings import Settings

    if batch_size < 1 or grace_seconds < 0:
        raise CliError("--batch-size must be at least 1 and --grace-seconds not negative")
    if not data_dir.is_dir():
        raise CliError(f"data directory {data_dir} does not exist")
    evidence = EvidenceContext(data_dir, database_url)
    report = rotate(Settings(data_dir=data_dir, database_url=database_url), evidence.sessions, batch_size,
                    grace_seconds, announce=lambda line: console.print(line, highlight=False))
    console.print(f"storage key version {report.version} seals new data; re-encrypted {report.rows} rows "
                  f"({report.signatures} signatures, {report.finger_enrolments} finger enrolments) and "
                  f"{report.ceremony_files} signing-request files", highlight=False)
    retired = ", ".join(report.retired) or "none"
    console.print(f"retired key version(s): {retired}; key versions left: {len(report.versions_left)} "
                  f"({', '.join(report.versions_left)})", highlight=False)


def requests_purge(data_dir: Annotated[Path, typer.Option(help="data directory")] = Path("inkwitness-data"),
                   older_than_days: Annotated[Optional[float], typer.Option(
                       min=0, help="keep ended requests this many days (default: INKWITNESS_REQUEST_RETENTION_DAYS, "
                       "else 30)")] = None,
                   dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would go")] = False) -> None:
    """Delete signing requests ended (signed, typed, declined or expired) longer ago than the retention.

    Their document, sealed copy and link go; the log entries and sealed evidence stay.
    """
    from .service.ceremony.store import purge_requests
    from .service.settings import Settings

    retention = Settings(data_dir=data_dir, request_retention_days=older_than_days).request_retention()
    gone = purge_requests(data_dir / "ceremony", retention, dry_run=dry_run)
    for request_id in gone:
        console.print(request_id, highlight=False)
    err_console.print(f"{len(gone)} signing request(s) {'would be ' if dry_run else ''}purged "
                      f"(ended more than {retention.total_seconds() / 86400:g} days ago)", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach the service commands."""
    app.command("serve")(serve)
    keys = typer.Typer(help="API keys.", no_args_is_help=True)
    keys.command("create")(keys_create)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)
    keys.command("roll")(keys_roll)
    keys.command("rotate-storage")(keys_rotate_storage)
    app.add_typer(keys, name="keys")
    requests = typer.Typer(help="Signing requests of the ceremony.", no_args_is_help=True)
    requests.command("purge")(requests_purge)
    app.add_typer(requests, name="requests")
