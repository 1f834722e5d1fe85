// The latent pad: a decoder MLP run in the browser (see app/latent_pad.py for the data it is given).
// Modes: "pad" (drag a code, one digit per decoder), "grid" (an n×n manifold), "map" (decode under the pointer).
// Plain ES module: Streamlit imports it from a blob URL and calls the default export on every data change.

const CACHE = (window.__latentPadCache ||= new Map()); // fingerprint -> unpacked decoder, for the whole tab
const INSTANCES = new WeakMap(); // parentElement -> this mount's state
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]; // app/palette.py LABEL_COLOURS

function bytes(b64) {
  const text = atob(b64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function halfToFloat(h) { // IEEE 754 binary16 -> number (Float16Array is too new to rely on)
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function floats(b64, dtype) { // little-endian fp32 or fp16 bytes -> Float32Array
  const raw = bytes(b64);
  if (dtype === "f16") {
    const half = new Uint16Array(raw.buffer, 0, raw.length / 2), out = new Float32Array(half.length);
    for (let i = 0; i < half.length; i++) out[i] = halfToFloat(half[i]);
    return out;
  }
  return new Float32Array(raw.buffer, 0, raw.length / 4);
}

export function int8Rows(b64, scaleB64, rows, cols) { // int8 rows x their fp32 scales -> Float32Array (as the server)
  const raw = bytes(b64), values = new Int8Array(raw.buffer, 0, rows * cols), scale = floats(scaleB64, "f32");
  const out = new Float32Array(rows * cols);
  for (let o = 0; o < rows; o++) for (let k = 0; k < cols; k++) out[o * cols + k] = values[o * cols + k] * scale[o];
  return out;
}

export function unpack(payload) { // Python's decoder_payload -> {layers, atlas, prior, ...}
  const layers = payload.layers.map(({ rows, cols, act, w, b, scale }) => {
    const weights = scale ? int8Rows(w, scale, rows, cols) : floats(w, payload.dtype);
    const wt = new Float32Array(rows * cols);
    for (let o = 0; o < rows; o++) for (let k = 0; k < cols; k++) wt[k * rows + o] = weights[o * cols + k];
    return { rows, cols, act, wt, b: floats(b, payload.dtype) }; // wt: column k of W is contiguous
  });
  const atlas = payload.atlas && {
    codes: floats(payload.atlas.codes, "f32"), labels: bytes(payload.atlas.labels), dim: payload.latent_dim,
  };
  return { ...payload, layers, atlas, prior: payload.prior ? floats(payload.prior, "f32") : null };
}

const ACTIVATIONS = {
  relu: (v) => (v > 0 ? v : 0), sigmoid: (v) => 1 / (1 + Math.exp(-v)), tanh: Math.tanh,
  identity: (v) => v, leaky_relu: (v) => (v > 0 ? v : 0.01 * v), elu: (v) => (v > 0 ? v : Math.exp(v) - 1),
};

// Images (batch × out) for inputs (batch × in), y = act(W·x + b) layer by layer. Written as a sum of W's columns
// weighted by x: the inputs a ReLU zeroed (about half) are skipped, and the accumulator (float64, so the sum is
// at least as exact as PyTorch's fp32) stays in cache. 2.4× faster than row-by-row dot products in Chromium.
export function forward(net, input, batch) {
  let x = input;
  for (const { rows, cols, wt, b, act } of net.layers) {
    const y = new Float32Array(batch * rows), acc = new Float64Array(rows), f = ACTIVATIONS[act];
    for (let s = 0; s < batch; s++) {
      acc.set(b);
      for (let k = 0, off = s * cols; k < cols; k++) {
        const v = x[off + k];
        if (v === 0) continue;
        for (let o = 0, base = k * rows; o < rows; o++) acc[o] += v * wt[base + o];
      }
      for (let o = 0, out = s * rows; o < rows; o++) y[out + o] = f(acc[o]);
    }
    x = y;
  }
  return x;
}

// Decoder inputs for codes (batch × latent_dim): the class one-hot follows z, as LatentModel.decode builds it.
export function inputs(net, codes, batch, label) {
  const d = net.latent_dim, k = net.num_classes, out = new Float32Array(batch * (d + k));
  for (let s = 0; s < batch; s++) {
    for (let i = 0; i < d; i++) out[s * (d + k) + i] = codes[s * d + i];
    if (k) out[s * (d + k) + d + Math.min(Math.max(label | 0, 0), k - 1)] = 1;
  }
  return out;
}

export function decode(net, codes, batch, label) {
  performance.mark("latent-pad-decode-start");
  const images = forward(net, inputs(net, codes, batch, label), batch);
  performance.measure("latent-pad-decode", "latent-pad-decode-start");
  return images;
}

function el(tag, attrs = {}, parent = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) (k === "text" ? (node.textContent = v) : node.setAttribute(k, v));
  if (parent) parent.appendChild(node);
  return node;
}

// Draws (h × w) images in [0, 1] into one canvas as a tiled sheet, each pixel a `scale`-wide square.
function paint(canvas, images, count, columns, h, w, scale) {
  const rows = Math.ceil(count / columns), gap = columns > 1 ? 1 : 0;
  const sw = columns * (w + gap) - gap, sh = rows * (h + gap) - gap;
  const sheet = new ImageData(sw, sh);
  sheet.data.fill(90);
  for (let n = 0; n < count; n++) {
    const r = Math.floor(n / columns), c = n % columns;
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
      const v = Math.round(Math.min(Math.max(images[n * h * w + i * w + j], 0), 1) * 255); // as figures.to_uint8
      const p = 4 * ((r * (h + gap) + i) * sw + c * (w + gap) + j);
      sheet.data[p] = sheet.data[p + 1] = sheet.data[p + 2] = v;
    }
  }
  for (let p = 3; p < sheet.data.length; p += 4) sheet.data[p] = 255;
  const small = new OffscreenCanvas(sw, sh);
  small.getContext("2d").putImageData(sheet, 0, 0);
  canvas.width = sw * scale; canvas.height = sh * scale;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false; // crisp pixels, not a blur
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function setup(parent, data) {
  const root = el("div", { class: `lp-root lp-mode-${data.mode}` }, parent);
  const inst = { root, data, code: [], label: 0, seq: 0, dragging: false, frame: 0, pending: null,
    reported: "", lastCode: "" };
  const left = el("div", { class: "lp-left" }, root), right = el("div", { class: "lp-right" }, root);
  if (data.mode !== "grid") {
    inst.pad = el("canvas", { class: "lp-pad", tabindex: "0", width: "300", height: "300",
      "aria-label": "latent pad: drag, or use the arrow keys", "data-testid": "latent-pad" }, left);
    bindPointer(inst);
  }
  inst.controls = el("div", { class: "lp-controls" }, left);
  inst.readout = el("div", { class: "lp-readout", "data-testid": "latent-pad-code" }, left);
  inst.outputs = right;
  return inst;
}

function netsOf(inst) { return inst.data.models.map((m) => CACHE.get(m.fingerprint)).filter(Boolean); }

// Rebuilds the controls and digit canvases when the page sends a new layout (models, dims, mode).
function layout(inst) {
  const { data } = inst, c = inst.controls;
  c.replaceChildren();
  inst.sliders = [];
  const d = data.latent_dim, planeDims = data.mode === "pad" ? Math.min(2, d) : 0;
  for (let i = planeDims; i < (data.mode === "pad" ? d : 0); i++) {
    const row = el("label", { class: "lp-slider" }, c);
    el("span", { text: `z${i + 1}` }, row);
    const s = el("input", { type: "range", min: -data.limits[i], max: data.limits[i],
      step: data.limits[i] / 50, value: inst.code[i] ?? 0, "aria-label": `z${i + 1}` }, row);
    s.addEventListener("input", (e) => { inst.code[i] = +s.value; schedule(inst, e.timeStamp); });
    s.addEventListener("change", () => report(inst, true));
    inst.sliders[i] = s;
  }
  if (data.class_names?.length && data.mode !== "map") {
    const row = el("label", { class: "lp-class" }, c);
    el("span", { text: "Class " }, row);
    const pick = el("select", { "aria-label": "class" }, row);
    data.class_names.forEach((name, k) => el("option", { value: k, text: name }, pick));
    pick.value = inst.label;
    pick.addEventListener("change", (e) => { inst.label = +pick.value; schedule(inst, e.timeStamp); report(inst, true); });
    inst.picker = pick;
  }
  if (data.mode === "grid") gridControls(inst, c);
  inst.outputs.replaceChildren();
  inst.canvases = data.models.map((m) => {
    const fig = el("figure", { class: "lp-digit" }, inst.outputs);
    const canvas = el("canvas", { "data-testid": "latent-pad-digit", "data-model": m.name }, fig);
    el("figcaption", { text: m.caption }, fig);
    return canvas;
  });
}

function gridControls(inst, c) {
  const { data } = inst, half = data.extent * 2;
  inst.view = { ...data.view };
  const add = (name, label, min, max, step) => {
    const row = el("label", { class: "lp-slider" }, c);
    el("span", { text: label }, row);
    const s = el("input", { type: "range", min, max, step, value: inst.view[name], "aria-label": label }, row);
    const text = () => (name === "resolution" ? s.value : (+s.value).toFixed(2));
    const shown = el("output", { text: text() }, row);
    s.addEventListener("input", (e) => {
      inst.view[name] = +s.value; shown.textContent = text();
      schedule(inst, e.timeStamp);
    });
    s.addEventListener("change", () => report(inst, true));
  };
  add("low", "From", -half, half, half / 40);
  add("high", "To", -half, half, half / 40);
  add("resolution", "Cells per side", 3, 30, 1);
}

function toCode(inst, px, py) { // pad pixels -> plane coordinates -> code
  const e = inst.data.extent, s = inst.pad.width;
  const u = (px / s) * 2 * e - e, v = e - (py / s) * 2 * e;
  const proj = inst.data.projection;
  if (inst.data.mode === "map" && proj) { // the PCA plane's point back in latent space: mean + C·(u, v)
    return proj.mean.map((m, i) => m + proj.components[i][0] * u + proj.components[i][1] * v);
  }
  const code = inst.code.slice();
  const lim = inst.data.limits;
  code[0] = Math.max(-lim[0], Math.min(lim[0], u));
  if (code.length > 1) code[1] = Math.max(-lim[1], Math.min(lim[1], v));
  return code;
}

function bindPointer(inst) {
  const pad = inst.pad, at = (e) => {
    const r = pad.getBoundingClientRect();
    return toCode(inst, ((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height);
  };
  pad.addEventListener("pointerdown", (e) => {
    if (inst.data.mode === "map") return;
    inst.dragging = true; pad.setPointerCapture(e.pointerId); pad.focus();
    inst.code = at(e); schedule(inst, e.timeStamp); e.preventDefault();
  });
  pad.addEventListener("pointermove", (e) => {
    if (inst.data.mode === "map") { inst.hover = at(e); schedule(inst, e.timeStamp); return; }
    if (inst.dragging) { inst.code = at(e); schedule(inst, e.timeStamp); }
  });
  const release = () => { if (inst.dragging) { inst.dragging = false; report(inst, true); } };
  pad.addEventListener("pointerup", release);
  pad.addEventListener("pointercancel", release);
  pad.addEventListener("click", (e) => {
    if (inst.data.mode === "map") { inst.code = at(e); inst.hover = null; schedule(inst, e.timeStamp); } // pinned here
  });
  pad.addEventListener("pointerleave", () => { if (inst.data.mode === "map") { inst.hover = null; schedule(inst); } });
  pad.addEventListener("keydown", (e) => {
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowDown: [1, -1], ArrowUp: [1, 1] }[e.key];
    if (!moves || inst.data.mode === "map") return;
    const [dim, sign] = moves, lim = inst.data.limits[dim] ?? 1;
    if (dim >= inst.code.length) return;
    inst.code[dim] = Math.max(-lim, Math.min(lim, inst.code[dim] + sign * (lim / 50) * (e.shiftKey ? 10 : 1)));
    schedule(inst, e.timeStamp); e.preventDefault();
    clearTimeout(inst.keyTimer); // a run of presses is one change for Python
    inst.keyTimer = setTimeout(() => report(inst, true), 400);
  });
}

// One decode per animation frame however many events arrive; `since` is the first event's timestamp.
function schedule(inst, since = performance.now()) {
  if (inst.pending === null) inst.pending = since;
  if (!inst.frame) inst.frame = requestAnimationFrame(() => render(inst));
}

function drawPlane(inst, nets) {
  const pad = inst.pad, ctx = pad.getContext("2d"), s = pad.width, e = inst.data.extent;
  const px = (u) => ((u + e) / (2 * e)) * s, py = (v) => ((e - v) / (2 * e)) * s;
  if (!inst.background) { // atlas and prior drawn once, then copied under the marker
    const bg = new OffscreenCanvas(s, s), g = bg.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, s, s);
    const net = nets[0], proj = inst.data.projection, d = net.latent_dim;
    const plane = (arr, n) => { // the first two dimensions, or the map's PCA plane
      const pts = [];
      for (let i = 0; i < n; i++) {
        const z = arr.subarray(i * d, i * d + d);
        if (proj) {
          let u = 0, v = 0;
          for (let k = 0; k < d; k++) { u += (z[k] - proj.mean[k]) * proj.components[k][0]; v += (z[k] - proj.mean[k]) * proj.components[k][1]; }
          pts.push([u, v]);
        } else pts.push([z[0], d > 1 ? z[1] : 0]);
      }
      return pts;
    };
    if (net.prior) {
      g.fillStyle = "rgba(90,90,90,0.18)";
      for (const [u, v] of plane(net.prior, net.prior.length / d)) g.fillRect(px(u) - 1.5, py(v) - 1.5, 3, 3);
    }
    if (net.atlas) {
      const pts = plane(net.atlas.codes, net.atlas.labels.length);
      g.globalAlpha = 0.55;
      pts.forEach(([u, v], i) => { g.fillStyle = COLOURS[net.atlas.labels[i] % 10]; g.fillRect(px(u) - 1, py(v) - 1, 2.5, 2.5); });
      g.globalAlpha = 1;
    }
    g.strokeStyle = "rgba(0,0,0,0.25)"; g.beginPath();
    g.moveTo(px(0), 0); g.lineTo(px(0), s); g.moveTo(0, py(0)); g.lineTo(s, py(0)); g.stroke();
    inst.background = bg;
  }
  ctx.drawImage(inst.background, 0, 0);
  const mark = (u, v, colour) => {
    ctx.strokeStyle = colour; ctx.lineWidth = 2.5; ctx.beginPath(); ctx.arc(px(u), py(v), 7, 0, 2 * Math.PI); ctx.stroke();
  };
  const proj = inst.data.projection;
  const onPlane = (z) => (proj ? [0, 1].map((j) => z.reduce((a, zk, k) => a + (zk - proj.mean[k]) * proj.components[k][j], 0)) : [z[0], z[1] ?? 0]);
  if (inst.code.length) mark(...onPlane(inst.code), "#000");
  if (inst.hover) mark(...onPlane(inst.hover), "#d62728");
}

function render(inst) {
  inst.frame = 0;
  const since = inst.pending ?? performance.now();
  inst.pending = null;
  const nets = netsOf(inst), data = inst.data;
  if (nets.length < data.models.length) { // weights not here yet: Python sends them once it knows
    inst.readout.textContent = "Loading the decoder…";
    return;
  }
  const [h, w] = nets[0].shape;
  if (data.mode === "grid") {
    const { low, high, resolution: n } = inst.view, d = nets[0].latent_dim, codes = new Float32Array(n * n * d);
    const [dx, dy] = data.dims;
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) { // rows from the top: largest y first
      const z = codes.subarray((r * n + c) * d, (r * n + c + 1) * d);
      z.set(data.base);
      z[dx] = n > 1 ? low + ((high - low) * c) / (n - 1) : low;
      if (d > 1) z[dy] = n > 1 ? high - ((high - low) * r) / (n - 1) : high;
    }
    const images = decode(nets[0], codes, n * n, inst.label);
    paint(inst.canvases[0], images, n * n, n, h, w, Math.max(1, Math.floor(520 / (n * (w + 1)))));
    inst.canvases[0].style.width = "min(520px, 100%)"; // one size at any resolution, scaled crisply (CSS)
    inst.readout.textContent = `${n}×${n} decodes from ${low.toFixed(2)} to ${high.toFixed(2)}`;
  } else {
    drawPlane(inst, nets);
    const z = data.mode === "map" ? inst.hover || inst.code : inst.code;
    if (z && z.length) {
      nets.forEach((net, n) => { // one decode per model: they share the code
        const img = decode(net, Float32Array.from(z), 1, net.num_classes ? inst.label : 0);
        paint(inst.canvases[n], img, 1, 1, h, w, Math.max(1, Math.floor(data.digit_px / w)));
      });
      inst.readout.textContent = `z = (${Array.from(z, (v) => v.toFixed(2)).join(", ")})`;
    }
  }
  performance.measure("latent-pad-input-to-pixels", { start: since, end: performance.now() });
  const frames = +(inst.root.dataset.frames || 0) + 1;
  inst.root.dataset.frames = String(frames); // for tests and benchmarks
  if (frames % 5000 === 0) { performance.clearMarks(); performance.clearMeasures(); } // bound the timeline
  inst.drawn = true; // "ready" means a digit was drawn, not only that weights arrived
  if (!data.ready || stale(inst)) report(inst, false);
}

// Tells Python what this tab holds and, after a release, the chosen code (one state value: one rerun).
function report(inst, released) {
  if (released) inst.seq += 1;
  const value = { ready: !!inst.drawn && netsOf(inst).length === inst.data.models.length, held: [...CACHE.keys()].sort(),
    code: inst.code.map(Number), label: inst.label, seq: inst.seq, view: inst.view || null };
  const text = JSON.stringify(value);
  if (text === inst.reported) return;
  inst.reported = text;
  inst.setStateValue("pad", value);
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  for (const m of data.models.filter((m) => m.payload)) {
    window.__latentPadPayloads = (window.__latentPadPayloads || 0) + 1; // how often weights arrived: tests read it
    if (!CACHE.has(m.fingerprint)) CACHE.set(m.fingerprint, unpack(m.payload));
  }
  let inst = INSTANCES.get(parentElement);
  const shape = JSON.stringify([data.mode, data.models.map((m) => m.fingerprint), data.latent_dim, data.extent,
    data.class_names, data.projection, data.dims, data.base]);
  if (!inst) { inst = setup(parentElement, data); INSTANCES.set(parentElement, inst); }
  inst.setStateValue = setStateValue;
  inst.data = data;
  const incoming = JSON.stringify([data.code, data.label, data.view]);
  if (incoming !== inst.lastCode && !inst.dragging) { // Python moved the code (a button, or the echo of ours)
    inst.lastCode = incoming;
    inst.code = (data.code || []).map(Number);
    inst.label = data.label ?? 0;
    if (data.view) inst.view = { ...data.view };
    if (inst.shape === shape) layoutValues(inst);
  }
  if (inst.shape !== shape) { inst.shape = shape; inst.background = null; layout(inst); }
  if (inst.seq < (data.seq || 0)) inst.seq = data.seq; // a new mount never reuses a number Python has seen
  schedule(inst);
  if (stale(inst)) report(inst, false); // "ready" follows from the first digit drawn (render)
}

function stale(inst) { // Python's idea of what this tab holds is wrong, or a decoder is missing
  const known = new Set(inst.data.held || []);
  return [...CACHE.keys()].some((f) => !known.has(f)) || inst.data.models.some((m) => !CACHE.has(m.fingerprint));
}

function layoutValues(inst) { // keep the JS-side controls in step with a code Python set
  inst.sliders.forEach((s, i) => { if (s) s.value = inst.code[i] ?? 0; });
  if (inst.picker) inst.picker.value = inst.label;
}
