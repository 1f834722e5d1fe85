// A drawing pad for Streamlit's custom components v2 (app/sketch.py registers it; no build step, no imports).
//
// Strokes are lists of [x, y] in canvas units (0..1, y down). When a stroke ends, or on Undo/Clear/pen width, the
// whole drawing goes back to Python as the state value "drawing" = {strokes, pen}; Python rasterises it.
//
// Streamlit calls the default export again, on the same parent element, whenever `data` or the theme changes
// (without calling the previous cleanup), so one pad per element is kept in a WeakMap and only its settings change.

const pads = new WeakMap();
const MIN_STEP = 0.004; // canvas units between kept points: a smooth line at a fraction of the pointer events

function round3(v) {
  return Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
}

function createPad(root, data) {
  const canvas = root.querySelector("canvas");
  const context = canvas.getContext("2d");
  const pen = root.querySelector("input.pen");
  const penBox = root.querySelector(".pen-box");
  const status = root.querySelector(".status");
  const invert = root.querySelector("button.invert");
  const pad = {
    strokes: Array.isArray(data.strokes) ? data.strokes.map((s) => s.map((p) => [p[0], p[1]])) : [],
    current: null,
    settings: data,
    send: () => {},
    inverted: false,
  };

  const totalPoints = () => pad.strokes.reduce((n, s) => n + s.length, 0);

  function side() {
    return canvas.getBoundingClientRect().width || pad.settings.size || 280;
  }

  function resize() {
    // A sharp canvas on high-density screens: its bitmap follows the displayed size times the pixel ratio.
    const ratio = window.devicePixelRatio || 1;
    const px = Math.round(side() * ratio);
    if (canvas.width !== px) {
      canvas.width = px;
      canvas.height = px;
    }
    draw();
  }

  function drawAxes(size) {
    const extent = pad.settings.extent || 4;
    context.save();
    context.strokeStyle = "rgba(120, 120, 120, 0.18)";
    context.lineWidth = 1;
    for (let v = -Math.floor(extent); v <= extent; v += 1) {
      const at = ((v + extent) / (2 * extent)) * size;
      context.beginPath();
      context.moveTo(at, 0);
      context.lineTo(at, size);
      context.moveTo(0, at);
      context.lineTo(size, at);
      context.stroke();
    }
    context.strokeStyle = "rgba(90, 90, 90, 0.45)";
    context.beginPath();
    context.moveTo(size / 2, 0);
    context.lineTo(size / 2, size);
    context.moveTo(0, size / 2);
    context.lineTo(size, size / 2);
    context.stroke();
    context.fillStyle = "rgba(90, 90, 90, 0.8)";
    context.font = `${Math.round(size / 28)}px sans-serif`;
    context.fillText(`z1 = ${extent}`, size * 0.8, size / 2 - 6);
    context.fillText(`z2 = ${extent}`, size / 2 + 6, size * 0.05);
    context.fillText(`-${extent}`, 4, size / 2 - 6);
    context.restore();
  }

  function drawStroke(stroke, size, width, colour) {
    context.strokeStyle = colour;
    context.fillStyle = colour;
    context.lineWidth = width;
    context.lineCap = "round";
    context.lineJoin = "round";
    if (stroke.length === 1) {
      context.beginPath();
      context.arc(stroke[0][0] * size, stroke[0][1] * size, width / 2, 0, 2 * Math.PI);
      context.fill();
      return;
    }
    context.beginPath();
    context.moveTo(stroke[0][0] * size, stroke[0][1] * size);
    for (const [x, y] of stroke.slice(1)) context.lineTo(x * size, y * size);
    context.stroke();
  }

  function draw() {
    const size = canvas.width;
    const points = pad.settings.mode === "points";
    const dark = !points && pad.inverted;
    context.fillStyle = dark ? "#000" : "#fff";
    context.fillRect(0, 0, size, size);
    if (points) drawAxes(size);
    const ink = points ? "rgba(31, 119, 180, 0.9)" : dark ? "#fff" : "#000";
    const width = points ? Math.max(3, size * 0.018) : Number(pen.value) * size;
    for (const stroke of pad.settings.guide || []) drawStroke(stroke, size, width, "rgba(255, 127, 14, 0.85)");
    if (!pad.settings.readonly) {
      // A read-only pad shows its guide (a preset) alone; the user's own strokes come back when drawing is on.
      for (const stroke of pad.strokes) drawStroke(stroke, size, width, ink);
      if (pad.current) drawStroke(pad.current, size, width, ink);
    }
    const n = pad.strokes.length;
    status.textContent = pad.settings.readonly
      ? pad.settings.readonly
      : n === 0
        ? pad.settings.hint || ""
        : `${n} stroke${n === 1 ? "" : "s"}`;
  }

  function send() {
    pad.send("drawing", { strokes: pad.strokes, pen: Number(pen.value) });
  }

  function at(event) {
    const rect = canvas.getBoundingClientRect();
    return [round3((event.clientX - rect.left) / rect.width), round3((event.clientY - rect.top) / rect.height)];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (pad.settings.readonly || event.button > 0) return;
    if (totalPoints() >= (pad.settings.max_points || 5000)) {
      status.textContent = "The pad is full: press Clear or Undo to draw more.";
      return;
    }
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    pad.current = [at(event)];
    draw();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!pad.current) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const point = at(e);
      const last = pad.current[pad.current.length - 1];
      if (Math.hypot(point[0] - last[0], point[1] - last[1]) >= MIN_STEP) pad.current.push(point);
    }
    draw();
  });
  const finish = (event) => {
    if (!pad.current) return;
    if (event.type === "pointerup") {
      const point = at(event);
      const last = pad.current[pad.current.length - 1];
      if (point[0] !== last[0] || point[1] !== last[1]) pad.current.push(point);
    }
    pad.strokes.push(pad.current);
    pad.current = null;
    draw();
    send();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);

  root.querySelector("button.undo").addEventListener("click", () => {
    if (!pad.strokes.length) return;
    pad.strokes.pop();
    draw();
    send();
  });
  root.querySelector("button.clear").addEventListener("click", () => {
    pad.strokes = [];
    draw();
    send();
  });
  invert.addEventListener("click", () => {
    pad.inverted = !pad.inverted; // display only: the model always gets light ink on dark
    draw();
  });
  pen.addEventListener("change", () => {
    draw();
    if (pad.strokes.length) send();
  });
  pen.addEventListener("input", draw);

  pad.update = (settings, setStateValue) => {
    pad.settings = settings || {};
    pad.send = setStateValue;
    if (settings.pen && !pad.touchedPen) pen.value = String(settings.pen);
    penBox.style.display = settings.mode === "points" ? "none" : "";
    invert.style.display = settings.mode === "points" ? "none" : "";
    canvas.style.maxWidth = `${settings.size || 280}px`;
    canvas.classList.toggle("readonly", Boolean(settings.readonly));
    for (const button of root.querySelectorAll("button.undo, button.clear")) button.disabled = Boolean(settings.readonly);
    canvas.setAttribute("aria-label", settings.label || "Drawing pad");
    resize();
  };
  pen.addEventListener("pointerdown", () => {
    pad.touchedPen = true;
  });
  pen.addEventListener("keydown", () => {
    pad.touchedPen = true;
  });
  pad.observer = new ResizeObserver(resize);
  pad.observer.observe(canvas);
  return pad;
}

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const settings = data || {};
  let pad = pads.get(parentElement);
  if (!pad) {
    pad = createPad(parentElement, settings);
    pads.set(parentElement, pad);
  }
  pad.update(settings, setStateValue);
  return () => {
    pad.observer.disconnect();
    pads.delete(parentElement);
  };
}
