"""Service fixtures: an app on SQLite or on a real PostgreSQL database, with keys for two tenants."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inkwitness.service.app import create_app
from inkwitness.service.settings import Settings

PG_HOST, PG_PORT, PG_USER, PG_DB = "127.0.0.1", 5432, "postgres", "test"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, port: int, database_url: str | None = None) -> subprocess.Popen:
    """``inkwitness serve`` in a subprocess, returned once /healthz answers."""
    import sys
    import time

    import httpx

    exe = Path(sys.executable).parent / "inkwitness"
    extra = ["--database-url", database_url] if database_url else []
    proc = subprocess.Popen([str(exe), "serve", "--data-dir", str(data), "--port", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _throwaway_cluster(tmp: Path) -> tuple[str, subprocess.Popen] | None:
    """Start a private PostgreSQL if its binaries exist (and we may run them); None otherwise."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) if Path("/usr/lib/postgresql").exists() else []
    initdb = shutil.which("initdb") or (str(candidates[-1]) if candidates else None)
    if not initdb or not shutil.which("runuser"):
        return None
    bindir = Path(initdb).parent
    data = tmp / "pgdata"
    data.mkdir()
    shutil.chown(tmp, "postgres")
    shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(["runuser", "-u", "postgres", "--", str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    proc = subprocess.Popen(["runuser", "-u", "postgres", "--", str(bindir / "postgres"), "-D", str(data), "-p",
                             str(port), "-k", str(tmp), "-h", "127.0.0.1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        if _port_open("127.0.0.1", port):
            return f"postgresql://postgres@127.0.0.1:{port}/postgres", proc
        proc.poll()
        time.sleep(0.1)
    proc.kill()
    return None


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterator[str]:
    """A PostgreSQL URL: the machine's server, else a throwaway cluster, else skip."""
    if _port_open(PG_HOST, PG_PORT):
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"
        return
    started = None
    try:
        started = _throwaway_cluster(tmp_path_factory.mktemp("pg"))
    except (OSError, subprocess.CalledProcessError, LookupError):
        started = None
    if started is None:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 and no PostgreSQL binaries to start one")
    url, proc = started
    yield url
    proc.terminate()


def new_database(admin: str, prefix: str = "inkwitness") -> tuple[str, Callable[[], None]]:
    """A fresh, empty database on the server of ``admin`` (a URL): its URL and a function that drops it."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return admin.rsplit("/", 1)[0] + f"/{name}", drop


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    url, drop = new_database(postgres_server)
    yield url
    drop()


@dataclass
class Service:
    """A running app with an admin, operator and capture key in tenant A, an operator and an admin in
    tenant B, and a platform-operator key."""

    client: TestClient
    settings: Settings
    admin: dict[str, str]
    operator: dict[str, str]
    capture: dict[str, str]
    other: dict[str, str]
    other_admin: dict[str, str]
    platform: dict[str, str]
    tenant_a: str
    tenant_b: str


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request, tmp_path) -> Iterator[Service]:
    """The app on each backend."""
    yield from running_service(request, tmp_path, max_body_bytes=512 * 1024)


def running_service(request, tmp_path: Path, **settings_overrides) -> Iterator[Service]:
    """Build the app on the backend named by ``request.param`` with two tenants' keys, and run it."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    settings = Settings(data_dir=tmp_path / "data", database_url=url, public_url="http://testserver",
                        **settings_overrides)
    app = create_app(settings)
    repo = app.state.ops.repo
    tenant_a, tenant_b = repo.ensure_tenant("bank-a"), repo.ensure_tenant("bank-b")
    with TestClient(app) as client:
        yield Service(client, settings, _auth(repo.create_api_key(tenant_a, "admin", ["admin"])),
                      _auth(repo.create_api_key(tenant_a, "clerk", ["operator"])),
                      _auth(repo.create_api_key(tenant_a, "pad", ["capture"])),
                      _auth(repo.create_api_key(tenant_b, "clerk", ["operator"])),
                      _auth(repo.create_api_key(tenant_b, "admin", ["admin"])),
                      _auth(repo.create_api_key(None, "platform", ["platform"])), tenant_a, tenant_b)


@contextmanager
def serving(app, port: int) -> Iterator[None]:  # noqa: ANN001 - a FastAPI app
    """Run ``app`` with uvicorn on 127.0.0.1:``port`` in a thread until the block ends."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        thread.join(10)
