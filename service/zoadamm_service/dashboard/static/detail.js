// One session in detail: f(x), its reported metrics, lr and mu, the gradient estimate.
import { COLORS, ema, line, logNote, logScale, plot, positive, spansDecades, xAxis, xSeries, yAxis } from "./charts.js";
import { $ } from "./dom.js";
import { distinct, fmt, isAccuracy, label, looks, metricLabel, metricNames, metricOf, ordinal, setText } from "./format.js";
import { rowOf, state } from "./state.js";

const BEYOND = "|f| > 3.4e38, which the trace keeps as null";

function subtitle(d, row) {
  const cfg = d.info.config;
  const per = d.info.evaluations_per_step;
  const zo = row.takes_values;
  const set = setText(cfg.constraint, cfg.dim);
  return `${cfg.method}${zo ? `, q = ${fmt(cfg.directions)}, ${cfg.distribution}, ${cfg.difference}` : ""}` +
    (set ? `, X = ${set}` : "") +
    `, d = ${fmt(cfg.dim)}, ${fmt(row.step ?? 0)} steps, ${fmt(per)} evaluation${per > 1 ? "s" : ""}/step` +
    (d.stride > 1 ? `, every ${ordinal(d.stride)} step kept` : "");
}

function fChart(t, alpha, log, zo) {
  const f = log ? positive(t.f) : t.f;
  const logged = log ? logNote([t.f]) : "";
  // a ZO step's f(x) is null in the trace only when float32 cannot hold it (1e39)
  const huge = zo ? t.f.filter((v) => v === null).length : 0;
  const beyond = huge && huge < t.f.length ? `${fmt(huge)} of ${fmt(t.f.length)} kept steps told an f(x) ` +
    `beyond float32's range (${BEYOND}): not drawn` : "";
  plot("f", $("chart-f"), {
    series: [xSeries("step"), line("f(x)", "rgba(37,99,235,0.28)", { width: 1 }),
      line(`EMA ${alpha.toFixed(2)}`, "#1d4ed8", { width: 2.2 })],
    scales: { x: { time: false }, y: logScale(log) }, axes: [xAxis("step"), yAxis()],
    note: [beyond, logged].filter(Boolean).join("; "), empty: fEmpty(zo, t, huge, logged),
  }, [t.step, f, ema(f, alpha)]);
}

// Why the f(x) chart draws nothing.
function fEmpty(zo, t, huge, logged) {
  if (!zo) return "no f(x): an FO session reports gradients only";
  if (!t.step.length) return "no f(x) yet: no step has been told";
  if (huge === t.f.length) return `no f(x) to draw: the steps told an f(x) beyond float32's range (${BEYOND})`;
  if (logged) return "no f(x) > 0 to draw on a log axis (untick log y)";
  return "no f(x) to draw";
}

// Log y is decided from the metrics' own values (on the left axis; accuracy keeps its linear
// one), unless the user picked: f(x) spanning decades says nothing of a loss that reached 0.
function metricsChart(metrics, picked) {
  const { names, more } = metricNames(metrics);
  const columns = names.map((k) => metrics.map((m) => metricOf(m, k)));
  const onLeft = columns.filter((col, i) => !isAccuracy(names[i]));
  const log = picked ?? spansDecades(onLeft);
  const unseen = more ? `${fmt(more)} more metric names reported: the first ${names.length} are drawn` : "";
  const logged = log ? logNote(onLeft) : "";
  const note = [logged, unseen].filter(Boolean).join("; ");
  const series = [xSeries("step")];
  const data = [metrics.map((m) => m.step)];
  const labels = distinct(names.map(metricLabel));
  names.forEach((k, i) => {
    series.push(line(labels[i], COLORS[i % COLORS.length],
      { scale: isAccuracy(k) ? "acc" : "y", points: { show: true, size: 6 }, width: 2 }));
    data.push(log && !isAccuracy(k) ? positive(columns[i]) : columns[i]);
  });
  const accuracyAxis = names.some(isAccuracy)
    ? [yAxis({ scale: "acc", side: 1, grid: { show: false }, label: "accuracy", labelSize: 14 })] : [];
  plot("metrics", $("chart-metrics"), {
    series, scales: { x: { time: false }, y: logScale(log), acc: { auto: true } },
    axes: [xAxis("step"), yAxis(), ...accuracyAxis], note,
    empty: logged ? "no metric > 0 to draw on a log axis (untick log y)"
      : "no metrics reported yet (POST /v1/sessions/{id}/metrics)",
  }, data);
}

// lr and mu each on an axis of its own: equal, or moving together, the two curves lie on one
// another, so mu is dashed, over a wider lr that shows around and between its dashes.
// An FO session's steps take no mu: its chart has lr alone.
function scheduleChart(t, zo) {
  $("schedule-caption").textContent = zo ? "lr and mu" : "lr";
  const mu = zo ? [line("mu", "#9333ea", { width: 2, scale: "mu", dash: [6, 5] })] : [];
  plot("schedule", $("chart-schedule"), {
    series: [xSeries("step"), line("lr", "#16a34a", { width: 3.5 }), ...mu],
    scales: { x: { time: false }, y: logScale(true), mu: logScale(true) },
    legend: { markers: { dash: (u, i) => (u.series[i].dash ? "dashed" : "solid") } },
    axes: [xAxis("step"), yAxis({ label: "lr", labelSize: 14 }),
      ...(zo ? [yAxis({ scale: "mu", side: 1, grid: { show: false }, label: "mu", labelSize: 14 })] : [])],
  }, zo ? [t.step, positive(t.lr), positive(t.mu)] : [t.step, positive(t.lr)]);
}

// Always on a log axis: a ‖g‖ of 0 (every probe gave f(x) itself) is said, and left out of the
// EMA as of the curve, which would otherwise decay smoothly as a converging run's does.
function gradientChart(t, alpha, zo) {
  $("grad-caption").textContent = zo ? "gradient estimate: ‖g‖ and spread (std) of the q coefficients"
    : "gradient: ‖g‖ of the gradients told";
  const g = positive(t.g_norm);
  const series = [xSeries("step"), line("‖g‖", "rgba(234,88,12,0.3)", { width: 1 }), line("‖g‖ EMA", "#c2410c", { width: 2 })];
  const data = [t.step, g, ema(g, alpha)];
  if (zo) {
    series.push(line("spread of c (std)", "#0891b2", { width: 1.5 }));
    data.push(positive(t.spread));
  }
  const logged = logNote(zo ? [t.g_norm, t.spread] : [t.g_norm]);
  plot("grad", $("chart-grad"), {
    series, scales: { x: { time: false }, y: logScale(true) }, axes: [xAxis("step"), yAxis()], note: logged,
    empty: !t.step.length ? "no steps told yet" : "no ‖g‖ > 0 to draw on this log axis: every estimate was 0 " +
      "(each probe gave f(x) itself: a mu below what f resolves?)",
  }, data);
}

export function renderDetail() {
  const id = state.selected;
  const d = id && state.data.get(id);
  $("detail").hidden = !d;
  if (!d) return;
  const row = rowOf(id);
  $("detail-title").textContent = label(row);
  // the id beside a name, which another session may have taken too, or one that looks alike
  $("detail-id").textContent = looks(row.name) ? row.id.slice(0, 8) : "";
  $("detail-sub").textContent = subtitle(d, row);
  const alpha = Number($("ema").value);
  // until the user picks, each chart decides from its own values; the box shows f(x)'s choice
  const log = state.choice.detailLog ?? spansDecades([d.trace.f]);
  $("logy").checked = log;
  fChart(d.trace, alpha, log, row.takes_values);
  metricsChart(d.metrics, state.choice.detailLog);
  scheduleChart(d.trace, row.takes_values);
  gradientChart(d.trace, alpha, row.takes_values);
}
