// uPlot charts: one `plot` call per chart and render, and the pieces the charts share.
import { el } from "./dom.js";
import { fmt } from "./format.js";

export const COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

const plots = new Map(); // name -> { plot, shape }

// Draws `data` in `node`; the chart is rebuilt only when its shape (series, scales) changes.
export function plot(name, node, opts, data) {
  // what a chart cannot change in place: its series (and whether they draw markers), scales and axes' labels
  const shape = JSON.stringify([opts.series.map((s) => [s.label, Boolean(s.points && s.points.show)]),
    opts.scales, opts.axes && opts.axes.map((a) => a.label)]);
  let entry = plots.get(name);
  if (entry && entry.shape !== shape) { entry.plot.destroy(); plots.delete(name); entry = null; }
  node.dataset.points = String(data[0].length); // the browser tests read how many points are drawn
  node.dataset.log = String(Boolean(opts.scales.y && opts.scales.y.distr === 3));
  node.dataset.labels = (opts.axes || []).map((a) => a.label || "").join(" | "); // drawn on the canvas
  for (const old of node.querySelectorAll(":scope > .none, :scope > .note")) old.remove();
  if (opts.note) node.prepend(el("div", { class: "note" }, opts.note)); // why some values are not drawn
  if (!data.slice(1).some((col) => col.some((v) => v !== null && v !== undefined))) {
    if (entry) { entry.plot.destroy(); plots.delete(name); }
    node.append(el("div", { class: "none" }, opts.empty || "no points yet"));
    return;
  }
  if (!entry) {
    const size = { width: Math.max(300, node.clientWidth), height: opts.height || 240 };
    entry = { plot: new uPlot(Object.assign(size, opts), data, node), shape };
    plots.set(name, entry);
    // a legend's name may be cut short (dashboard.css): the whole of it on hover
    entry.plot.root.querySelectorAll(".u-legend .u-label").forEach((label) => label.setAttribute("title", label.textContent));
  } else {
    entry.plot.setData(data);
  }
}

export function resizeAll() {
  for (const { plot: p } of plots.values()) {
    if (p.root.parentElement) p.setSize({ width: Math.max(300, p.root.parentElement.clientWidth), height: p.height });
  }
}

export const logScale = (on) => (on ? { distr: 3 } : { auto: true });

// Log y by default when the values are all positive and span more than two decades: on a
// linear axis the starting values would flatten everything after them.
export function spansDecades(columns) {
  let low = Infinity, high = -Infinity;
  for (const col of columns) {
    for (const v of col) {
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      if (v <= 0) return false;
      low = Math.min(low, v);
      high = Math.max(high, v);
    }
  }
  return high / low > 100;
}

export function xAxis(text) {
  return { label: text, labelSize: 18, size: 40, grid: { stroke: "#eef0f3" }, ticks: { show: false } };
}

const powerOfTen = (t) => t > 0 && Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;

// A y axis as wide as its widest label: a fixed width cut "10,000,000" to "0,000,000".
function axisSize(u, values, index, cycle) {
  const axis = u.axes[index];
  if (cycle > 1) return axis._size; // uPlot asks again while its layout settles: the first answer stands
  u.ctx.font = axis.font[0];
  const widest = Math.max(0, ...(values || []).map((v) => u.ctx.measureText(v).width / uPlot.pxRatio));
  return Math.ceil(widest) + axis.gap + 8;
}

// One notation per axis: every label in exponent form when one needs it ("1e-4" beside "0.001"
// read as two scales), shortest first ("1e-4", not "1.00e-4"); null: a tick without a label.
function tickTexts(ticks) {
  const exponent = ticks.some((t) => t !== null && fmt(t, 5).includes("e"));
  const short = (t) => t.toExponential(3).replace(/\.?0+e/, "e").replace("e+", "e");
  return ticks.map((t) => (t === null ? "" : !exponent ? fmt(t, 5) : t === 0 ? "0" : short(t)));
}

export function yAxis(extra = {}) {
  // on a log scale only powers of ten get a label; the minor ticks stay unlabelled
  return Object.assign({
    size: axisSize, grid: { stroke: "#eef0f3" }, ticks: { show: false },
    values: (u, ticks, axis) => {
      const log = u.scales[u.axes[axis].scale || "y"].distr === 3;
      return tickTexts(ticks.map((t) => (log && !powerOfTen(t) ? null : t)));
    },
  }, extra);
}

export function line(text, stroke, extra = {}) {
  return Object.assign({ label: text, stroke, width: 1.6, spanGaps: true, value: (u, v) => fmt(v) }, extra);
}

export const xSeries = (text) => ({ label: text, value: (u, v) => fmt(v) });

// TensorBoard's smoothing, debiased so the curve does not start at zero; nulls are skipped.
export function ema(values, alpha) {
  const out = new Array(values.length);
  let last = 0, weight = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) { out[i] = null; continue; }
    last = alpha * last + (1 - alpha) * v;
    weight = alpha * weight + (1 - alpha);
    out[i] = last / weight;
  }
  return out;
}

export const positive = (values) => values.map((v) => (v !== null && v > 0 ? v : null));

// A log axis has no place for a value <= 0: what a chart says when it leaves `n` of them out.
export function logNote(columns) {
  const n = columns.reduce((sum, col) => sum + col.filter((v) => v !== null && v !== undefined && v <= 0).length, 0);
  return n ? `${n.toLocaleString("en-US")} value${n > 1 ? "s" : ""} ≤ 0 not drawn: a log axis cannot show them` : "";
}
