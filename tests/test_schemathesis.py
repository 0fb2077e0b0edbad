"""Property-based API testing from the OpenAPI spec: no request, however odd, gets a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from inkwitness.service.app import create_app
from inkwitness.service.settings import Settings

from .conftest import synthetic_signature
from .service_fixtures import PG_DB, PG_HOST, PG_PORT, PG_USER, _port_open, new_database

def _fuzz_target(database_url: str | None) -> tuple[object, str, str]:
    """An app with one tenant, an admin key and an enrolled subject: (app, key, subject id)."""
    target = create_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="inkwitness-schemathesis-")),
                                 database_url=database_url, max_body_bytes=256 * 1024,
                                 # Built while pytest collects, beside other workers: no time budget here.
                                 verify_cpu_budget_seconds=0))
    repo = target.state.ops.repo
    tenant = repo.ensure_tenant("fuzz")
    key = repo.create_api_key(tenant, "fuzz", ["admin"])
    subject = repo.create_subject(tenant, "fuzz-subject", None)
    target.state.ops.enrol(tenant, subject.id, [synthetic_signature(s) for s in range(5)])
    return target, key, subject.id


def _postgres_database() -> str | None:
    """A fresh database on the machine's PostgreSQL (dropped at exit), or None without one."""
    if not _port_open(PG_HOST, PG_PORT):
        return None
    import atexit

    url, drop = new_database(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}", "inkwitness_fuzz")
    atexit.register(drop)
    return url

app, KEY, _SUBJECT = _fuzz_target(None)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
_PG_URL = _postgres_database()
if _PG_URL:
    pg_app, PG_KEY, _PG_SUBJECT = _fuzz_target(_PG_URL)
    pg_schema = schemathesis.openapi.from_asgi("/openapi.json", pg_app)
else:  # the same schema, so that the PostgreSQL variants collect and then skip with a reason
    pg_schema, PG_KEY, _PG_SUBJECT = schema, KEY, _SUBJECT


def _check(case, key: str, subject_id: str) -> None:
    # Known ids give the fuzzer a chance to reach past the 404s.
    if case.path_parameters and "subject_id" in case.path_parameters and hash(str(case.body)) % 2:
        case.path_parameters["subject_id"] = subject_id
    response = case.call(headers={"Authorization": f"Bearer {key}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", "")
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/json"), (case.formatted_path, content_type)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    _check(case, KEY, _SUBJECT)


@pg_schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_on_postgresql(case):
    if not _PG_URL:
        pytest.skip(f"no PostgreSQL on {PG_HOST}:{PG_PORT}")
    _check(case, PG_KEY, _PG_SUBJECT)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_without_credentials(case):
    response = case.call()
    assert response.status_code < 500
