"""The signing ceremony end to end in Chromium: the clerk on a desktop, the signer on a phone, in zh-CN and en.

Set INKWITNESS_SCREENSHOTS=1 to write the pages' screenshots into docs/.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .test_browser import DESKTOP, PHONE, browser, pen_signature, real_pen_samples, replay_pen, server  # noqa: F401

pytestmark = pytest.mark.slow
DOCS = Path(__file__).parent.parent / "docs"
TEXT = {
    "en": {"title": "Signature request", "console": "Clerk console", "signed": "Signed — you can download your copy.",
           "status_signed": "Status: signed", "declined": "You declined to sign. The sender has been told.",
           "name": "Li Wei", "requester": "Example Bank, Riverside branch", "reason": "Opening a savings account"},
    "zh": {"title": "签名请求", "console": "柜员控制台", "signed": "已签署 — 您可以下载您的副本。",
           "status_signed": "状态：已签署", "declined": "您已拒绝签署，发件人已收到通知。",
           "name": "李伟", "requester": "示例银行 河滨支行", "reason": "开立储蓄账户"},
}
LOCALE = {"en": "en-US", "zh": "zh-CN"}


def sign_real(pg, cdp, k: int) -> None:
    """Writer 1's k-th genuine signature of SVC2004 (real pen samples), replayed; a synthetic pen stroke without the data."""
    sig = real_pen_samples(f"U1S{k}")
    if sig is None:
        pen_signature(pg, cdp, n=70, seed=k)
    else:
        replay_pen(pg, cdp, sig)


def agreement_pdf() -> bytes:
    """A two-page account-opening form with a signature line at the bottom right of page 2."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    for page in (1, 2):
        c.setFont("Helvetica-Bold", 18)
        c.drawString(72, 770, "Savings account opening form" if page == 1 else "Terms and signature")
        c.setFont("Helvetica", 11)
        for i in range(22 if page == 1 else 12):
            c.drawString(72, 730 - 22 * i, f"{page}.{i + 1}  The customer agrees to the terms of clause {page}.{i + 1} "
                                            "as set out by the bank.")
        if page == 2:
            c.line(340, 110, 540, 110)
            c.drawString(340, 96, "Customer's signature")
        c.showPage()
    c.save()
    return buf.getvalue()


def shoot(pg, name: str, tmp: Path) -> None:
    """A viewport screenshot: into docs/ when asked, else a scratch folder."""
    folder = DOCS if os.environ.get("INKWITNESS_SCREENSHOTS") else tmp
    pg.wait_for_function("() => [...document.images].every((i) => i.complete)")
    path = folder / f"{name}.png"
    pg.screenshot(path=str(path), scale="css")
    if folder == DOCS:  # a 128-colour palette keeps the committed images small
        from PIL import Image

        Image.open(path).convert("RGB").quantize(colors=128).save(path, optimize=True)


def _console(browser, server, lang: str, viewport: dict):  # noqa: F811
    ctx = browser.new_context(**viewport, locale=LOCALE[lang], accept_downloads=True)
    pg = ctx.new_page()
    pg.goto(server.base + "/")
    pg.fill("#api-key", server.key)
    pg.dispatch_event("#api-key", "change")
    return ctx, pg


def _create_request(con, tmp_path: Path, lang: str, enrol: bool = True) -> str:
    t = TEXT[lang]
    con.fill("#subject-name", t["name"])
    con.click("#new-subject")
    con.wait_for_function("() => document.getElementById('subject').value.length > 0")
    if enrol:
        con.select_option("#mode", "enrol")
        cdp = con.context.new_cdp_session(con)
        for k in range(1, 6):
            sign_real(con, cdp, k)
            con.click("#submit")
        con.wait_for_function("() => window.inkwitnessLastResult && window.inkwitnessLastResult.references",
                              timeout=60_000)
    pdf = tmp_path / "account-opening.pdf"
    pdf.write_bytes(agreement_pdf())
    con.set_input_files("#req-file", str(pdf))
    # The file picker speaks the page's language (the browser's own button would not): the name replaces it.
    assert con.inner_text("#req-file-name") == "account-opening.pdf"
    con.wait_for_function("() => document.getElementById('req-page').value !== ''")  # the preview is in: last page
    con.fill("#req-requester", t["requester"])
    con.fill("#req-reason", t["reason"])
    con.fill("#req-signer", t["name"])
    con.fill("#req-box", "340,112,540,172")
    con.click("#req-create")
    con.wait_for_function("() => document.getElementById('req-link').textContent.startsWith('http')", timeout=30_000)
    con.wait_for_function("() => document.getElementById('req-page-img').complete && "
                          "document.getElementById('req-page-img').naturalWidth > 0")
    return con.inner_text("#req-link")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sign_a_document_on_a_phone_while_the_clerk_watches(browser, server, lang, tmp_path):  # noqa: F811
    t = TEXT[lang]
    desk, con = _console(browser, server, lang, DESKTOP)
    assert con.inner_text("h1") == t["console"]
    url = _create_request(con, tmp_path, lang)
    assert con.evaluate("() => document.documentElement.lang") == LOCALE[lang].replace("en-US", "en")

    # The same link on a desktop (for the screenshot only; viewing does not use it up).
    view = desk.new_page()
    view.goto(url)
    view.wait_for_function("() => document.querySelector('#pages img') && document.querySelector('#pages img').complete")
    shoot(view, f"ceremony-sign-desktop-{lang}", tmp_path)
    view.close()

    phone = browser.new_context(**PHONE, locale=LOCALE[lang], accept_downloads=True)
    sp = phone.new_page()
    sp.goto(url)
    sp.wait_for_function("() => window.inkwitnessInfo !== undefined")
    assert sp.inner_text("h1") == t["title"]
    assert t["requester"] in sp.inner_text("#who") and t["reason"] in sp.inner_text("#why")
    assert sp.locator(".field").count() == 1 and sp.locator(".page").count() == 2
    viewport = sp.evaluate("() => document.querySelector('meta[name=viewport]').content")
    assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport
    shoot(sp, f"ceremony-sign-phone-{lang}", tmp_path)
    # The signing box has the field's shape (200 x 60 pt) and fits the phone's width.
    box = sp.locator("#pad").bounding_box()
    assert abs(box["width"] / box["height"] - 200 / 60) < 0.05 and box["width"] <= 390
    sp.check("#consent-ok")
    cdp = phone.new_cdp_session(sp)
    sign_real(sp, cdp, 6)   # the same writer's sixth signature, replayed sample by sample
    sp.evaluate("() => document.getElementById('leave').scrollIntoView({block: 'end'})")
    shoot(sp, f"ceremony-signing-phone-{lang}", tmp_path)
    sp.click("#review")
    sp.wait_for_selector("#reviewing", state="visible")
    shoot(sp, f"ceremony-review-phone-{lang}", tmp_path)
    # First try offline: the signature is kept and the signer may try again.
    sp.route("**/sign", lambda route: route.abort("internetdisconnected"))
    sp.click("#confirm")
    sp.wait_for_selector("#alert", state="visible")
    assert sp.evaluate("() => window.inkwitnessKept.length") == 1
    sp.unroute("**/sign")
    sp.click("#confirm")
    sp.wait_for_selector("#outcome", state="visible", timeout=60_000)
    assert sp.inner_text("#h-outcome") == t["signed"]
    page_text = sp.inner_text("body")
    assert "score" not in page_text.lower() and "forgery" not in page_text.lower()
    with sp.expect_download() as dl:
        sp.click("#download")
    assert Path(dl.value.path()).read_bytes().startswith(b"%PDF")
    shoot(sp, f"ceremony-signed-phone-{lang}", tmp_path)

    # The console learned it through its event stream, and offers the sealed PDF.
    con.wait_for_function("() => window.inkwitnessConsole.lastStatus && window.inkwitnessConsole.lastStatus.state === 'signed'",
                          timeout=30_000)
    assert con.inner_text("#req-status") == t["status_signed"]
    with con.expect_download() as dl:
        con.click("#dl-sealed")
    sealed = Path(dl.value.path()).read_bytes()
    # The sealed PDF verifies: intact, valid and trusted against the PKI, time-stamped, the handwriting bound.
    # (In a thread: pyHanko runs its own event loop, and Playwright's is running in this one.)
    from concurrent.futures import ThreadPoolExecutor

    from inkwitness.evidence.pdf import verify_pdf

    with ThreadPoolExecutor(1) as pool:
        checks = pool.submit(verify_pdf, sealed, [server.ca_cert]).result()
    assert len(checks) == 1 and checks[0].problems == [], checks
    assert checks[0].intact and checks[0].valid and checks[0].trusted and checks[0].timestamp["trusted"]
    assert checks[0].biometric, checks[0]
    # The list of recent requests follows the same stream.
    row = con.locator("#list-body tr").first
    assert t["status_signed"].split(":")[-1].split("：")[-1].strip() in row.inner_text()
    con.evaluate("() => document.getElementById('h-req').scrollIntoView()")
    # The request's section from its heading to its downloads, however many reasons the verifier gave.
    bottom = con.evaluate("() => document.getElementById('dl-sealed').getBoundingClientRect().bottom")
    if bottom + 16 > DESKTOP["viewport"]["height"]:
        con.set_viewport_size({"width": DESKTOP["viewport"]["width"], "height": int(bottom) + 24})
        con.evaluate("() => document.getElementById('h-req').scrollIntoView()")
    shoot(con, f"ceremony-console-desktop-{lang}", tmp_path)
    phone.close()
    desk.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_console_on_a_phone_and_declining(browser, server, lang, tmp_path):  # noqa: F811
    ctx, con = _console(browser, server, lang, PHONE)
    shoot(con, f"ceremony-console-phone-{lang}", tmp_path)
    assert con.inner_text("label[for=req-file].button") == {"en": "Choose a PDF…", "zh": "选择 PDF 文件…"}[lang]
    url = _create_request(con, tmp_path, lang, enrol=False)
    sp = ctx.new_page()
    sp.goto(url)
    sp.wait_for_function("() => window.inkwitnessInfo !== undefined")
    sp.click("#decline")
    sp.fill("#decline-reason", "wrong amount")
    sp.click("#decline-yes")
    sp.wait_for_selector("#outcome", state="visible")
    assert sp.inner_text("#h-outcome") == TEXT[lang]["declined"]
    con.wait_for_function("() => window.inkwitnessConsole.lastStatus && window.inkwitnessConsole.lastStatus.state === 'declined'",
                          timeout=30_000)
    ctx.close()


def _axe_source() -> str:
    """axe-core's script: AXE_CORE_JS, node_modules, or an npm install into .pytest_cache."""
    candidates = [os.environ.get("AXE_CORE_JS", ""), "node_modules/axe-core/axe.min.js"]
    cache = Path(__file__).parent.parent / ".pytest_cache" / "axe"  # git-ignored
    candidates.append(str(cache / "node_modules" / "axe-core" / "axe.min.js"))
    for c in candidates:
        if c and Path(c).exists():
            return Path(c).read_text()
    if shutil.which("npm"):
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(cache), "axe-core@4"],
                       capture_output=True, timeout=300)
        if Path(candidates[-1]).exists():
            return Path(candidates[-1]).read_text()
    pytest.skip("axe-core is not available (npm install axe-core, or set AXE_CORE_JS)")


def _serious(pg, source: str) -> list[dict]:
    if not pg.evaluate("() => typeof axe !== 'undefined'"):
        pg.add_script_tag(content=source)
    result = pg.evaluate("async () => await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
    assert len(result["passes"]) > 10  # axe really looked at the page
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_serious_accessibility_violations(browser, server, lang, tmp_path):  # noqa: F811
    source = _axe_source()
    # Playwright injects axe as an inline script: the test context alone ignores the CSP.
    ctx = browser.new_context(**DESKTOP, locale=LOCALE[lang], bypass_csp=True)
    con = ctx.new_page()
    con.goto(server.base + "/")
    con.fill("#api-key", server.key)
    con.dispatch_event("#api-key", "change")
    url = _create_request(con, tmp_path, lang, enrol=False)
    assert _serious(con, source) == []
    phone = browser.new_context(**PHONE, locale=LOCALE[lang], bypass_csp=True)
    sp = phone.new_page()
    sp.goto(url)
    sp.wait_for_function("() => window.inkwitnessInfo !== undefined")
    assert _serious(sp, source) == []
    sp.check("#consent-ok")
    assert _serious(sp, source) == []
    cdp = phone.new_cdp_session(sp)
    pen_signature(sp, cdp, n=60, seed=5)
    sp.click("#review")
    sp.wait_for_selector("#reviewing", state="visible")
    assert _serious(sp, source) == []
    sp.click("#confirm")
    sp.wait_for_selector("#outcome", state="visible", timeout=60_000)
    assert _serious(sp, source) == []
    phone.close()
    ctx.close()


def test_enrolment_link_on_a_phone_in_landscape(browser, server, tmp_path):  # noqa: F811
    ctx, con = _console(browser, server, "en", DESKTOP)
    con.click("#new-subject")
    con.wait_for_function("() => document.getElementById('subject').value.length > 0")
    con.fill("#link-requester", "Example Bank, Riverside branch")
    con.fill("#link-reason", "Your signature on file for the new card")
    con.click("#enrol-link")
    con.wait_for_function("() => document.getElementById('enrol-url').textContent.startsWith('http')")
    url = con.inner_text("#enrol-url")
    landscape = {**PHONE, "viewport": {"width": 844, "height": 390}}
    phone = browser.new_context(**landscape, locale="en-US")
    sp = phone.new_page()
    sp.goto(url)
    sp.wait_for_function("() => window.inkwitnessInfo !== undefined")
    assert "5 times" in sp.inner_text("#who") and sp.locator("#document").is_hidden()
    # A plain link says who asks and why, as a signing request does.
    assert sp.inner_text("#who").startswith("Example Bank, Riverside branch asks you to sign 5 times")
    assert sp.inner_text("#why") == "Why: Your signature on file for the new card"
    sp.check("#consent-ok")
    sp.wait_for_timeout(600)  # the smooth scroll to the signing box
    # In landscape the whole signing box is on screen once consent is given.
    box = sp.locator("#pad").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 390 and box["width"] / box["height"] == pytest.approx(3, abs=0.05)
    cdp = phone.new_cdp_session(sp)
    for seed in range(5):
        assert sp.inner_text("#prompt").startswith(f"Signature {seed + 1} of 5")
        pen_signature(sp, cdp, n=70, seed=seed)
        sp.click("#review")
    sp.wait_for_selector("#reviewing", state="visible")
    assert sp.evaluate("() => window.inkwitnessKept.length") == 5
    sp.click("#confirm")
    sp.wait_for_selector("#outcome", state="visible", timeout=60_000)
    assert sp.inner_text("#h-outcome") == "Thank you — your signatures have been received."
    # The link is used up: opening it again says so, in words.
    sp.reload()
    sp.wait_for_selector("#alert", state="visible")
    assert "expired or was already used" in sp.inner_text("#alert")
    phone.close()
    ctx.close()


def test_the_clerk_places_the_field_by_dragging_on_the_page(browser, server, tmp_path):  # noqa: F811
    ctx, con = _console(browser, server, "en", DESKTOP)
    pdf = tmp_path / "form.pdf"
    pdf.write_bytes(agreement_pdf())
    con.set_input_files("#req-file", str(pdf))
    con.wait_for_selector("#picker-box", state="visible")
    con.wait_for_function("() => document.getElementById('picker-img').naturalWidth > 0")
    assert con.input_value("#req-page") == "2"
    con.locator("#picker").scroll_into_view_if_needed()
    box = con.locator("#picker").bounding_box()
    # A4 is 595 x 842 pt: drag from (100, 700) to (300, 640) in PDF points.
    to_screen = lambda x, y: (box["x"] + x / 595.28 * box["width"], box["y"] + (841.89 - y) / 841.89 * box["height"])  # noqa: E731
    con.mouse.move(*to_screen(100, 700))
    con.mouse.down()
    con.mouse.move(*to_screen(200, 670), steps=4)
    con.mouse.move(*to_screen(300, 640), steps=4)
    con.mouse.up()
    x1, y1, x2, y2 = map(float, con.input_value("#req-box").split(","))
    assert abs(x1 - 100) <= 3 and abs(y1 - 640) <= 3 and abs(x2 - 300) <= 3 and abs(y2 - 700) <= 3
    field = con.locator("#picker-field").bounding_box()
    assert field["width"] == pytest.approx(200 / 595.28 * box["width"], abs=3)
    ctx.close()


def test_switching_language_and_agreeing_with_a_typed_name(browser, server, tmp_path):  # noqa: F811
    ctx, con = _console(browser, server, "en", DESKTOP)
    url = _create_request(con, tmp_path, "en", enrol=False)
    phone = browser.new_context(**PHONE, locale="en-GB")
    sp = phone.new_page()
    sp.goto(url)
    sp.wait_for_function("() => window.inkwitnessInfo !== undefined")
    assert sp.inner_text("h1") == "Signature request"
    sp.click("#lang")
    assert sp.inner_text("h1") == "签名请求" and sp.evaluate("() => document.documentElement.lang") == "zh-CN"
    assert "签署" in sp.inner_text("#who") and "生物特征" in sp.inner_text("#consent-text")
    sp.click("#typed-open")
    assert "证据" in sp.inner_text("#typed-notice")  # the reduced evidential value is stated first
    sp.fill("#typed-name", "Li Wei")
    with sp.expect_request(lambda r: r.url.endswith("/typed")) as sent:
        sp.click("#typed-submit")
    # The page asks in the language on screen, so the server's error messages come back in it.
    assert sent.value.headers["accept-language"].startswith("zh")
    sp.wait_for_selector("#outcome", state="visible")
    assert "键入姓名" in sp.inner_text("#h-outcome")
    con.wait_for_function("() => window.inkwitnessConsole.lastStatus && window.inkwitnessConsole.lastStatus.state === 'typed'",
                          timeout=30_000)
    # The choice is remembered for this browser.
    sp.goto(url)
    sp.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    phone.close()
    ctx.close()


def test_an_inconsistent_enrolment_signature_is_the_only_one_asked_again(browser, server):  # noqa: F811
    ctx, con = _console(browser, server, "en", DESKTOP)
    con.click("#new-subject")
    con.wait_for_function("() => document.getElementById('subject').value.length > 0")
    con.click("#enrol-link")
    con.wait_for_function("() => document.getElementById('enrol-url').textContent.startsWith('http')")
    url = con.inner_text("#enrol-url")
    phone = browser.new_context(**PHONE, locale="en-US")
    sp = phone.new_page()
    sp.goto(url)
    sp.wait_for_function("() => window.inkwitnessInfo !== undefined")
    sp.check("#consent-ok")
    cdp = phone.new_cdp_session(sp)
    for seed in range(5):
        pen_signature(sp, cdp, n=70, seed=seed)
        sp.click("#review")
    token = url.rsplit("/", 1)[1]
    refusal = {"error": "reference 3 (sha256 0123456789ab) is far from the others", "type": "EnrolmentError"}
    sp.route(f"**/v1/capture/{token}", lambda route: route.fulfill(status=422, json=refusal)
             if route.request.method == "POST" else route.continue_())
    sp.click("#confirm")
    sp.wait_for_selector("#alert", state="visible")
    assert sp.evaluate("() => window.inkwitnessKept.length") == 4
    assert sp.inner_text("#prompt").startswith("Signature 5 of 5") and "differs" in sp.inner_text("#alert")
    sp.unroute(f"**/v1/capture/{token}")
    pen_signature(sp, cdp, n=70, seed=2)
    sp.click("#review")
    sp.click("#confirm")
    sp.wait_for_selector("#outcome", state="visible", timeout=60_000)
    assert sp.evaluate("() => window.inkwitnessLastResult.references") == 5
    phone.close()
    ctx.close()
