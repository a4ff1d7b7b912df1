// The dashboard: a snapshot at load (/snapshot.json), then one per tick by server-sent
// events (/events). Hand-drawn canvas charts, no library: everything ships in the package.
"use strict";

const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#e16f24", "#1b7c83", "#6e7781"];
const colorOf = (models, model) => COLORS[models.indexOf(model) % COLORS.length];

function text(value, digits) {
  if (value === null || value === undefined) return "-";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits });
}

// Dollars as people read them: cents always ($0.40, $10.00), sub-cent amounts to 4 places.
function money(value) {
  if (value === null || value === undefined) return "-";
  return "$" + Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 4 });
}

function renderTable(data) {
  const body = document.querySelector("#models tbody");
  body.replaceChildren();
  for (const row of data.table) {
    const tr = document.createElement("tr");
    tr.className = [row.circuit, row.cooldown_until ? "cooling" : ""].join(" ").trim();
    tr.dataset.model = row.model;
    const circuit = row.circuit === "closed" ? "closed" : `${row.circuit.replace("_", "-")} ${row.circuit_reason || ""}`;
    const cells = [
      [row.model + (row.enabled ? "" : " (disabled)"), ""],
      [row.provider || "-", ""],
      [text(row.requests, 0), "n"],
      [row.success_rate === null ? "-" : (row.success_rate * 100).toFixed(1) + "%", "n"],
      [text(row.p50_ms, 1), "n"],
      [text(row.p95_ms, 1), "n"],
      [money(row.cost), "n"],
      [circuit, "circuit"],
      [row.cooldown_until ? new Date(row.cooldown_until).toISOString().slice(11, 19) : "-", "cooldown"],
      [text(row.selected, 0), "n"],
    ];
    cells.forEach(([value, cls], i) => {
      const td = document.createElement("td");
      if (i === 0) {
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = colorOf(data.models, row.model);
        td.append(swatch);
      }
      td.append(value);
      if (cls) td.className = cls;
      tr.append(td);
    });
    body.append(tr);
  }
}

function renderBudgets(data) {
  const rows = data.budgets || [];
  document.getElementById("budgets-section").hidden = rows.length === 0;
  const body = document.querySelector("#budgets tbody");
  body.replaceChildren();
  for (const b of rows) {
    const tr = document.createElement("tr");
    const used = b.limit > 0 ? (b.spent + b.reserved) / b.limit : 0;
    tr.className = used >= 1 ? "over" : used >= 0.8 ? "near" : "";
    tr.dataset.agentType = b.agent_type;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("i");
    fill.style.width = Math.min(100, used * 100).toFixed(1) + "%";
    bar.append(fill);
    const cells = [
      [b.agent_type, ""], [b.window, ""], [money(b.limit), "n"], [money(b.spent), "n"],
      [money(b.reserved) + ` (${b.reservations})`, "n"], [money(b.remaining), "n"],
    ];
    for (const [value, cls] of cells) {
      const td = document.createElement("td");
      td.textContent = value;
      if (cls) td.className = cls;
      tr.append(td);
    }
    const td = document.createElement("td");
    td.append(bar, " " + Math.round(used * 100) + "%");
    tr.append(td);
    body.append(tr);
  }
}

// One chart: lines per model, or stacked shares ("mix"). Returns how many points it drew.
function drawChart(canvas, data, key) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 52, R = 8, T = 8, B = 22;
  ctx.clearRect(0, 0, W, H);
  const starts = data.starts, n = starts.length;
  const x = (i) => L + (n > 1 ? (i * (W - L - R)) / (n - 1) : 0);
  let series = data.series[key];
  let max = key === "success" || key === "mix" ? 1 : 0;
  if (key === "mix") {  // each bucket's selections as shares, stacked
    const totals = starts.map((_, i) => data.models.reduce((s, m) => s + (series[m][i] || 0), 0));
    const stacked = {};
    const base = new Array(n).fill(0);
    for (const m of data.models) {
      stacked[m] = series[m].map((v, i) => (totals[i] ? (base[i] += (v || 0) / totals[i]) : null));
    }
    series = stacked;
  } else if (key !== "success") {
    for (const m of data.models) for (const v of series[m]) if (v !== null && v > max) max = v;
    if (max === 0) max = 1;
  }
  const y = (v) => T + (H - T - B) * (1 - v / max);
  ctx.strokeStyle = "#d8dee4"; ctx.fillStyle = "#57606a"; ctx.font = "11px system-ui"; ctx.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4, yy = y(v);
    ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(W - R, yy); ctx.stroke();
    const label = key === "success" || key === "mix" ? Math.round(v * 100) + "%" : text(v, v < 1 ? 4 : 0);
    ctx.fillText(label, 2, yy + 4);
  }
  [[0, "left"], [Math.floor(n / 2), "center"], [n - 1, "right"]].forEach(([i, align]) => {
    ctx.textAlign = align;
    ctx.fillText(new Date(starts[i] * 1000).toISOString().slice(11, 16), x(i), H - 6);
  });
  ctx.textAlign = "left";
  let points = 0;
  const models = key === "mix" ? [...data.models].reverse() : data.models;
  for (const m of models) {
    const values = series[m];
    ctx.strokeStyle = colorOf(data.models, m); ctx.fillStyle = ctx.strokeStyle; ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      if (pen) ctx.lineTo(x(i), y(v)); else ctx.moveTo(x(i), y(v));
      pen = true; points++;
      ctx.fillRect(x(i) - 1.5, y(v) - 1.5, 3, 3);
    });
    ctx.stroke();
  }
  canvas.dataset.points = String(points);
  canvas.dataset.ink = String(ink(ctx, W, H));
  return points;
}

// How many pixels the chart painted: the headless-browser test reads it off the DOM.
function ink(ctx, W, H) {
  const pixels = ctx.getImageData(0, 0, W, H).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}

function renderLegend(data) {
  const legend = document.getElementById("legend");
  legend.replaceChildren(...data.models.map((m) => {
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.className = "swatch"; swatch.style.background = colorOf(data.models, m);
    span.append(swatch, m);
    return span;
  }));
}

function render(data) {
  document.getElementById("as-of").textContent = "as of " + data.as_of.slice(0, 19).replace("T", " ") + " UTC";
  document.getElementById("window").textContent = `(scorecard window: last ${data.window_s / 60} min)`;
  renderTable(data);
  renderBudgets(data);
  renderLegend(data);
  let drawn = 0;
  for (const key of ["success", "p95", "spend", "mix"]) drawn += drawChart(document.getElementById("chart-" + key), data, key);
  document.body.dataset.charts = drawn > 0 ? "drawn" : "empty";
  document.body.dataset.models = String(data.models.length);
}

function connect() {
  const status = document.getElementById("status");
  const events = new EventSource("events");
  events.onopen = () => { status.textContent = "live"; status.className = "status live"; };
  events.onerror = () => { status.textContent = "reconnecting…"; status.className = "status down"; };
  events.onmessage = (message) => {
    document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
    render(JSON.parse(message.data));
  };
}

fetch("snapshot.json").then((r) => r.json()).then(render).finally(connect);
