// What the page knows and what the user chose, shared by the views.
import { COLORS } from "./charts.js";

// The sessions ticked for the comparison are kept per API key (each key sees its tenant's
// sessions), under a digest of the key, never the key: "zoadamm.compared" without a key,
// "zoadamm.compared.<digest>" with one.
const COMPARED = "zoadamm.compared";
const SESSION_ID = /^[0-9a-f]{1,64}$/;

function storedCompared(name) {
  try {
    const ids = JSON.parse(localStorage.getItem(name) || "[]");
    return new Set(Array.isArray(ids) ? ids.filter((id) => SESSION_ID.test(id)) : []);
  } catch (e) {
    return new Set();
  }
}

// SHA-256 where the page is a secure context (https, localhost); on plain http the browser has
// no crypto.subtle, and a 53-bit hash (cyrb53) names the key instead.
async function digest(key) {
  const text = `zoadamm.compared:${key}`;
  if (globalThis.crypto && crypto.subtle) {
    const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
    return [...bytes.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    h1 = Math.imul(h1 ^ text.charCodeAt(i), 2654435761);
    h2 = Math.imul(h2 ^ text.charCodeAt(i), 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16);
}

// The comparison of the sessions seen with `key` ("" for none); the answers of any request
// begun with the previous key are dropped (keyEpoch).
export async function useKey(key) {
  state.comparedName = key ? `${COMPARED}.${await digest(key)}` : COMPARED;
  state.compared = storedCompared(state.comparedName);
  state.keyEpoch += 1;
}

export const state = {
  rows: [], // the table's rows, as /v1/dashboard/sessions answers them
  total: 0, // how many sessions there are in all: the table holds the newest of them
  sort: { key: "created", dir: 1 },  // youngest first: the run just started is at the top
  selected: null, // the session shown in detail
  compared: new Set(), // the sessions ticked for the comparison (useKey reads them)
  comparedName: COMPARED, // where they are kept
  keyEpoch: 0, // the API key's changes in this tab
  data: new Map(), // id -> { info, stride, trace, metrics, nextStep, cursor } of the sessions drawn
  colors: new Map(), // id -> its place among the compared curves (slotOf)
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
  localStorage.setItem(state.comparedName, JSON.stringify([...state.compared]));
}

// A compared session's place among the curves shown, kept while it stays ticked: a place an
// unticked session left is taken again, so that the curves differ by colour first, and by dash
// only past the palette's ten colours.
function slotOf(id) {
  for (const other of state.colors.keys()) {
    if (other !== id && !state.compared.has(other)) state.colors.delete(other);
  }
  if (!state.colors.has(id)) {
    const taken = new Set(state.colors.values());
    let slot = 0;
    while (taken.has(slot)) slot++;
    state.colors.set(id, slot);
  }
  return state.colors.get(id);
}

const DASHES = [undefined, [8, 4], [2, 3], [10, 3, 2, 3]];
export const colorOf = (id) => COLORS[slotOf(id) % COLORS.length];
export const dashOf = (id) => DASHES[Math.floor(slotOf(id) / COLORS.length) % DASHES.length];

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
    start_lr: cfg.lr, f: last ? last.f : null, updated: last ? last.time : null,
  };
}
