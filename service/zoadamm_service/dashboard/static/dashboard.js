// The zoadamm dashboard: polls /v1/dashboard/sessions (the table) and
// /v1/dashboard/sessions/{id}?since=&cursor= (new trace points and metrics of the sessions
// shown), both answered from the service's shared cache, and draws them with uPlot.
import { AuthError, api, apiKey, forgetKey, remembered, saveKey } from "./api.js";
import { resizeAll } from "./charts.js";
import { renderCompare } from "./compare.js";
import { renderDetail } from "./detail.js";
import { $ } from "./dom.js";
import { age, identified } from "./format.js";
import { isSessionId, rowOf, saveCompared, state, useKey } from "./state.js";
import { renderMethods, renderTable } from "./table.js";

let timer = null;
// A session's metrics are first drawn from a series of at most this many reports spread over its
// history (a long history would be megabytes); new reports then come by cursor.
const METRIC_POINTS = 1000;

// --- session data: new points only -------------------------------------------------------------
async function refreshSession(id) {
  const epoch = state.keyEpoch;
  let d = state.data.get(id);
  const seen = Boolean(d); // read with this key before
  let said = ""; // a 404's detail
  const missing = (detail) => { said = detail; };
  let body = d ? await api(`/v1/dashboard/sessions/${id}?since=${d.nextStep}&cursor=${d.cursor}`, missing) : null;
  if (body !== null && d && (body.stride !== d.stride || body.end_cursor < d.cursor)) {
    d = null; // the service thinned its trace (or the session was replaced): start again from the kept points
  }
  if (!d) body = await api(`/v1/dashboard/sessions/${id}?points=${METRIC_POINTS}`, missing);
  if (epoch !== state.keyEpoch) return; // asked with the key before: its answer is not this key's
  if (body === null) { forget(id, seen, said); return; } // deleted, expired, another tenant's, or never there
  if (!d) {
    d = { info: body, stride: body.stride, trace: body.trace, metrics: body.metrics };
    state.data.set(id, d);
  } else {
    for (const k of Object.keys(d.trace)) d.trace[k] = d.trace[k].concat(body.trace[k]);
    // no more than the service keeps: the oldest go first, as they do there
    d.metrics = d.metrics.concat(body.metrics).slice(-(body.metric_history || Infinity));
    d.info = body;
  }
  d.cursor = body.next_cursor ?? body.end_cursor;
  const steps = d.trace.step;
  d.nextStep = steps.length ? steps[steps.length - 1] + 1 : 0;
}

// A session the service does not answer (404): out of the comparison and the detail, so it is not
// asked for again.  `seen`: it was read with this key before, and so is gone from the service;
// `said`: the 404's detail.
function forget(id, seen, said) {
  const row = rowOf(id); // while its data is still here
  const name = identified(row);
  state.data.delete(id);
  const compared = state.compared.delete(id);
  if (compared) saveCompared();
  const shown = state.selected === id;
  if (shown) {
    state.selected = null;
    history.replaceState(null, "", "#");
  }
  if (shown || compared) { // it leaves what the user looks at: say why
    $("gone-text").textContent = `The session ${name} ${goneReason(seen, said)}. ` +
      `It left the ${shown ? "detail" : "comparison"}${shown && compared ? " and the comparison" : ""}.`;
    $("gone-banner").hidden = false;
  }
}

function goneReason(seen, said) {
  // a key of another tenant sees none of the first one's sessions: they are not gone for that
  if (!seen && state.keyEpoch > 1) return "is not among the sessions of this API key";
  const where = seen ? "is no longer on the service" : "is not on the service";
  // the service's own words where it gives them: a guess would say deleted where its memory was
  // emptied by a restart
  if (said) return `${where}, which answered: ${said.replace(/\.$/, "")}`;
  return `${where}: deleted, ${seen ? "or expired" : "expired, or never there"}`;
}

// --- the loop -----------------------------------------------------------------------------------
function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = "status " + (kind || "");
}

function render() {
  renderTable();
  renderDetail();
  renderCompare();
}

function showAuthFailure(error) {
  state.loaded = true;
  state.auth = error.status === 429 ? "throttled" : apiKey() ? "refused" : "missing";
  state.rows = [];
  state.data.clear();
  const throttled = state.auth === "throttled";
  $("auth-title").textContent = throttled ? "429: too many wrong API keys were sent from this address."
    : "401: this service needs an API key.";
  $("auth-detail").textContent = throttled
    ? `The service refuses unknown keys from here for ${age(Math.ceil(error.retryAfter))}; a right key still passes.`
    : `The service answered ${error.message}. ` +
      (state.auth === "refused" ? "The key you entered was refused." : "No key has been entered yet.");
  $("auth-banner").hidden = false;
  setStatus(throttled ? "API key refused: too many wrong keys, try later" : state.auth === "refused"
    ? "API key refused" : "API key missing", "error");
  render();
}

// "asking again in 52 s", counted down each second until the next tick
let countdown = null;
function showRefusal(message, wait) {
  clearInterval(countdown); // ticks may overlap (a click while one waits): one countdown at a time
  const until = Date.now() + wait;
  const show = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    setStatus(`error: ${message}` + (left > 0 ? `; asking again in ${age(left)}` : ""), "error");
  };
  show();
  if (wait) countdown = setInterval(show, 1000);
}

async function tick() {
  clearTimeout(timer);
  clearInterval(countdown);
  const epoch = state.keyEpoch;
  let wait = 0;
  try {
    const asked = Date.now();
    const table = await api("/v1/dashboard/sessions");
    if (epoch !== state.keyEpoch) return; // the key changed meanwhile: the tick it started reads the table
    // the service read its clock about halfway through the request
    if (table && Number.isFinite(table.now)) state.clockOffset = table.now - (asked + Date.now()) / 2000;
    state.rows = table ? table.sessions : [];
    state.total = table ? table.total : 0;
    if (table) renderMethods(table.methods);
    const ids = new Set(state.compared);
    if (state.selected) ids.add(state.selected);
    await Promise.all([...ids].map(refreshSession));
    if (epoch !== state.keyEpoch) return;
    state.loaded = true;
    state.auth = null;
    $("auth-banner").hidden = true;
    setStatus(`live · ${new Date().toLocaleTimeString()}`, "live");
    render();
  } catch (error) {
    if (epoch !== state.keyEpoch) return; // an answer to the key before
    if (error instanceof AuthError) {
      showAuthFailure(error);
      return; // no polling until a key is saved: the same key again is refused again, and counted
    }
    wait = 1000 * (error.retryAfter || 0); // a 429 or 503: asked again no sooner than its Retry-After
    showRefusal(error.message, wait);
  }
  const every = Number($("refresh").value);
  if (every > 0) timer = setTimeout(tick, Math.max(every, wait));
}

function select(id) {
  state.selected = id;
  state.choice.detailLog = null;
  history.replaceState(null, "", id ? `#s=${id}` : "#");
  renderTable();
  tick();
}

function toggleCompare(id, on) {
  if (on) state.compared.add(id); else state.compared.delete(id);
  saveCompared();
  tick();
}

// --- wiring -------------------------------------------------------------------------------------
function wireTable() {
  document.querySelector("#sessions tbody").addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (!tr || !isSessionId(tr.dataset.id)) return;
    if (event.target.classList.contains("cmp")) toggleCompare(tr.dataset.id, event.target.checked);
    else if (!event.target.closest("a.open")) select(tr.dataset.id); // a link opens it by the address
  });
  document.querySelectorAll("#sessions th[data-key]").forEach((th) => {
    const sort = () => {
      const key = th.dataset.key;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : (key === "name" || key === "method" ? 1 : -1) };
      renderTable();
    };
    th.tabIndex = 0; // a column sorts from the keyboard too: Tab to it, Enter or Space
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      sort();
    });
  });
  ["filter", "method-filter", "active-only"].forEach((id) => $(id).addEventListener("input", renderTable));
}

function wireCharts() {
  $("ema").addEventListener("input", () => {
    $("ema-out").textContent = Number($("ema").value).toFixed(2);
    renderDetail();
    renderCompare();
  });
  $("logy").addEventListener("input", () => { state.choice.detailLog = $("logy").checked; renderDetail(); });
  $("compare-logy").addEventListener("input", () => { state.choice.compareLog = $("compare-logy").checked; renderCompare(); });
  $("compare-y").addEventListener("input", () => {
    state.choice.compareY = $("compare-y").value;
    state.choice.compareLog = null; // another quantity: its own span decides again
    renderCompare();
  });
  $("compare-x").addEventListener("input", renderCompare);
  $("refresh").addEventListener("input", tick);
  $("detail-close").addEventListener("click", () => select(null));
  document.addEventListener("keydown", (event) => { // Escape closes the session, as its × does
    if (event.key === "Escape" && state.selected && !$("key-dialog").open) select(null);
  });
  $("gone-close").addEventListener("click", () => { $("gone-banner").hidden = true; });
  window.addEventListener("resize", resizeAll);
}

function wireKeyDialog() {
  const dialog = $("key-dialog");
  const open = () => {
    $("key-input").value = apiKey();
    $("key-remember").checked = remembered();
    dialog.showModal();
  };
  $("key-button").addEventListener("click", open);
  $("auth-enter").addEventListener("click", open);
  // Enter in a field submits the form with its first button, "Forget key": it saves instead
  $("key-form").addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.target instanceof HTMLButtonElement) return;
    event.preventDefault();
    dialog.close("save");
  });
  dialog.addEventListener("close", async () => {
    const before = apiKey();
    if (dialog.returnValue === "save") saveKey($("key-input").value.trim(), $("key-remember").checked);
    else if (dialog.returnValue === "clear") forgetKey();
    else return;
    if (apiKey() !== before) await useKey(apiKey()); // another key: its own comparison
    state.data.clear();
    tick();
  });
}

// The session the address names (#s=ID), or null.
function hashSession() {
  const found = /^#s=([0-9a-f]+)$/.exec(location.hash);
  return found && isSessionId(found[1]) ? found[1] : null;
}

wireTable();
wireCharts();
wireKeyDialog();
// #s=ID typed or followed in an open tab changes only the hash: no reload reads it
window.addEventListener("hashchange", () => {
  if (hashSession() !== state.selected) select(hashSession());
});
state.selected = hashSession();
await useKey(apiKey());
render(); // the empty states, before the first answer (or a 401)
tick();
