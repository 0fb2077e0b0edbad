"""The capture defects the ceremony's issue names that tests/test_browser.py does not reach, in Chromium.

Rotations and resizes during a signature, the physical scale, pressure-weighted ink for display
only, the clock after Clear, and on the signer's page: the size warning and refusal, progress
while sending, and the accessible structure (headings, announced prompts, zoom, the typed name's
stated reduced value).
"""

from __future__ import annotations

import time

import httpx
import pytest

from .test_browser import PHONE, browser, console, pad_box, pen_signature, server  # noqa: F401
from .test_ceremony_browser import LOCALE, agreement_pdf

pytestmark = pytest.mark.slow


def _pen_line(pg, cdp, y_frac: float, force: float, t0: float) -> None:
    """A straight pen stroke across the pad at ``y_frac`` of its height, at constant pressure."""
    ox, oy, w, h = pad_box(pg)
    n = 30
    for i in range(n):
        kind = "mousePressed" if i == 0 else "mouseReleased" if i == n - 1 else "mouseMoved"
        cdp.send("Input.dispatchMouseEvent", {
            "type": kind, "x": ox + w * (0.1 + 0.8 * i / (n - 1)), "y": oy + h * y_frac, "pointerType": "pen",
            "button": "none" if kind == "mouseMoved" else "left", "buttons": 0 if kind == "mouseReleased" else 1,
            "clickCount": 0 if kind == "mouseMoved" else 1, "force": 0 if kind == "mouseReleased" else force,
            "timestamp": t0 + i * 0.008})


INK_THICKNESS = """(yFrac) => {
  const c = document.getElementById('pad'); const ctx = c.getContext('2d');
  const x = Math.round(c.width / 2), y = Math.round(c.height * yFrac), band = Math.round(c.height * 0.2);
  const d = ctx.getImageData(x, y - band, 1, 2 * band).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] / 255;   // ink coverage across the line
  return n / (window.devicePixelRatio || 1);
}"""


def test_pressure_weights_the_ink_on_screen_only(console):
    page = console
    cdp = page.context.new_cdp_session(page)
    t0 = time.time()
    _pen_line(page, cdp, 0.3, 0.05, t0)
    _pen_line(page, cdp, 0.7, 1.0, t0 + 0.5)
    light, heavy = page.evaluate(INK_THICKNESS, 0.3), page.evaluate(INK_THICKNESS, 0.7)
    # Widths 0.9 + 2.5 p px (antialiased, segments overlapping at their joins): measured 2.2 and 3.7.
    assert light > 0.5 and heavy > 1.5 * light, (light, heavy)
    # The packet keeps the raw samples: the pressures as reported, positions unsmoothed.
    packet = page.evaluate("window.inkwitnessPad.packet()")
    a, b = (s for s in packet["strokes"] if s["pen"] == "down")
    assert a["pressure"] == pytest.approx([0.05] * len(a["t"]), abs=1e-3)
    assert b["pressure"] == pytest.approx([1.0] * len(b["t"]), abs=1e-3)
    assert len(set(round(y, 3) for y in a["y"])) == 1 and len(a["t"]) == 29
    # The same packet shown again (fromData) draws the same widths from the same raw samples.
    page.evaluate("() => { const p = window.inkwitnessPad; p.fromData(p.packet()); }")
    assert page.evaluate(INK_THICKNESS, 0.7) == pytest.approx(heavy, abs=1)


def test_physical_scale_only_where_the_platform_tells_it(console):
    page = console
    cdp = page.context.new_cdp_session(page)
    pen_signature(page, cdp, n=20)
    unknown = page.evaluate("window.inkwitnessPad.packet()")
    assert "units_per_mm" not in unknown["device"] and unknown["capture"]["extra"]["units"] == "css-px (scale unknown)"
    measured = page.evaluate("""async () => { const { SignaturePad } = await import('/static/capture.js');
        const c = document.createElement('canvas'); c.style.cssText = 'width:300px;height:100px'; document.body.append(c);
        const pad = new SignaturePad(c, { unitsPerMm: 3.78 }); const r = c.getBoundingClientRect();
        const ev = (type, x, p) => c.dispatchEvent(new PointerEvent(type, {pointerId: 9, pointerType: 'pen', isPrimary: true,
            buttons: type === 'pointerup' ? 0 : 1, pressure: p, clientX: r.left + x, clientY: r.top + 50}));
        ev('pointerdown', 10, 0.3); for (let x = 20; x < 200; x += 10) ev('pointermove', x, 0.3 + x / 1000); ev('pointerup', 200, 0);
        const packet = pad.packet(); c.remove(); return packet; }""")
    assert measured["device"]["units_per_mm"] == 3.78 and measured["capture"]["extra"]["units"] == "mm-scaled"


def test_rotations_and_resizes_during_a_signature_are_recorded(console):
    page = console
    cdp = page.context.new_cdp_session(page)
    t0 = time.time()
    pen_signature(page, cdp, n=20, t0=t0)
    time.sleep(0.3)  # the strokes' stamped times (7 ms apart) run ahead of the injection
    before = page.evaluate("() => document.getElementById('pad').getBoundingClientRect().width")
    page.set_viewport_size({"width": 360, "height": 900})
    page.wait_for_function(f"() => document.getElementById('pad').getBoundingClientRect().width < {before - 1}",
                           timeout=5000)
    time.sleep(0.3)
    pen_signature(page, cdp, n=20, seed=1, t0=time.time())
    time.sleep(0.3)
    # A half turn of a tablet: the screen's angle changes, the size does not.
    cdp.send("Emulation.setDeviceMetricsOverride", {"width": 360, "height": 900, "deviceScaleFactor": 1, "mobile": False,
                                                    "screenOrientation": {"type": "landscapePrimary", "angle": 90}})
    page.wait_for_function("() => screen.orientation.angle === 90", timeout=5000)
    time.sleep(0.3)
    pen_signature(page, cdp, n=20, seed=2, t0=time.time())
    packet = page.evaluate("window.inkwitnessPad.packet()")
    extra = packet["capture"]["extra"]
    assert extra["pad"]["width"] == pytest.approx(before, abs=0.01) and extra["pad"]["angle"] == 0
    resizes = extra["resizes"]
    assert resizes[0]["width"] < before - 1 and resizes[0]["angle"] == 0 and resizes[-1]["angle"] == 90
    # Each change is timed on the samples' clock: after the stroke before it, before the one after it.
    down = [s for s in packet["strokes"] if s["pen"] == "down"]
    assert down[0]["t"][-1] <= resizes[0]["t"] <= down[1]["t"][0]
    assert down[1]["t"][-1] <= resizes[-1]["t"] <= down[2]["t"][0]
    # A new signature starts with the pad as it is now and no changes.
    page.click("#clear")
    pen_signature(page, cdp, n=20, seed=3, t0=time.time())
    extra = page.evaluate("window.inkwitnessPad.packet()")["capture"]["extra"]
    assert extra["pad"]["angle"] == 90 and "resizes" not in extra


def test_the_consoles_feature_names_are_the_reports(console):
    from inkwitness.features.globalfeatures import FEATURE_NAMES
    from inkwitness.report.text import feature_label

    labels = console.evaluate("async () => (await import('/static/features.js')).FEATURE_LABELS")
    for lang in ("en", "zh"):
        assert labels[lang] == {name: feature_label(name, lang) for name in FEATURE_NAMES}, lang


def test_clear_restarts_the_clock(console):
    page = console
    cdp = page.context.new_cdp_session(page)
    pen_signature(page, cdp, n=20)
    page.click("#clear")
    time.sleep(0.3)
    pen_signature(page, cdp, n=20, seed=2)
    packet = page.evaluate("window.inkwitnessPad.packet()")
    assert len(packet["strokes"]) == 1 and packet["strokes"][0]["t"][0] == 0


# --- the signer's page ----------------------------------------------------------------------------
def _link(server) -> str:  # noqa: F811
    """A signing request for a two-page PDF, made through the API (the console's part is tested elsewhere)."""
    auth = {"authorization": f"Bearer {server.key}"}
    with httpx.Client(base_url=server.base, headers=auth, timeout=30) as http:
        subject = http.post("/v1/subjects", json={"display_name": "Li Wei"}).raise_for_status().json()["id"]
        made = http.post("/v1/documents/requests", files={"file": ("form.pdf", agreement_pdf(), "application/pdf")},
                         data={"subject_id": subject, "requester": "Example Bank", "reason": "Account opening",
                               "signer_name": "Li Wei", "box": "340,112,540,172"})
        return made.raise_for_status().json()["url"]


def _signer(browser, server, lang: str):  # noqa: F811
    ctx = browser.new_context(**PHONE, locale=LOCALE[lang])
    pg = ctx.new_page()
    pg.goto(_link(server))
    pg.wait_for_function("() => window.inkwitnessInfo !== undefined")
    return ctx, pg


OUTLINE = """() => [...document.querySelectorAll('h1, h2')].filter((h) => h.closest('[hidden]') === null)
  .map((h) => [h.tagName, h.textContent.trim()])"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_signer_page_structure_prompts_zoom_and_typed_name(browser, server, lang):  # noqa: F811
    ctx, sp = _signer(browser, server, lang)
    outline = sp.evaluate(OUTLINE)
    # One h1, then a heading for each step on screen: intro, document, consent, signing.
    assert outline[0][0] == "H1" and [h[0] for h in outline[1:]] == ["H2"] * 4 and all(h[1] for h in outline)
    if lang == "zh":
        assert not any(any("a" <= ch.lower() <= "z" for ch in text) for _, text in outline), outline
    assert sp.get_attribute("#live", "aria-live") == "polite" and sp.get_attribute("#alert", "role") == "alert"
    viewport = sp.evaluate("() => document.querySelector('meta[name=viewport]').content")
    assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport
    # The document viewer is reachable by keyboard; the pad and every control are named.
    assert sp.get_attribute("#pages", "tabindex") == "0"
    assert sp.evaluate("() => document.getElementById('pad').getAttribute('aria-label')")
    # Drawing before consenting is announced as an alert; consenting announces the prompt.
    sp.locator("#pad").scroll_into_view_if_needed()
    box = sp.locator("#pad").bounding_box()
    sp.touchscreen.tap(box["x"] + 20, box["y"] + 20)
    sp.wait_for_selector("#alert", state="visible")
    sp.check("#consent-ok")
    sp.wait_for_function("() => document.getElementById('live').textContent.length > 0")
    assert sp.inner_text("#live") == sp.inner_text("#prompt") and sp.locator("#alert").is_hidden()
    # The typed-name alternative states its reduced evidential value before the name is asked.
    sp.click("#typed-open")
    notice = sp.inner_text("#typed-notice")
    assert ("less weight as evidence" in notice) if lang == "en" else ("证据的效力低于手写签名" in notice)
    before = sp.evaluate("() => !!(document.getElementById('typed-notice').compareDocumentPosition("
                         "document.getElementById('typed-name')) & Node.DOCUMENT_POSITION_FOLLOWING)")
    assert before and sp.evaluate("() => document.activeElement.id") == "typed-name"
    sp.fill("#typed-name", "Li Wei")
    sp.click("#typed-submit")
    sp.wait_for_selector("#outcome", state="visible")
    # The outcome is a focused heading (announced), not a toast.
    assert sp.evaluate("() => document.activeElement.id") == "h-outcome"
    ctx.close()


def test_signer_page_warns_refuses_a_too_long_signature_and_shows_progress(browser, server):  # noqa: F811
    ctx, sp = _signer(browser, server, "en")
    sp.check("#consent-ok")
    # A signature near the page's share of the 2 MB request limit: warned at 80 %, refused at 100 %.
    grow = """(target) => { const pad = window.inkwitnessPad;
        const make = (n) => { const t = [...Array(n).keys()];
          return {device: {kind: 'pen'}, strokes: [{pen: 'down', t, x: t.map((i) => 100 + 50 * Math.sin(i / 9)),
                  y: t.map((i) => 60 + 30 * Math.cos(i / 7)), pressure: t.map((i) => 0.3 + (i % 7) / 10)}]}; };
        let n = 20000; pad.fromData(make(n));
        const budget = Math.floor(2 * 1024 * 1024 * 0.95) - 2048;
        n = Math.round(n * target / (pad.bytes() / budget)); pad.fromData(make(n));
        return pad.bytes() / budget; }"""
    assert 0.8 <= sp.evaluate(grow, 0.9) < 1
    assert "getting very long" in sp.inner_text("#alert")
    assert sp.evaluate(grow, 1.1) >= 1
    assert "too long to send" in sp.inner_text("#alert")
    sp.click("#review")
    assert sp.evaluate("() => window.inkwitnessKept.length") == 0 and sp.locator("#reviewing").is_hidden()
    sp.click("#clear")
    assert sp.locator("#alert").is_hidden()
    # A normal signature; while it is being sent the page shows progress and the buttons wait.
    cdp = ctx.new_cdp_session(sp)
    pen_signature(sp, cdp, n=60, seed=4)
    sp.click("#review")
    sp.wait_for_selector("#reviewing", state="visible")
    # The review step's heading takes the focus (announced), and is not repeated on the live line.
    assert sp.evaluate("() => document.activeElement.id") == "h-review" and sp.inner_text("#live") == ""
    sp.route("**/sign", lambda route: None)  # never answered
    sp.click("#confirm")
    sp.wait_for_selector("#progress", state="visible")
    assert sp.get_attribute("#reviewing", "aria-busy") == "true"
    assert sp.locator("#confirm").is_disabled() and sp.locator("#decline").is_disabled()
    assert sp.inner_text("#live")  # "Sending…" is announced
    ctx.close()
