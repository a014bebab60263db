// Ticked sessions overlaid on one chart: f(x), ‖g‖, lr or a reported metric, against function
// evaluations, steps or wall time.
import { ema, line, logScale, plot, positive, spansDecades, xAxis, xSeries, yAxis } from "./charts.js";
import { $, el, show } from "./dom.js";
import { distinct, fmt, identified, isolated, label, looks, methodText, metricLabel, metricNames as namesOf, metricOf, mimics }
  from "./format.js";
import { colorOf, dashOf, rowOf, state } from "./state.js";

const TRACE_CHOICES = [["f", "f(x), EMA"], ["g_norm", "‖g‖, EMA"], ["lr", "lr"]];
const X_LABELS = { evaluations: "function evaluations", step: "step", time: "seconds since the session was created" };

const comparedData = () => [...state.compared].filter((id) => state.data.has(id)).map((id) => [id, state.data.get(id)]);

// The metrics a session's chart draws (the first ``MAX_METRICS`` it reported)
const metricNames = (d) => new Set(namesOf(d.metrics).names);

// What the comparison shows unless the user picks: f(x) unless an FO session is ticked (it has
// none; a ZO session without a step yet has none so far, and draws its curve once it steps);
// then a metric every ticked session reports (the validation loss first), else ‖g‖.
function automaticY(sessions) {
  if (sessions.every(([id]) => rowOf(id).takes_values !== false)) return "f";
  const shared = sessions.map(([, d]) => metricNames(d)).reduce((a, b) => new Set([...a].filter((k) => b.has(k))));
  if (shared.has("value")) return "metric:value";
  const first = [...shared].sort()[0];
  return first === undefined ? "g_norm" : `metric:${first}`;
}

function renderChoices(sessions) {
  const names = new Set(sessions.flatMap(([, d]) => [...metricNames(d)]));
  const sorted = [...names].sort();
  const texts = distinct(TRACE_CHOICES.map(([, text]) => text).concat(sorted.map((k) => `metric: ${metricLabel(k)}`)));
  const choices = TRACE_CHOICES.map(([value], i) => [value, texts[i]])
    .concat(sorted.map((k, i) => [`metric:${k}`, texts[TRACE_CHOICES.length + i]]));
  const select = $("compare-y");
  const key = JSON.stringify(choices);
  if (select.dataset.choices !== key) {
    show(select, choices.map(([value, text]) => el("option", { value }, text)));
    select.dataset.choices = key;
  }
  const picked = state.choice.compareY;
  const y = picked && choices.some(([v]) => v === picked) ? picked : automaticY(sessions);
  select.value = y;
  return y;
}

// One session's [xs, ys] for the chosen axes; xs strictly increasing, as uPlot.join wants.
function columns(d, xMode, yMode, alpha) {
  const per = d.info.evaluations_per_step;
  const created = d.info.created;
  const xOf = (step, time) => (xMode === "evaluations" ? step * per : xMode === "time" ? time - created : step);
  let xs, ys;
  if (yMode.startsWith("metric:")) {
    const k = yMode.slice(7);
    const rows = d.metrics.filter((m) => metricOf(m, k) !== null);
    xs = rows.map((m) => xOf(m.step, m.time));
    ys = rows.map((m) => metricOf(m, k));
  } else {
    const t = d.trace;
    xs = t.step.map((s, i) => xOf(s, t.time[i]));
    ys = yMode === "lr" ? t.lr : ema(t[yMode], alpha, t.step);
  }
  const keep = xs.map((x, i) => i).filter((i) => i === 0 || xs[i] > xs[i - 1]);
  return [keep.map((i) => xs[i]), keep.map((i) => ys[i])];
}

export function renderCompare() {
  const sessions = comparedData();
  const yMode = renderChoices(sessions);
  $("compare-count").textContent = sessions.length ? `${sessions.length} session${sessions.length > 1 ? "s" : ""}` : "";
  $("compare-hint").hidden = sessions.length > 0;
  const note = sessions.length && yMode !== "f" && state.choice.compareY === null;
  $("compare-note").textContent = note ? "FO sessions are ticked: they have no f(x), as they report gradients only." : "";
  const chart = $("chart-compare");
  if (!sessions.length) {
    plot("compare", chart, { series: [{}], scales: {}, empty: "tick sessions to compare them" }, [[]]);
    return;
  }
  const xMode = $("compare-x").value;
  const alpha = Number($("ema").value);
  const tables = sessions.map(([, d]) => columns(d, xMode, yMode, alpha));
  const log = state.choice.compareLog ?? spansDecades(tables.map(([, ys]) => ys));
  $("compare-logy").checked = log;
  // a name two ticked sessions share, two names that look alike, and a name that may pass for
  // another's (``mimics``) read with the start of each one's id
  const looked = sessions.map(([id]) => looks(label(rowOf(id))));
  const named = (row) => {
    const look = looks(label(row));
    return looked.indexOf(look) !== looked.lastIndexOf(look) || mimics(row.name) ? identified(row) : isolated(row);
  };
  const series = [xSeries(xMode)].concat(sessions.map(([id]) =>
    // the method, X and starting lr in the legend: methods, or an lr grid, on one problem side by side
    line(`${named(rowOf(id))} · ${methodText(rowOf(id))} · lr ${fmt(rowOf(id).start_lr)}`, colorOf(id),
      { width: 2, dash: dashOf(id), points: { show: yMode.startsWith("metric:"), size: 6 } })));
  const data = uPlot.join(log ? tables.map(([xs, ys]) => [xs, positive(ys)]) : tables);
  plot("compare", chart, {
    height: 300, series, scales: { x: { time: false }, y: logScale(log) },
    legend: { markers: { dash: (u, i) => (u.series[i].dash ? "dashed" : "solid") } }, // a dashed curve's key too
    axes: [xAxis(X_LABELS[xMode], xMode !== "time"), // steps and evaluations are whole numbers
      yAxis({ label: $("compare-y").selectedOptions[0].textContent, labelSize: 18 })],
  }, data);
}
