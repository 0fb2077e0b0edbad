"""examples/embed in Chromium: another origin imports capture.js and posts a signature, under the service's CORS."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from .conftest import synthetic_signature
from .service_fixtures import free_port, serving
from .test_browser import CHROMIUM, browser, pen_signature  # noqa: F401

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).parent.parent / "examples" / "embed"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture(scope="module")
def origins():
    """Two local origins serving examples/embed: the first is allowed by the service, the second is not."""
    servers = []
    for _ in range(2):
        httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(_Quiet, directory=str(EXAMPLE)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
    yield [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def service(tmp_path_factory, origins):
    """The service (no sealing needed) allowing the first origin, and an operator key of a shop's tenant."""

    from inkwitness.service.app import create_app
    from inkwitness.service.settings import Settings

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("embed"), public_url=base, cors_origins=origins[:1]))
    repo = app.state.ops.repo
    key = repo.create_api_key(repo.ensure_tenant("shop"), "shop backend", ["operator"])
    with serving(app, port):
        yield base, {"Authorization": f"Bearer {key}"}


def _session(base: str, auth: dict) -> dict:
    """What the shop's backend does: a subject with an enrolment, and a single-use verify link."""
    with httpx.Client(base_url=base, headers=auth, timeout=30) as api:
        sid = api.post("/v1/subjects", json={"display_name": "Shopper"}).json()["id"]
        refs = [synthetic_signature(seed).to_dict() for seed in range(5)]
        assert api.post(f"/v1/subjects/{sid}/enrolments", json={"references": refs}).status_code == 201
        r = api.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "verify"})
        assert r.status_code == 201, r.text
        return r.json()


def test_another_origin_embeds_capture_and_posts_a_signature(browser, service, origins):  # noqa: F811
    from inkwitness.service.messages import ZH

    base, auth = service
    session = _session(base, auth)
    ctx = browser.new_context(viewport={"width": 800, "height": 700}, locale="en-US")
    pg = ctx.new_page()
    pg.goto(f"{origins[0]}/index.html?service={base}&token={session['token']}&lang=zh")
    pg.wait_for_function("() => window.embed && window.embed.state !== 'loading'", timeout=15_000)
    assert pg.evaluate("window.embed.state") == "ready", pg.evaluate("window.embed")
    cdp = ctx.new_cdp_session(pg)
    pen_signature(pg, cdp, n=70, seed=1)
    pg.click("#send")
    pg.wait_for_function("() => ['sent', 'error'].includes(window.embed.state)", timeout=30_000)
    assert pg.evaluate("window.embed.state") == "sent", pg.evaluate("window.embed")
    assert pg.evaluate("window.embed.result.decision") in ("genuine", "forgery")
    with httpx.Client(base_url=base, headers=auth) as api:
        assert api.get(f"/v1/signing-sessions/{session['id']}").json()["state"] == "used"
    # The link works once: a second visit gets the service's refusal, in the page's language.
    again = ctx.new_page()
    again.goto(f"{origins[0]}/index.html?service={base}&token={session['token']}&lang=zh")
    again.wait_for_function("() => window.embed && window.embed.state === 'error'", timeout=15_000)
    error = again.evaluate("window.embed.error")
    assert error["status"] == 410 and error["message"] == ZH[error["code"]]
    assert again.text_content("#status") == ZH[error["code"]]
    ctx.close()


def test_an_origin_the_service_does_not_allow_is_refused(browser, service, origins):  # noqa: F811
    base, auth = service
    session = _session(base, auth)
    ctx = browser.new_context(locale="en-US")
    pg = ctx.new_page()
    pg.goto(f"{origins[1]}/index.html?service={base}&token={session['token']}")
    pg.wait_for_function("() => window.embed && window.embed.state !== 'loading'", timeout=15_000)
    assert pg.evaluate("window.embed.state") == "refused"
    assert "INKWITNESS_CORS_ORIGINS" in pg.text_content("#status")
    # Not the import alone: the API itself is unreadable from this origin.
    refused = pg.evaluate("""async (url) => {
        try { await fetch(url); return "read"; } catch (e) { return "refused"; } }""",
                          f"{base}/v1/capture/{session['token']}")
    assert refused == "refused"
    with httpx.Client(base_url=base, headers=auth) as api:
        assert api.get(f"/v1/signing-sessions/{session['id']}").json()["state"] == "open"
    ctx.close()
