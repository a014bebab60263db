// The zoadamm dashboard: polls /v1/dashboard/sessions (the table) and
// /v1/dashboard/sessions/{id}?since=&metrics_from= (new trace points and metrics of the
// sessions shown), both answered from the service's shared cache, and draws them with uPlot.
"use strict";
(() => {
  const KEY = "zoadamm.apiKey";
  const COMPARED = "zoadamm.compared";
  const COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];
  const RUNNING_S = 10;
  const $ = (id) => document.getElementById(id);

  const state = {
    rows: [], sort: { key: "created", dir: -1 }, selected: null,
    compared: new Set(JSON.parse(localStorage.getItem(COMPARED) || "[]")),
    data: new Map(), plots: new Map(), timer: null, authFailed: false, colors: new Map(),
  };

  // --- the API, with the key --------------------------------------------------------------
  class AuthError extends Error {}

  function apiKey() {
    return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
  }

  async function api(path) {
    const headers = { Accept: "application/json" };
    const key = apiKey();
    if (key) headers.Authorization = "Bearer " + key;
    const response = await fetch(path, { headers, cache: "no-store" });
    if (response.status === 401 || response.status === 403) {
      let detail = "";
      try { detail = (await response.json()).detail || ""; } catch (e) { /* not JSON */ }
      throw new AuthError(`${response.status}${detail ? ": " + detail : ""}`);
    }
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // --- formatting --------------------------------------------------------------------------
  function fmt(x, digits = 4) {
    if (x === null || x === undefined || Number.isNaN(x)) return "—";
    const a = Math.abs(x);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
    if (Number.isInteger(x)) return x.toLocaleString("en-US");
    return Number(x.toPrecision(digits)).toString();
  }

  function age(seconds) {
    if (seconds < 60) return `${Math.round(seconds)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} m ${Math.round(seconds % 60)} s`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} m`;
    return `${Math.floor(seconds / 86400)} d`;
  }

  function esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function label(row) {
    return row.name || row.id.slice(0, 8);
  }

  function colorOf(id) {
    if (!state.colors.has(id)) state.colors.set(id, COLORS[state.colors.size % COLORS.length]);
    return state.colors.get(id);
  }

  function metricText(m) {
    if (!m) return "—";
    const extra = Object.keys(m).filter((k) => !["step", "value", "lr", "mu", "time"].includes(k));
    const acc = extra.find((k) => /acc/i.test(k));
    return fmt(m.value) + (acc ? ` · ${acc.replace(/_/g, " ")} ${fmt(m[acc], 3)}` : "");
  }

  // --- the table ---------------------------------------------------------------------------
  function sortValue(row, key) {
    if (key === "metric") return row.last_metric ? row.last_metric.value : null;
    if (key === "name") return label(row).toLowerCase();
    if (key === "created") return -row.created;
    return row[key];
  }

  function visibleRows() {
    const text = $("filter").value.trim().toLowerCase();
    const method = $("method-filter").value;
    const activeOnly = $("active-only").checked;
    const now = Date.now() / 1000;
    const rows = state.rows.filter((r) =>
      (!text || `${r.name || ""} ${r.id} ${r.method}`.toLowerCase().includes(text)) &&
      (!method || r.method === method) &&
      (!activeOnly || (r.updated && now - r.updated < RUNNING_S)));
    const { key, dir } = state.sort;
    return rows.sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * dir;
    });
  }

  function renderTable() {
    const now = Date.now() / 1000;
    const rows = visibleRows();
    $("count").textContent = `${rows.length} of ${state.rows.length}`;
    $("empty").hidden = state.rows.length > 0;
    $("sessions").querySelector("tbody").innerHTML = rows.map((r) => {
      const running = r.updated && now - r.updated < RUNNING_S;
      const zo = r.method === "zo-adamm";
      return `<tr data-id="${r.id}" class="${r.id === state.selected ? "selected" : ""}">
        <td><input type="checkbox" class="cmp" ${state.compared.has(r.id) ? "checked" : ""} title="overlay in the comparison">
          ${state.compared.has(r.id) ? `<span class="swatch" style="background:${colorOf(r.id)}"></span>` : ""}</td>
        <td class="name" title="${esc(r.id)}">${esc(label(r))}<span class="id">${r.id.slice(0, 8)}</span></td>
        <td><span class="pill ${zo ? "zo" : "fo"}">${zo ? "ZO" : "FO"}</span> ${zo && r.difference === "central" ? "central" : ""}</td>
        <td class="num">${fmt(r.dim)}</td><td class="num">${zo ? r.directions : "—"}</td>
        <td class="num">${fmt(r.step)}</td><td class="num">${fmt(r.evaluations)}</td>
        <td class="num ${running ? "running" : ""}">${r.steps_per_s ? fmt(r.steps_per_s, 3) : "0"}</td>
        <td class="num">${fmt(r.lr, 3)}</td><td class="num">${fmt(r.mu, 3)}</td>
        <td class="num">${fmt(r.f)}</td><td class="num">${metricText(r.last_metric)}</td>
        <td class="num">${age(now - r.created)}</td></tr>`;
    }).join("");
    document.querySelectorAll("#sessions th[data-key]").forEach((th) => {
      th.classList.toggle("sorted-asc", th.dataset.key === state.sort.key && state.sort.dir === 1);
      th.classList.toggle("sorted-desc", th.dataset.key === state.sort.key && state.sort.dir === -1);
    });
  }

  // --- session data: new points only ---------------------------------------------------------
  async function refreshSession(id) {
    let d = state.data.get(id);
    const since = d ? d.nextStep : 0;
    const from = d ? d.metrics.length : 0;
    let body = await api(`/v1/dashboard/sessions/${id}?since=${since}&metrics_from=${from}`);
    if (body === null) { state.data.delete(id); return null; }
    if (d && (body.stride !== d.stride || body.metrics_total < from)) {
      // the service thinned its trace (or it was replaced): start again from the kept points
      body = await api(`/v1/dashboard/sessions/${id}`);
      if (body === null) { state.data.delete(id); return null; }
      d = null;
    }
    if (!d) {
      d = { info: body, stride: body.stride, trace: body.trace, metrics: body.metrics, nextStep: 0 };
      state.data.set(id, d);
    } else {
      for (const k of Object.keys(d.trace)) d.trace[k] = d.trace[k].concat(body.trace[k]);
      d.metrics = d.metrics.concat(body.metrics);
      d.info = body;
    }
    const steps = d.trace.step;
    d.nextStep = steps.length ? steps[steps.length - 1] + 1 : 0;
    return d;
  }

  function ema(values, alpha) {
    // TensorBoard's smoothing, debiased so the curve does not start at zero; nulls are skipped
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

  const positive = (values) => values.map((v) => (v !== null && v > 0 ? v : null));

  // --- charts ----------------------------------------------------------------------------------
  function plot(name, el, opts, data) {
    // rebuilt when the shape (series, scales) changes, otherwise only its data
    const shape = JSON.stringify([opts.series.map((s) => s.label), opts.scales, opts.axes && opts.axes.length]);
    let entry = state.plots.get(name);
    if (entry && entry.shape !== shape) { entry.plot.destroy(); entry = null; }
    el.dataset.points = String(data[0].length); // the browser test reads how many points are drawn
    const none = el.querySelector(".none");
    const hasData = data.slice(1).some((col) => col.some((v) => v !== null && v !== undefined));
    if (none) none.remove();
    if (!hasData) {
      if (entry) { entry.plot.destroy(); state.plots.delete(name); }
      el.insertAdjacentHTML("beforeend", `<div class="none">${opts.empty || "no points yet"}</div>`);
      return;
    }
    if (!entry) {
      const plotOpts = Object.assign({ width: Math.max(300, el.clientWidth), height: opts.height || 240 }, opts);
      entry = { plot: new uPlot(plotOpts, data, el), shape };
      state.plots.set(name, entry);
    } else {
      entry.plot.setData(data);
    }
  }

  function logScale(on) {
    return on ? { distr: 3 } : { auto: true };
  }

  function xAxis(label) {
    return { label, labelSize: 18, size: 40, grid: { stroke: "#eef0f3" }, ticks: { show: false } };
  }

  const powerOfTen = (t) => t > 0 && Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;

  function yAxis(extra = {}) {
    // on a log scale only powers of ten get a label; the minor ticks stay unlabelled
    return Object.assign({
      size: 64, grid: { stroke: "#eef0f3" }, ticks: { show: false },
      values: (u, ticks, axis) => {
        const log = u.scales[u.axes[axis].scale || "y"].distr === 3;
        return ticks.map((t) => (log && !powerOfTen(t) ? "" : fmt(t, 5)));
      },
    }, extra);
  }

  function line(labelText, stroke, extra = {}) {
    return Object.assign({ label: labelText, stroke, width: 1.6, spanGaps: true, value: (u, v) => fmt(v) }, extra);
  }

  function renderDetail() {
    const id = state.selected;
    const d = id && state.data.get(id);
    $("detail").hidden = !d;
    if (!d) return;
    const row = state.rows.find((r) => r.id === id) || d.info;
    const cfg = d.info.config;
    $("detail-title").textContent = label(Object.assign({ id }, d.info));
    $("detail-sub").textContent =
      `${cfg.method}${cfg.method === "zo-adamm" ? `, q = ${cfg.directions}, ${cfg.distribution}, ${cfg.difference}` : ""}` +
      `, d = ${fmt(cfg.dim)}, ${fmt(row.step ?? 0)} steps, ${d.info.evaluations_per_step} evaluation${d.info.evaluations_per_step > 1 ? "s" : ""}/step` +
      (d.stride > 1 ? `, every ${d.stride}th step kept` : "");
    const alpha = Number($("ema").value);
    const log = $("logy").checked;
    const t = d.trace;
    const f = log ? positive(t.f) : t.f;
    plot("f", $("chart-f"), {
      series: [{ label: "step", value: (u, v) => fmt(v) }, line("f(x)", "rgba(37,99,235,0.28)", { width: 1 }),
        line(`EMA ${alpha.toFixed(2)}`, "#1d4ed8", { width: 2.2 })],
      scales: { x: { time: false }, y: logScale(log) }, axes: [xAxis("step"), yAxis()],
      empty: "no f(x): an FO session reports gradients only",
    }, [t.step, f, ema(f, alpha)]);

    const names = [...new Set(d.metrics.flatMap((m) => Object.keys(m)))]
      .filter((k) => !["step", "lr", "mu", "time"].includes(k));
    const mSteps = d.metrics.map((m) => m.step);
    const mSeries = [{ label: "step", value: (u, v) => fmt(v) }];
    const mData = [mSteps];
    names.forEach((k, i) => {
      const isAcc = /acc/i.test(k);
      mSeries.push(line(k === "value" ? "value (validation loss)" : k, COLORS[i % COLORS.length],
        { scale: isAcc ? "acc" : "y", points: { show: true, size: 6 }, width: 2 }));
      mData.push(d.metrics.map((m) => (m[k] === undefined ? null : m[k])));
    });
    const hasAcc = names.some((k) => /acc/i.test(k));
    plot("metrics", $("chart-metrics"), {
      series: mSeries,
      scales: { x: { time: false }, y: logScale(log), acc: { auto: true } },
      axes: [xAxis("step"), yAxis()].concat(hasAcc ? [yAxis({ scale: "acc", side: 1, grid: { show: false } })] : []),
      empty: "no metrics reported yet (POST /v1/sessions/{id}/metrics)",
    }, mData);

    plot("schedule", $("chart-schedule"), {
      series: [{ label: "step", value: (u, v) => fmt(v) }, line("lr", "#16a34a", { width: 2 }),
        line("mu", "#9333ea", { width: 2, scale: "mu" })],
      scales: { x: { time: false }, y: { distr: 3 }, mu: { distr: 3 } },
      axes: [xAxis("step"), yAxis({ label: "lr", labelSize: 14 }), yAxis({ scale: "mu", side: 1, grid: { show: false }, label: "mu", labelSize: 14 })],
    }, [t.step, positive(t.lr), positive(t.mu)]);

    plot("grad", $("chart-grad"), {
      series: [{ label: "step", value: (u, v) => fmt(v) }, line("‖g‖", "rgba(234,88,12,0.3)", { width: 1 }),
        line(`‖g‖ EMA`, "#c2410c", { width: 2 }), line("spread of c (std)", "#0891b2", { width: 1.5 })],
      scales: { x: { time: false }, y: { distr: 3 } }, axes: [xAxis("step"), yAxis()],
    }, [t.step, positive(t.g_norm), positive(ema(t.g_norm, alpha)), positive(t.spread)]);
  }

  // --- comparison ------------------------------------------------------------------------------
  function compareOptions() {
    const names = new Set();
    for (const id of state.compared) {
      const d = state.data.get(id);
      if (d) d.metrics.forEach((m) => Object.keys(m).forEach((k) => names.add(k)));
    }
    ["step", "lr", "mu", "time"].forEach((k) => names.delete(k));
    const options = [["f", "f(x), EMA"], ["g_norm", "‖g‖, EMA"], ["lr", "lr"]]
      .concat([...names].sort().map((k) => [`metric:${k}`, `metric: ${k === "value" ? "value (validation loss)" : k}`]));
    const select = $("compare-y");
    const current = select.value || "f";
    const html = options.map(([v, text]) => `<option value="${v}">${esc(text)}</option>`).join("");
    if (select.dataset.html !== html) {
      select.innerHTML = html;
      select.dataset.html = html;
      select.value = options.some(([v]) => v === current) ? current : "f";
    }
  }

  function renderCompare() {
    compareOptions();
    const ids = [...state.compared].filter((id) => state.data.has(id));
    $("compare-count").textContent = ids.length ? `${ids.length} session${ids.length > 1 ? "s" : ""}` : "";
    $("compare-hint").hidden = ids.length > 0;
    const xMode = $("compare-x").value, yMode = $("compare-y").value;
    const log = $("compare-logy").checked;
    const alpha = Number($("ema").value);
    const tables = [], series = [{ label: xMode, value: (u, v) => fmt(v) }];
    for (const id of ids) {
      const d = state.data.get(id);
      const per = d.info.evaluations_per_step;
      const created = d.info.created;
      let xs, ys, isMetric = yMode.startsWith("metric:");
      if (isMetric) {
        const k = yMode.slice(7);
        const rows = d.metrics.filter((m) => m[k] !== undefined);
        xs = rows.map((m) => (xMode === "evaluations" ? m.step * per : xMode === "time" ? m.time - created : m.step));
        ys = rows.map((m) => m[k]);
      } else {
        const t = d.trace;
        xs = t.step.map((s, i) => (xMode === "evaluations" ? s * per : xMode === "time" ? t.time[i] - created : s));
        ys = yMode === "lr" ? t.lr : ema(t[yMode], alpha);
      }
      if (log) ys = positive(ys);
      // uPlot.join wants strictly increasing x per table
      const keep = xs.map((x, i) => i).filter((i) => i === 0 || xs[i] > xs[i - 1]);
      tables.push([keep.map((i) => xs[i]), keep.map((i) => ys[i])]);
      const row = state.rows.find((r) => r.id === id) || Object.assign({ id }, d.info);
      series.push(line(label(row), colorOf(id), { width: 2, points: { show: isMetric, size: 6 } }));
    }
    const el = $("chart-compare");
    if (!tables.length) {
      plot("compare", el, { series: [{}], scales: {}, empty: "tick sessions to compare them" }, [[]]);
      return;
    }
    const data = uPlot.join(tables);
    plot("compare", el, {
      height: 300, series, scales: { x: { time: false }, y: logScale(log) },
      axes: [xAxis(xMode === "evaluations" ? "function evaluations" : xMode === "time" ? "seconds since the session was created" : "step"), yAxis()],
    }, data);
  }

  // --- the loop ----------------------------------------------------------------------------------
  function setStatus(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = "status " + (kind || "");
  }

  async function tick() {
    clearTimeout(state.timer);
    try {
      const table = await api("/v1/dashboard/sessions");
      state.rows = table ? table.sessions : [];
      const ids = new Set(state.compared);
      if (state.selected) ids.add(state.selected);
      await Promise.all([...ids].map(refreshSession));
      state.authFailed = false;
      $("auth-banner").hidden = true;
      setStatus(`live · ${new Date().toLocaleTimeString()}`, "live");
      render();
    } catch (error) {
      if (error instanceof AuthError) {
        state.authFailed = true;
        $("auth-detail").textContent = `The service answered ${error.message}. ` +
          (apiKey() ? "The key you entered was refused." : "Enter a key to see its sessions.");
        $("auth-banner").hidden = false;
        setStatus("needs an API key", "error");
        return; // no polling until a key is saved
      }
      setStatus(`error: ${error.message}`, "error");
    }
    schedule();
  }

  function schedule() {
    const every = Number($("refresh").value);
    if (every > 0) state.timer = setTimeout(tick, every);
  }

  function render() {
    renderTable();
    renderDetail();
    renderCompare();
  }

  function select(id) {
    state.selected = id;
    history.replaceState(null, "", id ? `#s=${id}` : "#");
    renderTable();
    tick();
  }

  function toggleCompare(id, on) {
    if (on) state.compared.add(id); else state.compared.delete(id);
    localStorage.setItem(COMPARED, JSON.stringify([...state.compared]));
    tick();
  }

  // --- wiring ------------------------------------------------------------------------------------
  document.querySelector("#sessions tbody").addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (!tr) return;
    if (event.target.classList.contains("cmp")) toggleCompare(tr.dataset.id, event.target.checked);
    else select(tr.dataset.id);
  });
  document.querySelectorAll("#sessions th[data-key]").forEach((th) => th.addEventListener("click", () => {
    const key = th.dataset.key;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : (key === "name" || key === "method" ? 1 : -1) };
    renderTable();
  }));
  ["filter", "method-filter", "active-only"].forEach((id) => $(id).addEventListener("input", renderTable));
  ["ema", "logy"].forEach((id) => $(id).addEventListener("input", () => {
    $("ema-out").textContent = Number($("ema").value).toFixed(2);
    renderDetail();
    renderCompare();
  }));
  ["compare-x", "compare-y", "compare-logy"].forEach((id) => $(id).addEventListener("input", renderCompare));
  $("refresh").addEventListener("input", tick);
  $("detail-close").addEventListener("click", () => select(null));

  const dialog = $("key-dialog");
  const openKey = () => { $("key-input").value = apiKey(); dialog.showModal(); };
  $("key-button").addEventListener("click", openKey);
  $("auth-enter").addEventListener("click", openKey);
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "save") {
      sessionStorage.removeItem(KEY);
      localStorage.removeItem(KEY);
      const key = $("key-input").value.trim();
      if (key) ($("key-remember").checked ? localStorage : sessionStorage).setItem(KEY, key);
    } else if (dialog.returnValue === "clear") {
      sessionStorage.removeItem(KEY);
      localStorage.removeItem(KEY);
    } else {
      return;
    }
    state.data.clear();
    tick();
  });

  window.addEventListener("resize", () => {
    for (const { plot: p } of state.plots.values()) p.setSize({ width: Math.max(300, p.root.parentElement.clientWidth), height: p.height });
  });

  const fromHash = /^#s=([0-9a-f]+)$/.exec(location.hash);
  if (fromHash) state.selected = fromHash[1];
  render(); // the empty states, before the first answer (or a 401)
  tick();
})();
