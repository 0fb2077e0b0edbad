// inkwitness capture: Pointer Events -> native signature packet (inkwitness.signature/1).
// Every hardware sample is kept (getCoalescedEvents), stamped with event.timeStamp (the
// input time, not the handler time). Only channels the device really reports are recorded:
// Pointer Events give tilt 0, twist 0 and altitude 90 degrees for pens without those sensors,
// so a channel that never leaves its default is left out rather than recorded as a measurement.
// Pen hover between strokes is kept as "hover" strokes. The recorded data stays raw; the ink
// on screen is smoothed and pressure-weighted for display only.

const RAD = 180 / Math.PI;
//: The service's default request body limit (bytes).
export const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;
const ANGLE_DEFAULTS = { tilt_x: 0, tilt_y: 0, twist: 0, altitude: 90, azimuth: 0 };

// The capture binding of the signing this page is for: {document_sha256, nonce}, issued by the
// server (GET /v1/capture/{token}/request for a signing request; POST /v1/documents/bindings
// for the API). It goes into capture.extra.binding of every packet recorded, so the packet's
// SHA-256 covers it and sealing refuses the packet for any other document or signing.
let pageBinding = null;

function validBinding(b) {
  return b && typeof b === "object" && typeof b.document_sha256 === "string" && /^[0-9a-f]{64}$/.test(b.document_sha256)
    && typeof b.nonce === "string" && b.nonce.length > 0 && b.nonce.length <= 200;
}

/** Set (or clear, with null) the binding packets recorded on this page carry. */
export function setBinding(binding) {
  if (binding !== null && !validBinding(binding)) throw new Error("a binding needs document_sha256 (hex) and nonce");
  pageBinding = binding ? { document_sha256: binding.document_sha256, nonce: binding.nonce } : null;
}

/** The binding packets recorded on this page carry, or null. */
export function currentBinding() { return pageBinding ? { ...pageBinding } : null; }

function deviceKind(pointerType) {
  return pointerType === "pen" ? "pen" : pointerType === "touch" ? "touch" : pointerType === "mouse" ? "mouse" : "unknown";
}

export class SignaturePad {
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.minWidth = options.minWidth ?? 0.9;
    this.maxWidth = options.maxWidth ?? 3.4;
    this.color = options.color ?? "#0b1d5c";
    // Physical scale is unknown unless the integrator measured it (CSS px are not mm on phones).
    this.unitsPerMm = options.unitsPerMm ?? null;
    this.bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    // A binding for this pad alone; else the page's (setBinding, or what the server sent).
    this.binding = options.binding ?? null;
    this.onChange = options.onChange ?? (() => {});
    this.onNotice = options.onNotice ?? (() => {});
    this.strokes = [];      // {pen: "down"|"hover", type, samples: [...]}
    this.undone = [];
    this.active = null;
    this.activeId = null;
    this.pointerType = null;
    this.penSeen = false;
    this.t0 = null;
    this._bytes = 0;
    this.layout = null;     // the pad's size (and screen angle) at the first sample, then each change
    this._bind();
    this.resize();
  }

  _bind() {
    const c = this.canvas;
    c.style.touchAction = "none";
    c.addEventListener("pointerdown", (e) => this._down(e));
    c.addEventListener("pointermove", (e) => this._move(e));
    c.addEventListener("pointerup", (e) => this._up(e));
    c.addEventListener("pointercancel", (e) => this._up(e));
    c.addEventListener("pointerleave", () => { if (this.active && this.active.pen === "hover") this.active = null; });
    window.addEventListener("resize", () => this.resize());
    // A half turn changes no size; the screen's angle is recorded all the same.
    if (screen.orientation) screen.orientation.addEventListener("change", () => this.resize());
  }

  _size() {
    const r = this.canvas.getBoundingClientRect();
    const angle = screen.orientation && typeof screen.orientation.angle === "number" ? screen.orientation.angle : null;
    return { width: Math.round(r.width * 100) / 100, height: Math.round(r.height * 100) / 100, angle };
  }

  // Samples are in CSS px of the pad as it was: a rotation or resize during a signature is
  // recorded (time since the first sample, new size and angle), never silently mixed in.
  _noteLayout() {
    if (!this.layout || this.t0 === null) return;
    const now = this._size(), last = this.layout.changes.at(-1) || this.layout;
    if (now.width === last.width && now.height === last.height && now.angle === last.angle) return;
    this.layout.changes.push({ t: Math.max(0, performance.now() - this.t0), ...now });
  }

  _layoutExtra() {
    if (!this.layout) return {};
    const { width, height, angle, changes } = this.layout;
    return { pad: { width, height, angle }, ...(changes.length ? { resizes: changes.map((c) => ({ ...c })) } : {}) };
  }

  resize() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this._noteLayout();
    this.redraw();
  }

  _sample(e) {
    const r = this.canvas.getBoundingClientRect();
    if (this.t0 === null) { this.t0 = e.timeStamp; this.layout = { ...this._size(), changes: [] }; }
    const s = { t: e.timeStamp - this.t0, x: e.clientX - r.left, y: e.clientY - r.top, pressure: e.pressure,
                tilt_x: e.tiltX, tilt_y: e.tiltY, twist: e.twist };
    if (typeof e.altitudeAngle === "number") s.altitude = e.altitudeAngle * RAD;
    if (typeof e.azimuthAngle === "number") s.azimuth = e.azimuthAngle * RAD;
    return s;
  }

  _events(e) {
    const list = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    return list.length ? list : [e];
  }

  // Palm rejection: a pen outranks touch. A touch while a pen is (or was) in use is a resting
  // palm; touch ink drawn before the pen arrived was a palm too and is dropped.
  _accepts(e) {
    if (e.pointerType !== "pen" && this.activeId !== null && e.pointerId !== this.activeId) return false;
    if (e.pointerType === "pen") {
      if (this.pointerType === "mouse" && this.strokes.length) { this.onNotice("mixed-input"); return false; }
      if (this.pointerType && this.pointerType !== "pen") {
        const dropped = this.strokes.length;
        this.strokes = []; this.undone = []; this.active = null; this.activeId = null; this.t0 = null;
        this.redraw();
        if (dropped) this.onNotice("palm-dropped");
      }
      this.penSeen = true;
      return true;
    }
    if (e.pointerType === "touch" && this.penSeen) return false;
    if (this.pointerType && this.pointerType !== e.pointerType && this.strokes.length) {
      this.onNotice("mixed-input");
      return false;
    }
    return true;
  }

  _down(e) {
    if (!this._accepts(e)) return;
    if (this.active && this.active.pen === "down") return;
    this.pointerType = e.pointerType;
    this.activeId = e.pointerId;
    try { this.canvas.setPointerCapture(e.pointerId); } catch (_) { /* synthetic events have no capture */ }
    this.undone = [];
    this.active = { pen: "down", samples: [this._sample(e)] };
    this.strokes.push(this.active);
    this._drawFrom(this.active, 0);
    e.preventDefault();
  }

  _move(e) {
    const down = this.active && this.active.pen === "down";
    if (down) {
      if (e.pointerId !== this.activeId) return;
    } else {
      // A pen in range reports hover moves (buttons == 0); keep them between strokes.
      if (e.pointerType !== "pen" || e.buttons !== 0 || !this.strokes.length || this.pointerType !== "pen") return;
      if (!this.active) { this.active = { pen: "hover", samples: [] }; this.strokes.push(this.active); }
    }
    const before = this.active.samples.length;
    for (const ce of this._events(e)) this.active.samples.push(this._sample(ce));
    // Every coalesced sample is inked, not just the newest pair.
    if (down) this._drawFrom(this.active, before);
    e.preventDefault();
  }

  _up(e) {
    if (!this.active || this.active.pen !== "down" || e.pointerId !== this.activeId) return;
    // pointerup repeats the last position with pressure 0: it is not a new sample.
    const stroke = this.active;
    this.active = null;
    this.activeId = null;
    this._drawTail(stroke);
    this._bytes = this._estimate();
    this.onChange(this);
  }

  // --- display ink: pressure width, light smoothing (quadratic through midpoints) --------
  _widths(stroke) {
    const pressured = this.hasPressure();
    const out = [];
    let w = null;
    for (const p of stroke.samples) {
      const target = this.minWidth + (this.maxWidth - this.minWidth) * (pressured ? Math.min(1, Math.max(0, p.pressure)) : 0.45);
      w = w === null ? target : w + 0.35 * (target - w);
      out.push(w);
    }
    return out;
  }

  _segment(s, w, i) {
    // Segment ending at sample i: from the midpoint (i-2,i-1) to the midpoint (i-1,i), bent by i-1.
    const ctx = this.ctx;
    const a = s[i - 2] || s[i - 1], b = s[i - 1], c = s[i];
    ctx.lineWidth = w[i];
    ctx.beginPath();
    ctx.moveTo((a.x + b.x) / 2, (a.y + b.y) / 2);
    ctx.quadraticCurveTo(b.x, b.y, (b.x + c.x) / 2, (b.y + c.y) / 2);
    ctx.stroke();
  }

  _style() {
    const ctx = this.ctx;
    ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = this.color; ctx.fillStyle = this.color;
  }

  _drawFrom(stroke, from) {
    if (stroke.pen !== "down") return;
    this._style();
    const s = stroke.samples, w = this._widths(stroke);
    if (from === 0) {
      this.ctx.beginPath(); this.ctx.arc(s[0].x, s[0].y, w[0] / 2, 0, 2 * Math.PI); this.ctx.fill();
    }
    for (let i = Math.max(1, from); i < s.length; i++) this._segment(s, w, i);
  }

  _drawTail(stroke) {
    const s = stroke.samples;
    if (s.length < 2) return;
    this._style();
    const w = this._widths(stroke), n = s.length - 1;
    this.ctx.lineWidth = w[n];
    this.ctx.beginPath();
    this.ctx.moveTo((s[n - 1].x + s[n].x) / 2, (s[n - 1].y + s[n].y) / 2);
    this.ctx.lineTo(s[n].x, s[n].y);
    this.ctx.stroke();
  }

  redraw() {
    const r = this.canvas.getBoundingClientRect();
    this.ctx.clearRect(0, 0, Math.max(r.width, this.canvas.width), Math.max(r.height, this.canvas.height));
    for (const s of this.strokes) {
      if (s.pen !== "down") continue;
      this._drawFrom(s, 0);
      if (s !== this.active) this._drawTail(s);
    }
  }

  // --- editing ------------------------------------------------------------------------------
  clear() {
    this.strokes = []; this.undone = []; this.active = null; this.activeId = null; this.t0 = null;
    this.pointerType = null; this.penSeen = false; this._bytes = 0; this.layout = null;
    this.redraw(); this.onChange(this);
  }

  undo() {
    while (this.strokes.length && this.strokes[this.strokes.length - 1].pen === "hover") this.strokes.pop();
    if (this.strokes.length) this.undone.push(this.strokes.pop());
    // Undoing every stroke starts a new signature: its clock starts at its first sample.
    if (!this.strokes.length) { this.t0 = null; this.undone = []; this.pointerType = null; }
    this._bytes = this._estimate();
    this.redraw(); this.onChange(this);
  }

  redo() {
    if (this.undone.length) this.strokes.push(this.undone.pop());
    this._bytes = this._estimate();
    this.redraw(); this.onChange(this);
  }

  isEmpty() { return !this.strokes.some((s) => s.pen === "down"); }

  points() { return this.strokes.reduce((n, s) => n + s.samples.length, 0); }

  hasPressure() {
    // Mice report 0.5 while a button is down and touch screens often a constant: not a measurement.
    if (this.pointerType !== "pen" && this.pointerType !== "touch") return false;
    const values = new Set();
    for (const s of this.strokes) if (s.pen === "down") for (const p of s.samples) values.add(p.pressure);
    return values.size > 1;
  }

  /** The channels this device reported during this signature. */
  channels() {
    const channels = ["t", "x", "y"];
    if (this.hasPressure()) channels.push("pressure");
    if (this.pointerType !== "pen") return channels;
    const all = this.strokes.flatMap((s) => s.samples);
    for (const c of ["tilt_x", "tilt_y", "twist", "altitude", "azimuth"]) {
      const measured = all.length && all.every((p) => typeof p[c] === "number")
        && all.some((p) => Math.abs(p[c] - ANGLE_DEFAULTS[c]) > 1e-6);
      if (measured) channels.push(c);
    }
    // Tilt is reported as a pair; altitude and azimuth too.
    const has = (c) => channels.includes(c);
    if (has("tilt_x") !== has("tilt_y")) channels.push(has("tilt_x") ? "tilt_y" : "tilt_x");
    if (has("altitude") !== has("azimuth")) channels.push(has("altitude") ? "azimuth" : "altitude");
    return channels;
  }

  packet(extra = {}) {
    const strokes = this.strokes.filter((s) => s.samples.length);
    while (strokes.length && strokes[strokes.length - 1].pen === "hover") strokes.pop();
    const channels = this.channels();
    const out = strokes.map((s) => {
      const o = { pen: s.pen };
      for (const c of channels) o[c] = s.samples.map((p) => p[c]);
      return o;
    });
    const device = { kind: deviceKind(this.pointerType), screen_width: screen.width, screen_height: screen.height,
                     device_pixel_ratio: window.devicePixelRatio || 1, user_agent: navigator.userAgent.slice(0, 1000) };
    if (this.unitsPerMm) device.units_per_mm = this.unitsPerMm;
    const capture = { time: new Date().toISOString(), software: "inkwitness-capture/2",
                      extra: { pointer_type: this.pointerType, units: this.unitsPerMm ? "mm-scaled" : "css-px (scale unknown)",
                               ...this._layoutExtra(), ...extra } };
    // Inside capture.extra, so part of the canonical bytes the packet's SHA-256 is taken over.
    const binding = extra.binding ?? this.binding ?? pageBinding;
    if (binding) capture.extra.binding = { document_sha256: binding.document_sha256, nonce: binding.nonce };
    return { format: "inkwitness.signature/1", timing: "measured", device, capture, strokes: out };
  }

  _estimate() { return this.isEmpty() ? 0 : JSON.stringify(this.packet()).length; }

  /** The packet's size in bytes (JSON), as of the last finished stroke. */
  bytes() { return this._bytes; }

  /** Fraction of ``budget`` bytes (default: the body limit) the signature takes. */
  sizeRatio(budget = this.bodyLimit) { return this._bytes / budget; }

  // --- export and import --------------------------------------------------------------------
  _bounds(pad = 4) {
    const pts = this.strokes.filter((s) => s.pen === "down").flatMap((s) => s.samples);
    if (!pts.length) return { x: 0, y: 0, w: 1, h: 1 };
    const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
    const x = Math.min(...xs) - pad, y = Math.min(...ys) - pad;
    return { x, y, w: Math.max(...xs) + pad - x, h: Math.max(...ys) + pad - y };
  }

  /** The ink as an SVG document (display ink; the packet is the record). */
  toSVG() {
    const b = this._bounds(this.maxWidth + 2);
    const f = (v) => v.toFixed(2);
    const paths = [];
    for (const s of this.strokes) {
      if (s.pen !== "down" || !s.samples.length) continue;
      const p = s.samples, w = this._widths(s);
      if (p.length === 1) { paths.push(`<circle cx="${f(p[0].x)}" cy="${f(p[0].y)}" r="${f(w[0] / 2)}" fill="${this.color}"/>`); continue; }
      for (let i = 1; i < p.length; i++) {
        const a = p[i - 2] || p[i - 1], m = p[i - 1], c = p[i];
        const end = i === p.length - 1 ? `L${f(c.x)} ${f(c.y)}` : "";
        paths.push(`<path d="M${f((a.x + m.x) / 2)} ${f((a.y + m.y) / 2)}Q${f(m.x)} ${f(m.y)} ${f((m.x + c.x) / 2)} ${f((m.y + c.y) / 2)}${end}" stroke-width="${f(w[i])}"/>`);
      }
    }
    return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${f(b.x)} ${f(b.y)} ${f(b.w)} ${f(b.h)}" width="${f(b.w)}" height="${f(b.h)}">`
      + `<g fill="none" stroke="${this.color}" stroke-linecap="round" stroke-linejoin="round">${paths.join("")}</g></svg>`;
  }

  /** The ink as a PNG data URL, cropped to the signature, on a transparent background. */
  toPNG(scale = window.devicePixelRatio || 1) {
    const b = this._bounds(this.maxWidth + 2);
    const c = document.createElement("canvas");
    c.width = Math.max(1, Math.round(b.w * scale)); c.height = Math.max(1, Math.round(b.h * scale));
    const saved = this.ctx;
    this.ctx = c.getContext("2d");
    this.ctx.setTransform(scale, 0, 0, scale, -b.x * scale, -b.y * scale);
    for (const s of this.strokes) if (s.pen === "down") { this._drawFrom(s, 0); this._drawTail(s); }
    this.ctx = saved;
    return c.toDataURL("image/png");
  }

  /** Show a native packet on the pad (e.g. to review a stored signature); samples are kept as given. */
  fromData(packet) {
    this.clear();
    const kinds = { pen: "pen", touch: "touch", mouse: "mouse" };
    this.pointerType = kinds[packet.device && packet.device.kind] || "unknown";
    this.penSeen = this.pointerType === "pen";
    this.t0 = 0;
    for (const s of packet.strokes || []) {
      const n = (s.t || []).length;
      const samples = [];
      for (let i = 0; i < n; i++) {
        const p = {};
        for (const c of ["t", "x", "y", "pressure", "tilt_x", "tilt_y", "twist", "altitude", "azimuth"]) {
          if (Array.isArray(s[c])) p[c] = s[c][i];
        }
        if (p.pressure === undefined) p.pressure = 0.5;
        samples.push(p);
      }
      this.strokes.push({ pen: s.pen === "hover" ? "hover" : "down", samples });
    }
    this._bytes = this._estimate();
    this.redraw(); this.onChange(this);
  }
}

/** An API error with the HTTP status (0: the network failed; -1: timed out). ``message`` is the
 * server's English text; ``code`` its stable machine code; ``localized`` the text for a person, in
 * the language the client asked for (Accept-Language). */
export class ApiError extends Error {
  constructor(message, status, body = {}) {
    super(message); this.status = status; this.body = body;
    this.code = body.code || null;
    this.localized = body.message || message;
  }
}

export class InkwitnessClient {
  /** ``options.lang``: "zh", "en" or a function returning one, sent as Accept-Language so that
   * error messages come back in the page's language (default: the browser's own). */
  constructor(baseUrl = "", apiKey = null, options = {}) {
    this.base = baseUrl; this.key = apiKey; this.timeoutMs = options.timeoutMs ?? 30_000;
    this.lang = options.lang ?? null;
  }

  async _call(method, path, body, { raw = false, form = null } = {}) {
    const headers = {};
    if (!form) headers["content-type"] = "application/json";
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    const lang = typeof this.lang === "function" ? this.lang() : this.lang;
    if (lang) headers["accept-language"] = lang === "zh" ? "zh-CN, zh" : lang;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    let res;
    try {
      res = await fetch(this.base + path, { method, headers, signal: abort.signal,
                                             body: form || (body ? JSON.stringify(body) : undefined) });
    } catch (err) {
      throw abort.signal.aborted ? new ApiError("timeout", -1) : new ApiError("network", 0);
    } finally { clearTimeout(timer); }
    if (raw && res.ok) return res;
    const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
    if (!res.ok) throw new ApiError(data.error || `HTTP ${res.status}`, res.status, data);
    // A signing link's request (or a binding asked for) names the binding this page's packets carry.
    if (data && typeof data === "object" && Object.prototype.hasOwnProperty.call(data, "binding")) {
      pageBinding = validBinding(data.binding) ? { document_sha256: data.binding.document_sha256, nonce: data.binding.nonce } : null;
    }
    return data;
  }

  createSubject(externalRef, displayName) { return this._call("POST", "/v1/subjects", { external_ref: externalRef || null, display_name: displayName || null }); }
  enrol(subjectId, packets, replace = false) { return this._call("POST", `/v1/subjects/${subjectId}/enrolments`, { references: packets, replace }); }
  verify(subjectId, packet) { return this._call("POST", `/v1/subjects/${subjectId}/verifications`, { signature: packet }); }
  sessionInfo(token) { return this._call("GET", `/v1/capture/${token}`); }
  submitSession(token, packets) { return this._call("POST", `/v1/capture/${token}`, { signatures: packets }); }
  /** A capture binding (document SHA-256 and a single-use server nonce) for sealing a document; packets
   * recorded on this page afterwards carry it. */
  binding(documentSha256, ttlSeconds = null) {
    return this._call("POST", "/v1/documents/bindings", { document_sha256: documentSha256, ttl_seconds: ttlSeconds });
  }
}
