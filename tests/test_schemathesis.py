"""Property-based API testing from the OpenAPI spec: no request, however odd, gets a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from inkwitness.service.app import create_app
from inkwitness.service.settings import Settings

from .conftest import synthetic_signature

_tmp = Path(tempfile.mkdtemp(prefix="inkwitness-schemathesis-"))
app = create_app(Settings(data_dir=_tmp, max_body_bytes=256 * 1024))
_repo = app.state.ops.repo
_tenant = _repo.ensure_tenant("fuzz")
KEY = _repo.create_api_key(_tenant, "fuzz", ["admin"])
_subject = _repo.create_subject(_tenant, "fuzz-subject", None)
app.state.ops.enrol(_tenant, _subject.id, [synthetic_signature(s) for s in range(5)])

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    # Known ids give the fuzzer a chance to reach past the 404s.
    if case.path_parameters and "subject_id" in case.path_parameters and hash(str(case.body)) % 2:
        case.path_parameters["subject_id"] = _subject.id
    response = case.call(headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", "")
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/json"), (case.formatted_path, content_type)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_without_credentials(case):
    response = case.call()
    assert response.status_code < 500
