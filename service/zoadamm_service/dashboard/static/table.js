// The sessions table: one row per session, sorted and filtered in the page.
import { $, el, show } from "./dom.js";
import { age, fmt, label, metricText, setText } from "./format.js";
import { colorOf, serverNow, state } from "./state.js";

const RUNNING_S = 10;

const isRunning = (row, now) => Boolean(row.updated && now - row.updated < RUNNING_S);

function sortValue(row, key) {
  if (key === "metric") return row.last_metric ? row.last_metric.value : null;
  if (key === "name") return label(row).toLowerCase();
  if (key === "created") return -row.created;
  if (key === "set") return setText(row.constraint, row.dim) || null;
  return row[key];
}

// Text as the filter compares it: "l2" and "linf" find the ℓ2 and ℓ∞ balls, as the API spells them.
const searchable = (text) => text.toLowerCase().replace(/ℓ/g, "l").replace(/∞/g, "inf");

function visibleRows(now) {
  const text = searchable($("filter").value.trim());
  const method = $("method-filter").value;
  const runningOnly = $("active-only").checked;
  const rows = state.rows.filter((r) =>
    (!text || searchable(`${r.name || ""} ${r.id} ${r.method} ${setText(r.constraint, r.dim)}`).includes(text)) &&
    (!method || r.method === method) && (!runningOnly || isRunning(r, now)));
  const { key, dir } = state.sort;
  return rows.sort((a, b) => {
    const x = sortValue(a, key), y = sortValue(b, key);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  });
}

const num = (text, extra = "") => el("td", { class: `num ${extra}`.trim() }, text);

function tableRow(r, now) {
  const zo = r.takes_values;
  const compared = state.compared.has(r.id);
  return el("tr", { "data-id": r.id, class: r.id === state.selected ? "selected" : null },
    el("td", {},
      el("input", { type: "checkbox", class: "cmp", checked: compared, title: "overlay in the comparison" }),
      compared ? el("span", { class: "swatch", style: { background: colorOf(r.id) } }) : null),
    // <bdi>: a direction override in a name cannot reorder the id after it
    el("td", { class: "name", title: `${label(r)} (${r.id})` },
      el("a", { class: "open", href: `#s=${r.id}` }, el("bdi", {}, label(r))), " ", el("span", { class: "id" }, r.id.slice(0, 8))),
    el("td", {}, el("span", { class: zo ? "pill zo" : "pill fo" }, zo ? "ZO" : "FO"), ` ${r.method}`,
      zo && r.difference === "central" ? ", central" : null),
    el("td", { class: "set" }, setText(r.constraint, r.dim) || "—"),
    num(fmt(r.dim)), num(zo ? fmt(r.directions) : "—"), num(fmt(r.step)), num(fmt(r.evaluations)),
    num(r.steps_per_s ? fmt(r.steps_per_s, 3) : "0", isRunning(r, now) ? "running" : ""),
    num(fmt(r.lr, 3)), num(fmt(r.mu, 3)), num(fmt(r.f)), num(metricText(r.last_metric), "metric"),
    num(age(Math.max(0, now - r.created)))); // the offset is known within a round trip: not below 0
}

// What the empty table says: why there is nothing to show.
function emptyText() {
  if (!state.loaded) return ["Loading sessions…"];
  if (state.auth === "missing") {
    return ["No API key entered: this service needs one to show its sessions. Press ",
      el("b", {}, "API key"), " and enter yours."];
  }
  if (state.auth === "refused") return ["The API key was refused. Press ", el("b", {}, "API key"), " to enter another."];
  if (state.auth === "throttled") {
    return ["Too many wrong API keys were sent from this address: try later, or press ", el("b", {}, "API key"),
      " and enter a right one, which still passes."];
  }
  return ["No sessions yet. Create one with the SDK or ", el("code", {}, "POST /v1/sessions"), "."];
}

// Text selected in the table (an id being copied) as places in rows, by session: the rebuild makes
// new elements, and the selection would be lost every refresh.  Null when there is none, or when
// it does not start and end inside rows.
function heldSelection(body) {
  const selection = document.getSelection();
  if (!selection || selection.isCollapsed || !selection.rangeCount || !body.contains(selection.anchorNode)) return null;
  const range = selection.getRangeAt(0);
  const place = (node, offset) => {
    const path = [];
    let at = node;
    for (; at && at.parentNode !== body; at = at.parentNode) path.unshift([...at.parentNode.childNodes].indexOf(at));
    return at ? { id: at.dataset.id, path, offset } : null;
  };
  const start = place(range.startContainer, range.startOffset), end = place(range.endContainer, range.endOffset);
  return start && end ? { start, end, text: selection.toString() } : null;
}

// The same text selected again in the rebuilt rows, if it is still there (a step count that
// changed under it is let go).
function reselect(body, held) {
  const find = ({ id, path }) => path.reduce((node, i) => node && node.childNodes[i],
    [...body.children].find((row) => row.dataset.id === id));
  const start = find(held.start), end = find(held.end);
  if (!start || !end) return;
  const range = document.createRange();
  try {
    range.setStart(start, held.start.offset);
    range.setEnd(end, held.end.offset);
  } catch {
    return; // an offset past the new text
  }
  if (range.toString() !== held.text) return;
  const selection = document.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

// The focused checkbox or link of a row, by session and kind: the rebuild makes new elements,
// and a keyboard user's place would go back to the page's start every refresh.
function heldFocus(body) {
  const focused = document.activeElement;
  const row = focused && focused !== body && body.contains(focused) ? focused.closest("tr") : null;
  const kind = row && ["cmp", "open"].find((name) => focused.classList.contains(name));
  return kind ? { id: row.dataset.id, kind } : null;
}

function refocus(body, { id, kind }) {
  const row = [...body.children].find((tr) => tr.dataset.id === id);
  const target = row && row.querySelector(`.${kind}`);
  if (target) target.focus({ preventScroll: true });
}

export function renderTable() {
  const now = serverNow();
  const rows = visibleRows(now);
  const older = state.total - state.rows.length; // beyond the newest the table holds
  $("count").textContent = state.auth ? "" : `${rows.length} of ${state.rows.length}` +
    (older > 0 ? ` (the newest; ${fmt(older)} older: open one at #s=ID)` : "");
  const body = $("sessions").querySelector("tbody");
  const held = heldSelection(body);
  const focused = heldFocus(body);
  show(body, rows.map((r) => tableRow(r, now)));
  if (held) reselect(body, held);
  if (focused) refocus(body, focused);
  const empty = $("empty");
  empty.hidden = state.rows.length > 0;
  show(empty, emptyText());
  document.querySelectorAll("#sessions th[data-key]").forEach((th) => {
    const sorted = th.dataset.key === state.sort.key ? state.sort.dir : 0;
    th.classList.toggle("sorted-asc", sorted === 1);
    th.classList.toggle("sorted-desc", sorted === -1);
    th.setAttribute("aria-sort", sorted === 1 ? "ascending" : sorted === -1 ? "descending" : "none");
  });
}

// The method filter's choices: every method the service has, from its answer.
export function renderMethods(methods) {
  const select = $("method-filter");
  const key = JSON.stringify(methods);
  if (!methods || select.dataset.methods === key) return;
  const picked = select.value;
  show(select, el("option", { value: "" }, "all methods"), methods.map((m) => el("option", { value: m }, m)));
  select.dataset.methods = key;
  select.value = methods.includes(picked) ? picked : "";
}
