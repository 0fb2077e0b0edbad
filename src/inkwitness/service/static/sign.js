// The signer's ceremony behind a link: who asks and why, the document, consent, signing on a
// line in a box shaped like the document's field, review, confirm (or cancel, or decline), and
// the outcome. Signatures are kept until the server accepts them; the signer never sees scores.
import { SignaturePad, InkwitnessClient, ApiError, DEFAULT_BODY_LIMIT } from "/static/capture.js";
import * as i18n from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const token = (location.pathname.match(/^\/s\/([A-Za-z0-9_-]+)$/) || [])[1] || "";
const client = new InkwitnessClient("", null, { timeoutMs: 60_000, lang: () => i18n.lang() });
const kept = [];            // signatures captured and not yet accepted by the server
let info = null;            // what the link asks for
let needed = 1;
let ratio = 3;              // width / height of the signing field
let lastMessage = null;     // [key, vars] of the live prompt, re-announced on a language switch
let lastAlert = null;

function say(key, vars = {}) { lastMessage = [key, vars]; $("live").textContent = i18n.t(key, vars); }
function alertMsg(key, vars = {}) {
  lastAlert = key ? [key, vars] : null;
  $("alert").hidden = !key;
  $("alert").textContent = key ? i18n.t(key, vars) : "";
}
function show(...ids) {
  for (const id of ["intro", "document", "consent", "signing", "typed", "reviewing", "outcome", "leave"]) $(id).hidden = !ids.includes(id);
}

const pad = new SignaturePad($("pad"), {
  onChange: () => sizeCheck(),
  onNotice: (what) => say(what === "palm-dropped" ? "pad.palm" : "pad.mixed"),
});
window.inkwitnessPad = pad;             // for integrators and browser tests
window.inkwitnessKept = kept;

function budget() { return Math.floor(DEFAULT_BODY_LIMIT * 0.95 / needed) - 2048; }
function sizeCheck() {
  const r = pad.sizeRatio(budget());
  if (r >= 1) alertMsg("pad.toolarge");
  else if (r >= 0.8) alertMsg("pad.large");
  else if (lastAlert && lastAlert[0].startsWith("pad.")) alertMsg(null);
}

function fmtTime(iso) {
  try { return new Date(iso).toLocaleString(i18n.lang() === "zh" ? "zh-CN" : "en", { dateStyle: "medium", timeStyle: "short" }); }
  catch (_) { return iso; }
}

function renderText() {
  if (!info) return;
  const doc = info.document;
  if (doc) {
    const signer = doc.signer_name || i18n.t("sign.you");
    $("who").textContent = i18n.t("sign.who", { requester: doc.requester, signer, document: doc.document_name });
    $("why").textContent = i18n.t("sign.why", { reason: doc.reason });
    $("jump").textContent = i18n.t("doc.jump", { n: doc.page });
    for (const img of document.querySelectorAll(".page img")) {
      img.alt = i18n.t("doc.page", { n: img.dataset.page, total: doc.pages.length });
    }
    for (const el of document.querySelectorAll(".field span")) el.textContent = i18n.t("doc.field");
    $("review-text").textContent = i18n.t("review.text", { document: doc.document_name });
  } else if (info.session) {
    const s = info.session;
    const key = s.purpose === "enrol" ? "sign.plain.enrol" : "sign.plain.verify";
    $("who").textContent = i18n.t(s.requester ? `${key}.by` : key, { n: needed, requester: s.requester });
    $("why").textContent = s.reason ? i18n.t("sign.why", { reason: s.reason }) : "";
    $("review-text").textContent = i18n.t("review.text.plain");
  }
  const expires = (doc && doc.expires_at) || (info.session && info.session.expires_at);
  // Once signed or declined, the link's expiry no longer matters to the signer.
  $("expires").textContent = expires && $("outcome").hidden ? i18n.t("sign.expires", { time: fmtTime(expires) }) : "";
  $("consent-text").textContent = info.consent[i18n.lang()] || info.consent.en;
  $("typed-notice").textContent = info.typed_notice[i18n.lang()] || info.typed_notice.en;
  prompt();
}

function prompt() {
  $("prompt").textContent = needed > 1 ? i18n.t("pad.prompt.n", { i: kept.length + 1, n: needed }) : i18n.t("pad.prompt");
  $("review").textContent = i18n.t(kept.length + 1 < needed ? "pad.next" : "pad.review");
}

function renderPages(doc) {
  const box = $("pages");
  box.textContent = "";
  const width = Math.min(1400, Math.round(Math.min(900, box.clientWidth || 360) * (window.devicePixelRatio || 1)));
  doc.pages.forEach(([w, h], i) => {
    const n = i + 1;
    const fig = document.createElement("div");
    fig.className = "page";
    fig.style.aspectRatio = `${w} / ${h}`;
    const img = document.createElement("img");
    img.dataset.page = String(n);
    img.loading = n === doc.page || n === 1 ? "eager" : "lazy";
    img.src = `/v1/capture/${token}/pages/${n}.png?w=${width}`;
    fig.append(img);
    if (n === doc.page) {
      fig.id = "field-page";
      const [x1, y1, x2, y2] = doc.box;
      const field = document.createElement("div");
      field.className = "field";
      Object.assign(field.style, { left: `${100 * Math.min(x1, x2) / w}%`, top: `${100 * (h - Math.max(y1, y2)) / h}%`,
                                   width: `${100 * Math.abs(x2 - x1) / w}%`, height: `${100 * Math.abs(y2 - y1) / h}%` });
      field.append(document.createElement("span"));
      fig.append(field);
    }
    box.append(fig);
  });
}

function sizePad() {
  // The box has the field's shape, as large as fits: the whole width, at most 60% of the screen's height.
  const frame = $("pad-frame");
  const maxH = Math.max(110, window.innerHeight * 0.6);
  const avail = frame.parentElement.clientWidth;
  const border = frame.offsetWidth - frame.clientWidth;   // the frame's border is not drawing area
  const w = Math.min(avail - border, maxH * ratio);
  frame.style.width = `${Math.round(w + border)}px`;
  frame.style.height = `${Math.round(w / ratio + border)}px`;
  pad.resize();
}

function consentGiven() { return $("consent-ok").checked; }
function gate() {
  $("pad-frame").classList.toggle("locked", !consentGiven());
  $("review").disabled = !consentGiven();
}

async function init() {
  i18n.setup($("lang"));
  i18n.onLang(() => { renderText(); if (lastMessage) say(...lastMessage); if (lastAlert) alertMsg(...lastAlert); });
  try {
    info = await client._call("GET", `/v1/capture/${token}/request`);
  } catch (err) {
    $("who").textContent = "";
    alertMsg(err.status === 410 || err.status === 404 ? "err.gone" : err.status <= 0 ? "err.network" : "err.gone");
    return;
  }
  window.inkwitnessInfo = info;
  if (info.signed_at) { outcome(info.document.state === "typed" ? "out.typed" : "out.signed", info.copy); return; }
  if (info.document && info.document.state === "declined") { outcome("out.declined", false); return; }
  needed = info.session ? info.session.references_needed : 1;
  const doc = info.document;
  if (doc) {
    const [x1, y1, x2, y2] = doc.box;
    ratio = Math.max(1.2, Math.min(6, Math.abs(x2 - x1) / Math.abs(y2 - y1)));
  }
  show("intro", ...(doc ? ["document"] : []), "consent", "signing", "leave");
  if (doc) renderPages(doc);
  $("typed-open").hidden = !doc;
  renderText();
  sizePad();
  gate();
}

function outcome(key, copy) {
  show("intro", "outcome");
  $("expires").textContent = "";
  $("h-outcome").textContent = i18n.t(key);
  $("h-outcome").dataset.i18n = key;
  $("download").hidden = !copy;
  if (copy) { $("download").href = `/v1/capture/${token}/copy.pdf`; $("download").setAttribute("download", "signed.pdf"); }
  $("live").textContent = "";   // the focused heading announces the outcome
  lastMessage = null;
  $("h-outcome").focus();
}

function toReview() {
  if (!consentGiven()) { alertMsg("consent.required"); $("consent-ok").focus(); return; }
  if (pad.isEmpty() || pad.points() < 10) { alertMsg("pad.empty"); return; }
  if (pad.sizeRatio(budget()) >= 1) { alertMsg("pad.toolarge"); return; }
  alertMsg(null);
  kept.push({ packet: pad.packet({ consent_lang: i18n.lang() }), png: pad.toPNG() });
  pad.clear();
  if (kept.length < needed) { prompt(); say("pad.captured", { i: kept.length, n: needed }); return; }
  $("review-img").src = kept[kept.length - 1].png;
  if (info.document) placeOnPage(info.document);
  show("intro", "reviewing", "leave");
  $("confirm").textContent = i18n.t("review.confirm");
  // The focused heading announces the step (as the outcome's does); the live line would only repeat it.
  $("h-review").tabIndex = -1;
  $("reviewing").scrollIntoView({ block: "start" });
  $("h-review").focus({ preventScroll: true });
  $("live").textContent = "";
  lastMessage = null;
}

function placeOnPage(doc) {
  // Show the signature where it will go: the field's part of the page, the ink fitted into it.
  const [w, h] = doc.pages[doc.page - 1];
  const [x1, y1, x2, y2] = doc.box;
  const fw = Math.abs(x2 - x1), fh = Math.abs(y2 - y1);
  const margin = 0.25;   // some of the page around the field, for context
  const vx = Math.min(x1, x2) - margin * fw, vw = fw * (1 + 2 * margin);
  const vtop = h - Math.max(y1, y2) - margin * fh, vh = fh * (1 + 2 * margin);
  const box = $("review-box"), page = $("review-page"), ink = $("review-img");
  box.classList.add("on-page");
  box.style.aspectRatio = `${vw} / ${vh}`;
  box.style.width = "100%";
  page.hidden = false;
  page.src = document.querySelector(`#field-page img`)?.src || "";
  Object.assign(page.style, { width: `${100 * w / vw}%`, left: `${-100 * vx / vw}%`, top: `${-100 * vtop / vh}%` });
  Object.assign(ink.style, { left: `${100 * margin / (1 + 2 * margin)}%`, top: `${100 * margin / (1 + 2 * margin)}%`,
                             width: `${100 / (1 + 2 * margin)}%`, height: `${100 / (1 + 2 * margin)}%` });
}

function explain(err) {
  if (!(err instanceof ApiError)) return ["err.network"];
  if (err.status === 0) return ["err.network"];
  if (err.status === -1) return ["err.timeout"];
  if (err.status === 413) return ["err.toolarge"];
  if (err.status === 410 || err.status === 404) return ["err.gone"];
  if (err.status === 422 && err.body && err.body.type === "EnrolmentError") return ["err.enrol", { detail: err.localized }];
  if (err.status === 422) return ["err.invalid", { detail: err.localized }];
  return ["err.server", { status: err.status }];
}

async function confirm() {
  const busy = [$("confirm"), $("change"), $("cancel"), $("decline")];
  busy.forEach((b) => { b.disabled = true; });
  $("progress").hidden = false;
  $("reviewing").setAttribute("aria-busy", "true");
  alertMsg(null);
  say("send.busy");
  try {
    const packets = kept.map((k) => k.packet);
    let result;
    if (info.document) {
      result = await client._call("POST", `/v1/capture/${token}/sign`,
                                  { signature: packets[0], consent: { accepted: true, lang: i18n.lang() } });
    } else {
      result = await client.submitSession(token, packets);
    }
    window.inkwitnessLastResult = result;
    kept.length = 0;      // accepted: only now are the signatures let go
    // A sealing whose copy could not be kept answers copy: null (the clerk has the sealed PDF).
    outcome(info.document ? "out.signed" : result.enrolled ? "out.enrolled" : "out.signed.plain",
            Boolean(info.document && result.copy));
  } catch (err) {
    window.inkwitnessLastResult = { error: err.message, message: err.localized, code: err.code, status: err.status };
    const [key, vars] = explain(err);
    if (key === "err.enrol") {
      // Only the inconsistent signature is asked for again; the others are kept.
      const m = /reference (\d+)/.exec(err.message);
      const bad = m ? Number(m[1]) - 1 : kept.length - 1;
      kept.splice(Math.max(0, Math.min(bad, kept.length - 1)), 1);
      show("intro", "consent", "signing", "leave");
      prompt();
    } else if (key === "err.toolarge" || key === "err.invalid") {
      kept.length = Math.max(0, kept.length - 1);
      show("intro", ...(info.document ? ["document"] : []), "consent", "signing", "leave");
      prompt();
    } else {
      $("confirm").textContent = i18n.t("send.retry");
    }
    alertMsg(key, vars || {});
  } finally {
    busy.forEach((b) => { b.disabled = false; });
    $("progress").hidden = true;
    $("reviewing").removeAttribute("aria-busy");
  }
}

function backToSigning() {
  kept.pop();
  show("intro", ...(info.document ? ["document"] : []), "consent", "signing", "leave");
  prompt();
  $("signing").scrollIntoView({ block: "start" });
}

async function decline() {
  try {
    await client._call("POST", `/v1/capture/${token}/decline`, { reason: $("decline-reason").value || null });
    kept.length = 0;
    outcome("out.declined", false);
  } catch (err) { alertMsg(...explain(err)); }
}

async function typed() {
  const name = $("typed-name").value.trim();
  if (!name) { $("typed-name").focus(); return; }
  try {
    await client._call("POST", `/v1/capture/${token}/typed`, { name, lang: i18n.lang() });
    outcome("out.typed", false);
  } catch (err) { alertMsg(...explain(err)); }
}

$("consent-ok").addEventListener("change", () => {
  gate();
  if (consentGiven()) { alertMsg(null); $("signing").scrollIntoView({ block: "start", behavior: "smooth" }); say("pad.prompt"); }
});
$("pad-frame").addEventListener("pointerdown", () => { if (!consentGiven()) alertMsg("consent.required"); });
$("jump").addEventListener("click", (ev) => {
  ev.preventDefault();
  const field = document.querySelector("#field-page .field");
  if (field) field.scrollIntoView({ block: "center" });
});
$("clear").addEventListener("click", () => pad.clear());
$("undo").addEventListener("click", () => pad.undo());
$("review").addEventListener("click", toReview);
$("change").addEventListener("click", backToSigning);
$("confirm").addEventListener("click", confirm);
$("cancel").addEventListener("click", () => {
  kept.length = 0; pad.clear(); $("consent-ok").checked = false; gate();
  show("intro", ...(info && info.document ? ["document"] : []), "consent", "signing", "leave");
  prompt(); alertMsg(null); say("cancel.done");
});
$("decline").addEventListener("click", () => { $("decline-box").hidden = false; $("decline-reason").focus(); });
$("decline-keep").addEventListener("click", () => { $("decline-box").hidden = true; });
$("decline-yes").addEventListener("click", decline);
$("typed-open").addEventListener("click", () => { show("intro", "typed", "leave"); $("typed-name").focus(); });
$("typed-back").addEventListener("click", () => { show("intro", "document", "consent", "signing", "leave"); });
$("typed-submit").addEventListener("click", typed);
window.addEventListener("resize", () => { if (!$("signing").hidden) sizePad(); });
init();
