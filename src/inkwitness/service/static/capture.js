// inkwitness capture: Pointer Events -> native signature packet (inkwitness.signature/1).
// Every hardware sample is kept (getCoalescedEvents), stamped with event.timeStamp (the
// input time, not the handler time), with pressure, tilt, twist and pen angles when the
// device reports them. Pen hover between strokes is kept as "hover" strokes.

const CSS_PX_PER_MM = 96 / 25.4;
const RAD = 180 / Math.PI;

function deviceKind(pointerType) {
  return pointerType === "pen" ? "pen" : pointerType === "touch" ? "touch" : pointerType === "mouse" ? "mouse" : "unknown";
}

export class SignaturePad {
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.minWidth = options.minWidth ?? 0.8;
    this.maxWidth = options.maxWidth ?? 3.6;
    this.onChange = options.onChange ?? (() => {});
    this.strokes = [];      // {pen: "down"|"hover", samples: [...]}
    this.undone = [];
    this.active = null;
    this.pointerType = null;
    this.t0 = null;
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
    c.addEventListener("pointerleave", (e) => { if (this.active && this.active.pen === "hover") this.active = null; });
    window.addEventListener("resize", () => this.resize());
  }

  resize() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.redraw();
  }

  _sample(e) {
    const r = this.canvas.getBoundingClientRect();
    if (this.t0 === null) this.t0 = e.timeStamp;
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

  _down(e) {
    if (this.pointerType && this.pointerType !== e.pointerType && this.strokes.length) return;
    this.pointerType = e.pointerType;
    this.canvas.setPointerCapture(e.pointerId);
    this.undone = [];
    this.active = { pen: "down", samples: [this._sample(e)] };
    this.strokes.push(this.active);
    this._drawLast();
    e.preventDefault();
  }

  _move(e) {
    if (this.pointerType && e.pointerType !== this.pointerType) return;
    const down = this.active && this.active.pen === "down";
    if (!down) {
      // A pen in range reports hover moves (buttons == 0); keep them between strokes.
      if (e.pointerType !== "pen" || e.buttons !== 0 || !this.strokes.length) return;
      if (!this.active) { this.active = { pen: "hover", samples: [] }; this.strokes.push(this.active); }
    }
    for (const ce of this._events(e)) this.active.samples.push(this._sample(ce));
    if (down) this._drawLast();
    e.preventDefault();
  }

  _up(e) {
    if (!this.active || this.active.pen !== "down") return;
    for (const ce of this._events(e)) {
      if (ce.timeStamp > this.active.samples[this.active.samples.length - 1].t + this.t0) {
        this.active.samples.push(this._sample(ce));
      }
    }
    this.active = null;
    this.onChange(this);
  }

  _width(p) {
    const pressure = this.hasPressure() ? p : 0.5;
    return this.minWidth + (this.maxWidth - this.minWidth) * Math.min(1, Math.max(0, pressure));
  }

  _drawStroke(stroke, from = 1) {
    if (stroke.pen !== "down") return;
    const ctx = this.ctx;
    ctx.lineCap = "round";
    ctx.strokeStyle = "#0b1d5c";
    const s = stroke.samples;
    if (s.length === 1) {
      ctx.beginPath(); ctx.arc(s[0].x, s[0].y, this._width(s[0].pressure) / 2, 0, 2 * Math.PI); ctx.fill();
    }
    for (let i = Math.max(1, from); i < s.length; i++) {
      ctx.lineWidth = this._width(s[i].pressure);
      ctx.beginPath(); ctx.moveTo(s[i - 1].x, s[i - 1].y); ctx.lineTo(s[i].x, s[i].y); ctx.stroke();
    }
  }

  _drawLast() {
    const stroke = this.strokes[this.strokes.length - 1];
    this._drawStroke(stroke, stroke.samples.length - 2);
  }

  redraw() {
    const r = this.canvas.getBoundingClientRect();
    this.ctx.clearRect(0, 0, r.width, r.height);
    for (const s of this.strokes) this._drawStroke(s);
  }

  clear() { this.strokes = []; this.undone = []; this.active = null; this.t0 = null; this.pointerType = null;
            this.redraw(); this.onChange(this); }

  undo() {
    while (this.strokes.length && this.strokes[this.strokes.length - 1].pen === "hover") this.strokes.pop();
    if (this.strokes.length) this.undone.push(this.strokes.pop());
    this.redraw(); this.onChange(this);
  }

  redo() { if (this.undone.length) this.strokes.push(this.undone.pop()); this.redraw(); this.onChange(this); }

  points() { return this.strokes.reduce((n, s) => n + s.samples.length, 0); }

  hasPressure() {
    // Mice report 0.5 while a button is down and touch screens often a constant: not a measurement.
    if (this.pointerType !== "pen" && this.pointerType !== "touch") return false;
    const values = new Set();
    for (const s of this.strokes) if (s.pen === "down") for (const p of s.samples) values.add(p.pressure);
    return values.size > 1;
  }

  packet(extra = {}) {
    const strokes = this.strokes.filter((s) => s.samples.length);
    while (strokes.length && strokes[strokes.length - 1].pen === "hover") strokes.pop();
    const channels = ["t", "x", "y"];
    if (this.hasPressure()) channels.push("pressure");
    if (this.pointerType === "pen") {
      channels.push("tilt_x", "tilt_y", "twist");
      const all = strokes.flatMap((s) => s.samples);
      if (all.length && all.every((p) => typeof p.altitude === "number")) channels.push("altitude", "azimuth");
    }
    const out = strokes.map((s) => {
      const o = { pen: s.pen };
      for (const c of channels) o[c] = s.samples.map((p) => p[c]);
      return o;
    });
    const device = { kind: deviceKind(this.pointerType), units_per_mm: CSS_PX_PER_MM,
                     screen_width: screen.width, screen_height: screen.height,
                     device_pixel_ratio: window.devicePixelRatio || 1, user_agent: navigator.userAgent.slice(0, 1000) };
    const capture = { time: new Date().toISOString(), software: "inkwitness-capture/1",
                      extra: { pointer_type: this.pointerType, ...extra } };
    return { format: "inkwitness.signature/1", timing: "measured", device, capture, strokes: out };
  }
}

export class InkwitnessClient {
  constructor(baseUrl = "", apiKey = null) { this.base = baseUrl; this.key = apiKey; }

  async _call(method, path, body) {
    const headers = { "content-type": "application/json" };
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    const res = await fetch(this.base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
    if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
    return data;
  }

  createSubject(externalRef, displayName) { return this._call("POST", "/v1/subjects", { external_ref: externalRef || null, display_name: displayName || null }); }
  enrol(subjectId, packets) { return this._call("POST", `/v1/subjects/${subjectId}/enrolments`, { references: packets }); }
  verify(subjectId, packet) { return this._call("POST", `/v1/subjects/${subjectId}/verifications`, { signature: packet }); }
  sessionInfo(token) { return this._call("GET", `/v1/capture/${token}`); }
  submitSession(token, packets) { return this._call("POST", `/v1/capture/${token}`, { signatures: packets }); }
}
