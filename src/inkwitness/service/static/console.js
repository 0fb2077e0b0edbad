// The clerk's console: signers, in-person enrolment and verification (with reasons in plain
// language), signing requests for a PDF with a QR code and live status (server-sent events),
// and the sealed PDF, evidence bundle and report. Captured signatures are kept until accepted.
import { SignaturePad, InkwitnessClient, ApiError, DEFAULT_BODY_LIMIT } from "/static/capture.js";
import * as i18n from "/static/i18n.js";
import { FEATURE_LABELS } from "/static/features.js";

const $ = (id) => document.getElementById(id);
const kept = [];
let lastResult = null;
let current = null;        // the signing request on screen
let stream = null;         // AbortController of its status stream
const state = { lastStatus: null, lastRequest: null };
window.inkwitnessConsole = state;

const pad = new SignaturePad($("pad"), {
  onChange: () => sizeCheck(),
  onNotice: (what) => say(what === "palm-dropped" ? "pad.palm" : "pad.mixed"),
});
window.inkwitnessPad = pad;
window.inkwitnessKept = kept;

function key() { return $("api-key").value.trim(); }
function api() { return new InkwitnessClient("", key(), { timeoutMs: 60_000, lang: () => i18n.lang() }); }
function say(k, vars = {}) { $("live").textContent = i18n.t(k, vars); }
function needed() { return $("mode").value === "enrol" ? 5 : 1; }
function prompt() { $("prompt").textContent = i18n.t("pad.prompt.n", { i: Math.min(kept.length + 1, needed()), n: needed() }); }
function sizeCheck() {
  const r = pad.sizeRatio(DEFAULT_BODY_LIMIT * 0.95 / needed());
  if (r >= 1) say("pad.toolarge"); else if (r >= 0.8) say("pad.large");
}
function errorText(err) {
  if (err instanceof ApiError && err.status === 0) return i18n.t("err.network");
  if (err instanceof ApiError && err.status === -1) return i18n.t("err.timeout");
  // The server's message in the page's language (Accept-Language); its English text is err.message.
  return i18n.t("con.err", { detail: err.localized || err.message });
}

/** A verifier reason in plain words (the API's technical text stays available on hover). */
export function plainReason(text) {
  if (text.startsWith("replay")) return i18n.t("reason.replay");
  if (text.startsWith("trajectory and dynamics")) return i18n.t("reason.trajectory");
  if (text.startsWith("rhythm differs")) return i18n.t("reason.rhythm");
  const m = /^([^:]+):/.exec(text);
  if (!m) return text;
  // The feature in words (the report's labels), not its identifier; unknown names stay as given.
  const name = m[1].trim(), labels = FEATURE_LABELS[i18n.lang()] || FEATURE_LABELS.en;
  return i18n.t("reason.feature", { feature: labels[name] || name });
}

function showResult(result) {
  lastResult = result;
  window.inkwitnessLastResult = result;
  const box = $("result");
  box.textContent = "";
  if (!result) return;
  const p = document.createElement("p");
  p.className = "status";
  if (result.error) { p.textContent = result.error; p.classList.add("bad"); box.append(p); return; }
  if (result.references !== undefined) { p.textContent = i18n.t("con.enrolled", { n: result.references }); p.classList.add("ok"); box.append(p); return; }
  const key = result.decision === "genuine" ? "con.result.genuine" : result.decision === "replay" ? "con.result.replay" : "con.result.forgery";
  p.textContent = i18n.t(key);
  p.classList.add(result.decision === "genuine" ? "ok" : "bad");
  box.append(p);
  if (typeof result.score === "number") {
    const s = document.createElement("p");
    s.className = "small";
    s.textContent = i18n.t("con.result.score", { score: result.score.toFixed(2), threshold: Number(result.threshold).toFixed(2) });
    box.append(s);
  }
  appendReasons(box, result.reasons || []);
}

function appendReasons(box, reasons) {
  if (!reasons.length) return;
  const h = document.createElement("p");
  h.textContent = i18n.t("con.reasons");
  const ul = document.createElement("ul");
  ul.className = "reasons";
  for (const r of reasons) { const li = document.createElement("li"); li.textContent = plainReason(r); li.title = r; ul.append(li); }
  box.append(h, ul);
}

async function submitPad() {
  if (kept.length < needed()) {
    if (pad.isEmpty() || pad.points() < 10) { say("pad.empty"); return; }
    if (pad.sizeRatio(DEFAULT_BODY_LIMIT * 0.95 / needed()) >= 1) { say("pad.toolarge"); return; }
    kept.push(pad.packet());
    pad.clear();
    if (kept.length < needed()) { prompt(); say("pad.captured", { i: kept.length, n: needed() }); return; }
  }
  // All signatures are kept: send them (again, after a failure: nothing is re-drawn).
  $("submit").disabled = true;
  $("pad-progress").hidden = false;
  say("con.busy");
  try {
    const subject = $("subject").value.trim();
    const result = needed() > 1 ? await api().enrol(subject, kept.slice()) : await api().verify(subject, kept[0]);
    kept.length = 0;      // accepted: only now are the signatures let go
    showResult(result);
    say(result.references !== undefined ? "con.enrolled" : "con.req.status", { n: result.references, state: result.decision });
  } catch (err) {
    // Kept for a retry (after fixing the key, the connection or the signer id); an inconsistent
    // enrolment signature is the only one asked for again.
    const m = err instanceof ApiError && err.body && err.body.type === "EnrolmentError" ? /reference (\d+)/.exec(err.message) : null;
    if (m) kept.splice(Number(m[1]) - 1, 1);
    showResult({ error: errorText(err) });
    $("live").textContent = errorText(err);
  } finally {
    $("submit").disabled = false;
    $("pad-progress").hidden = true;
    prompt();
    $("submit").textContent = i18n.t(kept.length >= needed() ? "send.retry" : "con.pad.submit");
  }
}

async function newSubject() {
  try {
    const s = await api().createSubject($("subject-ref").value.trim(), $("subject-name").value.trim());
    $("subject").value = s.id;
    say("con.subject.created", { id: s.id });
  } catch (err) { $("live").textContent = errorText(err); }
}

async function enrolLink() {
  try {
    // Who asks and why are shown on the signer's page; left out when empty (both are optional).
    const body = { subject_id: $("subject").value.trim(), purpose: "enrol" };
    for (const [field, id] of [["requester", "link-requester"], ["reason", "link-reason"]]) {
      const value = $(id).value.trim();
      if (value) body[field] = value;
    }
    const s = await api()._call("POST", "/v1/signing-sessions", body);
    $("enrol-out").hidden = false;
    $("enrol-url").href = s.url;
    $("enrol-url").textContent = s.url;
    $("enrol-qr").src = `data:image/svg+xml;base64,${btoa(s.qr_svg)}`;
    state.enrolSession = s;
  } catch (err) { $("live").textContent = errorText(err); }
}

function dataUrl(blob) {
  return new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(blob); });
}

async function authed(path) {
  const res = await api()._call("GET", path, null, { raw: true });
  return res.blob();
}

async function download(path, name) {
  try {
    const blob = await authed(path);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (err) { $("live").textContent = errorText(err); }
}

function renderStatus(req) {
  state.lastStatus = req;
  const i = listed.findIndex((r) => r.id === req.id);
  if (i >= 0) { listed[i] = req; renderList(); }
  current = { ...current, ...req };
  $("req-status").textContent = i18n.t("con.req.status", { state: i18n.t(`state.${req.state}`) });
  const v = req.outcome && req.outcome.verification;
  $("req-verification").textContent = "";
  $("req-reasons").textContent = "";
  if (v) {
    const text = v.decision === "not-enrolled" ? i18n.t("con.req.notenrolled")
      : v.decision === "genuine" ? i18n.t("con.result.genuine")
      : v.decision === "replay" ? i18n.t("con.result.replay")
      : v.decision === "not-comparable" ? (v.reasons || []).join("; ") : i18n.t("con.result.forgery");
    $("req-verification").textContent = i18n.t("con.req.verification", { text });
    $("req-verification").className = v.decision === "genuine" ? "ok" : v.decision === "not-enrolled" ? "" : "bad";
    for (const r of v.reasons || []) { const li = document.createElement("li"); li.textContent = plainReason(r); li.title = r; $("req-reasons").append(li); }
  }
  $("req-downloads").hidden = req.state !== "signed";
  $("dl-report").hidden = !(v && v.decision && !["not-enrolled", "not-comparable"].includes(v.decision));
}

/** Follow a request's status as server-sent events (fetch: EventSource cannot send the key). */
async function follow(id) {
  if (stream) stream.abort();
  stream = new AbortController();
  try {
    const res = await fetch(`/v1/documents/requests/${id}/events`, { headers: { authorization: `Bearer ${key()}` }, signal: stream.signal });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) { const req = JSON.parse(data); renderStatus(req); say("con.req.status", { state: i18n.t(`state.${req.state}`) }); }
      }
    }
  } catch (err) { if (err.name !== "AbortError") $("live").textContent = errorText(err); }
}

// --- choosing the page and the field on a preview --------------------------------------------
let preview = null;   // {pages, images, default_box}

function pickedPage() {
  const n = Number($("req-page").value) || (preview ? preview.pages.length : 1);
  return Math.max(1, Math.min(n, preview ? preview.pages.length : n));
}

/** The server's default field: 180 x 60 pt at the bottom right, inside a 36 pt margin. */
function defaultBox(w, h) {
  const width = Math.min(180, w - 72), height = Math.min(60, h / 6);
  return [w - 36 - width, 72, w - 36, 72 + height];
}

function drawPicker() {
  if (!preview) return;
  const n = pickedPage();
  const [w, h] = preview.pages[n - 1];
  $("picker-box").hidden = n > preview.images.length;
  $("picker-img").src = preview.images[n - 1] || "";
  $("picker-img").alt = i18n.t("con.pick.page", { n, total: preview.pages.length });
  $("picker").style.aspectRatio = `${w} / ${h}`;
  const box = ($("req-box").value || "").split(",").map(Number);
  const [x1, y1, x2, y2] = box.length === 4 && box.every(Number.isFinite) ? box : defaultBox(w, h);
  Object.assign($("picker-field").style, { left: `${100 * Math.min(x1, x2) / w}%`, top: `${100 * (h - Math.max(y1, y2)) / h}%`,
                                           width: `${100 * Math.abs(x2 - x1) / w}%`, height: `${100 * Math.abs(y2 - y1) / h}%` });
}

let previewSeq = 0;   // a preview arriving after the request was created (or another file chosen) is stale

async function loadPreview() {
  const file = $("req-file").files[0];
  const seq = ++previewSeq;
  preview = null;
  $("picker-box").hidden = true;
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const found = await api()._call("POST", "/v1/documents/preview", null, { form });
    if (seq !== previewSeq) return;
    preview = found;
    if (!$("req-page").value) $("req-page").value = String(preview.pages.length);
    drawPicker();
  } catch (err) { $("live").textContent = errorText(err); }
}

function pickerPoint(ev) {
  // Pointer position as PDF points (origin bottom left) on the chosen page.
  const r = $("picker").getBoundingClientRect();
  const [w, h] = preview.pages[pickedPage() - 1];
  const fx = Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width));
  const fy = Math.max(0, Math.min(1, (ev.clientY - r.top) / r.height));
  return [Math.round(fx * w), Math.round(h - fy * h)];
}

let dragFrom = null;
$("picker").addEventListener("pointerdown", (ev) => {
  if (!preview) return;
  dragFrom = pickerPoint(ev);
  $("picker").setPointerCapture(ev.pointerId);
});
$("picker").addEventListener("pointermove", (ev) => {
  if (!dragFrom) return;
  const [x, y] = pickerPoint(ev);
  const [x0, y0] = dragFrom;
  $("req-box").value = [Math.min(x0, x), Math.min(y0, y), Math.max(x0, x), Math.max(y0, y)].join(",");
  drawPicker();
});
$("picker").addEventListener("pointerup", () => {
  dragFrom = null;
  const [x1, y1, x2, y2] = $("req-box").value.split(",").map(Number);
  if (x2 - x1 < 20 || y2 - y1 < 10) $("req-box").value = "";   // a click, not a rectangle
  drawPicker();
});
$("req-file").addEventListener("change", loadPreview);
$("req-file").addEventListener("change", () => {
  // The chosen file's name replaces "No file chosen" (and no longer follows the language switch).
  const file = $("req-file").files[0], name = $("req-file-name");
  if (file) { delete name.dataset.i18n; name.textContent = file.name; }
  else { name.dataset.i18n = "con.req.nofile"; name.textContent = i18n.t("con.req.nofile"); }
});
$("req-page").addEventListener("input", drawPicker);
$("req-box").addEventListener("input", drawPicker);

async function createRequest(ev) {
  ev.preventDefault();
  const file = $("req-file").files[0];
  if (!file) { $("req-file").focus(); return; }
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("subject_id", $("subject").value.trim());
  form.append("requester", $("req-requester").value.trim());
  form.append("reason", $("req-reason").value.trim());
  for (const [field, id] of [["signer_name", "req-signer"], ["page", "req-page"], ["box", "req-box"]]) {
    if ($(id).value.trim()) form.append(field, $(id).value.trim());
  }
  $("req-create").disabled = true;
  $("req-progress").hidden = false;
  say("con.busy");
  try {
    const req = await api()._call("POST", "/v1/documents/requests", null, { form });
    current = req;
    state.lastRequest = req;
    previewSeq += 1;
    preview = null;
    $("picker-box").hidden = true;   // the request's own preview below shows the field chosen
    $("req-out").hidden = false;
    $("req-link").href = req.url;
    $("req-link").textContent = req.url;
    $("req-qr").src = `data:image/svg+xml;base64,${btoa(req.qr_svg)}`;
    $("req-qr").hidden = false;
    await showPreview(req);
    renderStatus(req);
    follow(req.id);
    refreshList();
  } catch (err) { $("live").textContent = errorText(err); }
  finally { $("req-create").disabled = false; $("req-progress").hidden = true; }
}

// --- recent requests ---------------------------------------------------------------------------
let listed = [];

function renderList() {
  const body = $("list-body");
  body.textContent = "";
  $("list").hidden = !listed.length;
  for (const r of listed) {
    const tr = document.createElement("tr");
    const when = new Date(r.created_at).toLocaleString(i18n.lang() === "zh" ? "zh-CN" : "en");
    for (const text of [r.document_name, r.signer_name || r.subject_id.slice(0, 8), when, i18n.t(`state.${r.state}`)]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button"; b.textContent = i18n.t("con.list.show");
    b.setAttribute("aria-label", `${i18n.t("con.list.show")}: ${r.document_name}`);
    b.addEventListener("click", () => showRequest(r));
    td.append(b); tr.append(td); body.append(tr);
  }
}

async function refreshList() {
  try { listed = (await api()._call("GET", "/v1/documents/requests")).requests; renderList(); }
  catch (err) { $("live").textContent = errorText(err); }
}

async function showRequest(r) {
  // A listed request: its status, outcome and files (the link itself is not kept: only its hash is).
  current = r;
  $("req-out").hidden = false;
  $("req-link").textContent = ""; $("req-link").removeAttribute("href");
  $("req-qr").hidden = true;
  await showPreview(r);
  renderStatus(r);
  follow(r.id);
  $("req-out").scrollIntoView({ block: "start" });
}

async function showPreview(req) {
  const [w, h] = req.pages[req.page - 1];
  const [x1, y1, x2, y2] = req.box;
  $("req-preview").style.aspectRatio = `${w} / ${h}`;
  Object.assign($("req-field").style, { left: `${100 * x1 / w}%`, top: `${100 * (h - y2) / h}%`,
                                        width: `${100 * (x2 - x1) / w}%`, height: `${100 * (y2 - y1) / h}%` });
  $("req-page-img").alt = i18n.t("doc.page", { n: req.page, total: req.pages.length });
  $("req-page-img").src = await dataUrl(await authed(`/v1/documents/requests/${req.id}/pages/${req.page}.png?w=700`));
}

i18n.setup($("lang"));
$("list-refresh").addEventListener("click", refreshList);
i18n.onLang(() => { prompt(); showResult(lastResult); renderList(); if (state.lastStatus) renderStatus(state.lastStatus); });
$("api-key").value = sessionStorage.getItem("inkwitness-key") || "";
$("api-key").addEventListener("change", () => { sessionStorage.setItem("inkwitness-key", key()); if (key()) refreshList(); });
if (key()) refreshList();
$("mode").addEventListener("change", () => { kept.length = 0; prompt(); $("submit").textContent = i18n.t("con.pad.submit"); });
$("clear").addEventListener("click", () => pad.clear());
$("undo").addEventListener("click", () => pad.undo());
$("submit").addEventListener("click", submitPad);
$("new-subject").addEventListener("click", newSubject);
$("enrol-link").addEventListener("click", enrolLink);
$("req-form").addEventListener("submit", createRequest);
$("dl-sealed").addEventListener("click", () => download(`/v1/documents/requests/${current.id}/sealed.pdf`, "signed.pdf"));
$("dl-evidence").addEventListener("click", () => download(`/v1/documents/requests/${current.id}/evidence.zip`, "evidence.zip"));
$("dl-report").addEventListener("click", () => download(`/v1/documents/requests/${current.id}/report.pdf?lang=${i18n.lang()}`, "report.pdf"));
pad.resize();
prompt();
