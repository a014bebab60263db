// What the page knows and what the user chose, shared by the views.
import { COLORS } from "./charts.js";

const COMPARED = "zoadamm.compared";
const SESSION_ID = /^[0-9a-f]{1,64}$/;

function storedCompared() {
  try {
    const ids = JSON.parse(localStorage.getItem(COMPARED) || "[]");
    return new Set(Array.isArray(ids) ? ids.filter((id) => SESSION_ID.test(id)) : []);
  } catch (e) {
    return new Set();
  }
}

export const state = {
  rows: [], // the table's rows, as /v1/dashboard/sessions answers them
  total: 0, // how many sessions there are in all: the table holds the newest of them
  sort: { key: "created", dir: -1 },
  selected: null, // the session shown in detail
  compared: storedCompared(), // the sessions ticked for the comparison
  data: new Map(), // id -> { info, stride, trace, metrics, nextStep, cursor } of the sessions drawn
  colors: new Map(),
  clockOffset: 0, // the service's clock minus this browser's, in seconds
  loaded: false, // the service answered once (with sessions or a 401)
  auth: null, // null when the service answers; "missing" (no key entered) or "refused"
  // what the user picked; null leaves the choice to the page
  choice: { detailLog: null, compareLog: null, compareY: null },
};

export const isSessionId = (id) => SESSION_ID.test(id);

// Now on the service's clock: a session's times (created, updated) are the service's, and a
// browser's clock may be minutes off.
export const serverNow = () => Date.now() / 1000 + state.clockOffset;

export function saveCompared() {
  localStorage.setItem(COMPARED, JSON.stringify([...state.compared]));
}

export function colorOf(id) {
  if (!state.colors.has(id)) state.colors.set(id, COLORS[state.colors.size % COLORS.length]);
  return state.colors.get(id);
}

// Past the palette's ten colours a curve's colour repeats: each round of them gets its own dash.
const DASHES = [undefined, [8, 4], [2, 3], [10, 3, 2, 3]];
export function dashOf(id) {
  colorOf(id);
  const round = Math.floor([...state.colors.keys()].indexOf(id) / COLORS.length);
  return DASHES[round % DASHES.length];
}

// The row of session `id`, or one read from its detail answer: a session beyond the table's
// newest has no row, and its answer holds the method in `config` and the step in `last` (the
// newest trace point), not where a row holds them.
export function rowOf(id) {
  const row = state.rows.find((r) => r.id === id);
  if (row) return row;
  const d = state.data.get(id);
  return d ? detailRow(d.info) : { id };
}

function detailRow(info) {
  const cfg = info.config, last = info.last;
  const step = last ? last.step + 1 : 0; // as the table counts it
  return {
    id: info.id, name: info.name, created: info.created, method: cfg.method, constraint: cfg.constraint,
    takes_values: info.takes_values, dim: cfg.dim, directions: cfg.directions, difference: cfg.difference,
    distribution: cfg.distribution, evaluations_per_step: info.evaluations_per_step,
    step, evaluations: step * info.evaluations_per_step, lr: last ? last.lr : cfg.lr, mu: last ? last.mu : cfg.mu,
    f: last ? last.f : null, updated: last ? last.time : null,
  };
}
