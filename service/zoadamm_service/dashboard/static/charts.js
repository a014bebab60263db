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
    entry = { plot: new uPlot(Object.assign(size, tickScales(opts)), data, node), shape };
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

// uPlot pads a range past float64's largest value (a metric of 1e308 spanned 0 to Infinity) and
// rounds it to 24 decimals (f of 1e-30 spanned 0 to 100): tiny values are ranged scaled up.
const MAX = Number.MAX_VALUE;
const finite = (lo, hi) => [lo > -MAX ? lo : -MAX, hi < MAX ? hi : MAX]; // NaN too: Infinity / Infinity

// A linear y scale.  Where its span is more than float64 holds (-1e308 to 1e308), uPlot placed
// every point at the bottom or nowhere, and found no tick increment: it divides by the span, and
// multiplies an increment by the axis' length in pixels.  The scale then draws values times `k`,
// a power of two (exact), small enough for both; its range is found from quarters, whose padding
// does not overflow, and is the same as uPlot's wherever its span is finite.
const SCALED = 2 ** -32;

function linearScale() {
  let k = 1;
  const range = (u, lo, hi) => {
    if (lo === null || lo === undefined) return [null, null];
    const size = Math.max(-lo, hi);
    const scale = size > 0 && size < 1e-18 ? 10 ** Math.min(308, -Math.floor(Math.log10(size))) : 1;
    let [a, b] = uPlot.rangeNum(lo * scale, hi * scale, 0.1, true); // uPlot's own range
    [a, b] = finite(a / scale, b / scale);
    if (!(b - a < Infinity)) {
      [a, b] = uPlot.rangeNum(lo / 4, hi / 4, 0.1, true);
      [a, b] = finite(a * 4, b * 4);
    }
    k = b - a < Infinity ? 1 : SCALED;
    return [a, b];
  };
  return { auto: true, range, distr: 100, fwd: (v) => v * k, bwd: (v) => v / k };
}

// uPlot's log range rounds an end below 1 to as many decimals as its decade, multiplying by
// 10 ** 309 and more below 1e-308: Infinity, and the end NaN (a range from -1.8e308, no ticks).
// Such an end is found from the value's digits instead, rounded down (or up) to a whole multiple
// of its decade as uPlot rounds, 3.7e-315 to 3e-315; the ends stay within float64's positive
// values (5e-324 to 1.8e308).
const MIN = Number.MIN_VALUE;

function decade(v, round) {
  if (!(v < MAX)) return MAX;
  const [digits, exponent] = v.toExponential().split("e");
  return Number(`${round(Number(digits))}e${exponent}`);
}

function logRange(u, lo, hi) {
  if (lo === null || lo === undefined) return [null, null];
  // values within a rounding of one another (1000 and its EMA, 999.9999999999999) got a range of
  // no width from uPlot, and nothing was drawn: they are ranged as one value is
  if (hi <= lo * (1 + 1e-9)) lo = hi;
  let [a, b] = uPlot.rangeLog(lo, hi, 10, false); // uPlot's own range
  if (!(a > 0)) a = decade(lo === hi ? lo / 10 : lo, Math.floor);
  if (!(b > 0)) b = decade(lo === hi ? hi * 10 : hi, Math.ceil);
  return [Math.max(a, MIN), Math.min(b, MAX)];
}

export const logScale = (on) => (on ? { distr: 3, range: logRange } : linearScale());

// uPlot finds an axis' tick increment from its scale's span, so an axis ticks on a scale of its
// own: the linear scale's range in the units it draws (see linearScale), the same range unless
// float64 cannot hold the span.  `opts` with such a scale for each axis on a linear scale.
export function tickScales(opts) {
  const scales = Object.assign({}, opts.scales);
  const axes = (opts.axes || []).map((axis, i) => {
    const key = axis.scale || (i === 0 ? "x" : "y");
    if (!scales[key] || scales[key].distr !== 100) return axis;
    scales[`${key} ticks`] = { from: key, distr: 1, range: (u, lo, hi) => [u.scales[key].fwd(lo), u.scales[key].fwd(hi)] };
    return Object.assign({}, axis, { scale: `${key} ticks` });
  });
  return Object.assign({}, opts, { scales, axes });
}

// What the values on an axis' scale are multiplied by to place them (1 but where a linear
// scale's span is more than float64 holds).
function unitOf(u, axis) {
  const scale = u.scales[u.axes[axis].scale];
  const from = scale.from && u.scales[scale.from];
  return from && from.distr === 100 ? from.fwd(1) : 1;
}

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

export function xAxis(text, whole = true) {
  const axis = { label: text, labelSize: 18, size: 40, grid: { stroke: "#eef0f3" }, ticks: { show: false } };
  return whole ? Object.assign(axis, { incrs: INCRS.filter((v) => v >= 1 && Number.isInteger(v)) }) : axis;
}

const exponentOf = (t) => Math.round(Math.log10(t));

// (as written: below 1e-308 a power of ten is held to fewer digits, 1e-320 as 9.99989e-321)
const powerOfTen = (t) => t > 0 &&
  (Math.abs(Math.log10(t) - exponentOf(t)) < 1e-9 || t === Number(`1e${exponentOf(t)}`));

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
// The fewest digits that read back as the tick: float64 holds 1e-323 as 9.881e-324.
function tickTexts(ticks) {
  const exponent = ticks.some((t) => t !== null && fmt(t, 5).includes("e"));
  const short = (t) => {
    let digits = 0;
    while (digits < 3 && Number(t.toExponential(digits)) !== t) digits++;
    return t.toExponential(digits).replace(/\.?0+e/, "e").replace("e+", "e");
  };
  return ticks.map((t) => (t === null ? "" : !exponent ? fmt(t, 5) : t === 0 ? "0" : short(t)));
}

// uPlot's tick increments (1, 2, 2.5 and 5 times a power of ten) end at 5e31: an f of 1e37 got no
// tick nor grid line.  The same multiples of every power of ten float64 holds.
const INCRS = [];
for (let k = -323; k <= 308; k++) {
  for (const m of [1, 2, 2.5, 5]) {
    const v = Number(`${m}e${k}`);
    if (v > (INCRS.at(-1) ?? 0) && v < Infinity) INCRS.push(v);
  }
}

// Ticks at whole multiples of the increment.  uPlot takes none below 1e-16 (the digits it rounds
// to) and passes a coarser one, `space` pixels apart: for a span that small, the one that fits.
// On a scale that draws values times k (unitOf), the range and increment come in those units:
// the ticks are found in the values' own (a round increment) and returned in the scale's.
function linearSplits(u, axis, min, max, incr, space) {
  const k = unitOf(u, axis);
  const wanted = incr * u.axes[axis]._space / space / k;
  if (k !== 1) {
    [min, max] = [min / k, max / k];
    incr = INCRS.find((v) => v >= wanted);
  } else if (space > 2 * u.axes[axis]._space && wanted > 1e-15 * Math.max(-min, max)) {
    // (a finer one than float64 tells apart at these values is no tick)
    incr = INCRS.find((v) => v >= wanted);
  }
  const ticks = [];
  // rounded as uPlot rounds: 8.0000001 increments from 0 is the 8th, 0.1 * 3 is 0.3
  for (let i = Math.ceil(Number((min / incr).toFixed(6))); ticks.length < 100; i++) {
    const tick = Number((i * incr).toPrecision(15));
    if (tick > max) break;
    ticks.push(tick);
  }
  return k === 1 ? ticks : ticks.map((t) => t * k);
}

// How far apart a log axis' decades are (px), and every how many decades a power of ten has a
// label: a round number (1, 2, 3, 5, 10, 20, ...) of decades a label's space apart.  uPlot's own
// filter strides over its ticks, nine a decade: a stride of 3 labelled every decade, and 1e0 to
// 1e-15 read as sixteen labels on one another.
function decades(u, axis) {
  const key = u.axes[axis].scale, space = u.axes[axis]._space;
  const px = Math.abs(u.valToPos(1, key) - u.valToPos(10, key));
  if (!(px < space)) return { px, every: 1 };
  const wanted = Math.ceil(space / px);
  for (let p = 1; ; p *= 10) {
    for (const m of [1, 2, 3, 5]) if (m * p >= wanted) return { px, every: m * p };
  }
}

// 1 to 9 times each power of ten in the range, as uPlot's log ticks are: its own snap their step
// to its increments, which drew odd ticks past 5e31 and, below 1e-32 (where a converging f goes),
// failed on too long an array.  None past float64's largest (2e308 is Infinity, and within any
// slack of it), and each once: below 1e-308 several are held as one value (3e-324 to 7e-324 as
// 5e-324).  Decades under 10 px apart (1e-310 to 1 is 310 decades) have no room for the 2 to 9
// times, whose grid lines filled the plot: only the labelled powers of ten are ticks.
function logSplits(u, axis, min, max) {
  const { px, every } = decades(u, axis);
  const ticks = [];
  for (let k = Math.floor(Math.log10(min)); k <= Math.ceil(Math.log10(max)); k++) {
    if (px < 10 && k % every !== 0) continue;
    for (let m = 1; m < (px < 10 ? 2 : 10); m++) {
      const v = Number(`${m}e${k}`);
      if (v >= min * (1 - 1e-12) && v <= max * (1 + 1e-12) && v < Infinity && v !== ticks.at(-1)) ticks.push(v);
    }
  }
  return ticks;
}

// The powers of ten that get a label on a log axis: whole multiples of `every` decades (1e0,
// 1e-5, 1e-10); every one where the decades are a label apart, as uPlot labels them.  A range
// with fewer than two (an lr halved once, 1e-3 to 5e-4) labels its 1, 2 and 5 times a power of
// ten too: such an axis read one number or none.
function logLabels(u, ticks, axis) {
  const { every } = decades(u, axis);
  const powers = ticks.map((t) => (powerOfTen(t) && exponentOf(t) % every === 0 ? t : null));
  if (powers.filter((t) => t !== null).length >= 2) return powers;
  return ticks.map((t) => (t !== null && ["1", "2", "5"].includes(t.toExponential()[0]) ? t : null));
}

export function yAxis(extra = {}) {
  // on a log scale the powers of ten get a label (logLabels); the minor ticks stay unlabelled
  return Object.assign({
    size: axisSize, grid: { stroke: "#eef0f3" }, ticks: { show: false }, incrs: INCRS,
    splits: (u, axis, ...range) =>
      (u.scales[u.axes[axis].scale || "y"].distr === 3 ? logSplits : linearSplits)(u, axis, ...range),
    filter: (u, ticks, axis) => (u.scales[u.axes[axis].scale || "y"].distr === 3 ? logLabels(u, ticks, axis) : ticks),
    values: (u, ticks, axis) => {
      const k = unitOf(u, axis);
      return tickTexts(ticks.map((t) => (t === null ? null : t / k))); // `filter` chose the labelled ones
    },
  }, extra);
}

export function line(text, stroke, extra = {}) {
  return Object.assign({ label: text, stroke, width: 1.6, spanGaps: true, value: (u, v) => fmt(v) }, extra);
}

export const xSeries = (text) => ({ label: text, value: (u, v) => fmt(v) });

// TensorBoard's smoothing, debiased so the curve does not start at zero; nulls are skipped.
// Per kept point, or with `steps` per step: the trace keeps every step at first and then every
// 2nd, 4th, ..., and a point that stands for a gap of g steps decays the past by alpha^g, so
// that two runs of the same steps draw the same curve however long each has run (the compare
// view).  A run's own chart smooths per point, which still smooths a long run's wide strides.
export function ema(values, alpha, steps = null) {
  const out = new Array(values.length);
  let last = 0, weight = 0, previous = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) { out[i] = null; continue; }
    const decay = steps === null || previous === null ? alpha : alpha ** Math.max(1, steps[i] - previous);
    last = decay * last + (1 - decay) * v;
    weight = decay * weight + (1 - decay);
    previous = steps === null ? null : steps[i];
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
