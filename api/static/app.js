// logml dashboard: reads /api/v1 and draws everything itself (inline SVG, no libraries, no CDN).
// Every number is written with a data-* attribute too, so the browser test can compare the
// page with the database without parsing formatted text.
"use strict";

const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
const HOURS = 48;
const PAGE_SIZE = 25;
const COMPARISON_DAYS = 30;
const HEALTH_DAYS = 30;
const SVG = "http://www.w3.org/2000/svg";

const state = { window: "24h", cursor: null, newestLogAt: null };

async function api(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) query.append(key, value);
  }
  const qs = query.toString();
  const response = await fetch(qs ? `${path}?${qs}` : path);
  if (response.status === 401) {
    // signed out (the session ended or its token was revoked): sign in again, then come back
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
    throw new Error("sign-in required");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

const $ = (id) => document.getElementById(id);
const number = (n) => Number(n).toLocaleString("en-US");
const percent = (p) => `${Number(p).toFixed(2)}%`;

function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function setValue(id, value, text) {
  const el = $(id);
  el.dataset.value = value;
  el.textContent = text;
}

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function showBanner(message) {
  const banner = $("banner");
  banner.textContent = message;
  banner.hidden = !message;
}

function empty(container, message) {
  container.replaceChildren(el("div", { class: "empty" }, message));
}

// --- status header and cards -------------------------------------------------------------
async function loadStatus() {
  const pill = $("state");
  let status;
  try {
    status = await api("/api/v1/status");
  } catch (error) {
    pill.textContent = "offline";
    pill.className = "pill error";
    showBanner(`The database cannot be reached: ${error.message}`);
    return false;
  }
  if (status.state !== "ready") {
    pill.textContent = "not initialised";
    pill.className = "pill warn";
    showBanner(`No results yet: ${status.message}`);
    return false;
  }
  pill.textContent = status.predictions_available ? "ready" : "no predictions";
  pill.className = status.predictions_available ? "pill ready" : "pill warn";
  $("last-update").textContent = when(status.last_run_at);
  $("model-version").textContent = status.active_model_version || "–";
  $("next-run").textContent = when(status.next_run_due_at);
  setValue("card-scored", status.total_predictions, number(status.total_predictions));
  setValue("card-anomalies", status.anomaly_count, number(status.anomaly_count));
  setValue("card-anomaly-rate", status.anomaly_rate, percent(status.anomaly_rate));
  setValue("card-high", status.high_severity_count, number(status.high_severity_count));
  $("card-scored-hint").textContent =
    `by model ${status.active_model_version}, newest log ${when(status.latest_log_at)}`;
  showFreshness(status);
  state.newestLogAt = status.latest_log_at;
  return true;
}

// When the newest log arrived and whether scoring is behind it (by log ids, not the clock).
function showFreshness(status) {
  const newest = $("newest-log");
  newest.textContent = when(status.newest_log_arrived_at || status.newest_log_at);
  newest.title = `logged ${when(status.newest_log_at)}; arrived ${when(status.newest_log_arrived_at)}`;
  const pill = $("scoring");
  pill.dataset.behind = String(status.scoring_behind);
  pill.dataset.unscored = status.unscored_logs ?? "";
  if (status.scoring_behind) {
    const count = `${number(status.unscored_logs)}${status.unscored_logs_capped ? "+" : ""}`;
    pill.textContent = `behind: ${count} unscored`;
    pill.className = "pill warn";
  } else {
    pill.textContent = "up to date";
    pill.className = "pill ready";
  }
  pill.title = `newest scored log: ${when(status.newest_scored_log_at)}`;
}

// --- window stats: severity bars, disagreements card, level matrix ------------------------
async function loadWindow() {
  const [stats, levels] = await Promise.all([
    api("/api/v1/stats", { window: state.window }),
    api("/api/v1/stats/levels", { window: state.window }),
  ]);
  document.querySelectorAll(".window-label").forEach((node) => {
    node.textContent = state.window;
  });
  $("window-range").textContent = stats.window_start
    ? `${when(stats.window_start)} → ${when(stats.window_end)} · ${number(stats.predictions)} logs`
    : "no data in this window";
  setValue("card-disagreements", stats.level_disagreements, number(stats.level_disagreements));
  fillSeverityFilter(stats.by_severity);
  drawSeverity(stats);
  drawLevels(levels.pairs);
}

// The API lists every severity, worst first (var severities of dbt_project.yml).
function fillSeverityFilter(bySeverity) {
  const select = document.querySelector("#filters select[name=severity]");
  if (select.options.length > 1) return;
  for (const { severity } of bySeverity) select.append(el("option", {}, severity));
}

function drawSeverity(stats) {
  const container = $("chart-severity");
  if (!stats.predictions) return empty(container, "no predictions in this window");
  const max = Math.max(...stats.by_severity.map((row) => row.predictions), 1);
  const width = 520, row = 38, left = 70, right = 120;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${row * stats.by_severity.length}` });
  stats.by_severity.forEach(({ severity, predictions: count }, i) => {
    const y = i * row;
    const g = svgEl("g", { "data-severity": severity, "data-count": count });
    g.append(svgEl("text", { x: 0, y: y + 23 }, severity));
    g.append(svgEl("rect", { x: left, y: y + 8, width: width - left - right, height: 22, rx: 5, fill: "#1d2638" }));
    const barWidth = ((width - left - right) * count) / max;
    g.append(svgEl("rect", { x: left, y: y + 8, width: Math.max(barWidth, count ? 2 : 0), height: 22, rx: 5, class: `sev-${severity}` }));
    const share = (100 * count) / stats.predictions;
    g.append(svgEl("text", { x: width - right + 10, y: y + 23, class: "value-label" }, `${number(count)} · ${share.toFixed(1)}%`));
    svg.append(g);
  });
  container.replaceChildren(svg);
}

function drawLevels(pairs) {
  const container = $("chart-levels");
  if (!pairs.length) return empty(container, "no predictions in this window");
  const logged = [...new Set(pairs.map((p) => p.logged_level))].sort(
    (a, b) => levelRank(a) - levelRank(b),
  );
  const counts = new Map(pairs.map((p) => [`${p.logged_level}|${p.predicted_level}`, p.predictions]));
  const max = Math.max(...pairs.map((p) => p.predictions), 1);
  const table = el("table", { class: "matrix" });
  const head = el("tr");
  head.append(el("th", {}, "logged ↓ / predicted →"));
  LEVELS.forEach((level) => head.append(el("th", {}, level)));
  table.append(head);
  for (const level of logged) {
    const tr = el("tr");
    tr.append(el("th", {}, level));
    for (const predicted of LEVELS) {
      const count = counts.get(`${level}|${predicted}`) || 0;
      const agree = level === predicted;
      const alpha = count ? 0.15 + (0.75 * count) / max : 0;
      const colour = agree ? `rgba(81, 207, 102, ${alpha})` : `rgba(255, 212, 59, ${alpha})`;
      const td = el("td", {
        "data-logged": level,
        "data-predicted": predicted,
        "data-count": count,
        class: agree ? "agree" : "",
        style: `background:${colour}`,
      }, count ? number(count) : "·");
      tr.append(td);
    }
    table.append(tr);
  }
  table.append(el("caption", {}, "green: the model agrees with the logged level"));
  container.replaceChildren(table);
}

function levelRank(level) {
  const i = LEVELS.indexOf(level);
  return i < 0 ? LEVELS.length : i;
}

// --- hourly chart: anomalies as bars, logs scored as a line --------------------------------
async function loadHourly() {
  const { hours } = await api("/api/v1/stats/hourly", { hours: HOURS });
  $("hours-label").textContent = HOURS;
  const container = $("chart-hourly");
  if (!hours.length) return empty(container, "no predictions yet");
  const start = Date.parse(hours[0].hour);
  const slots = Math.round((Date.parse(hours[hours.length - 1].hour) - start) / 3600000) + 1;
  const width = 1100, height = 230, left = 44, right = 56, top = 14, bottom = 30;
  const plotW = width - left - right, plotH = height - top - bottom;
  const slotW = plotW / slots;
  const maxAnomalies = 4 * niceStep(Math.max(...hours.map((h) => h.anomalies)) / 4);
  const maxScored = 4 * niceStep(Math.max(...hours.map((h) => h.predictions)) / 4);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}` });
  for (let i = 0; i <= 4; i++) {
    const y = top + (plotH * i) / 4;
    svg.append(svgEl("line", { x1: left, x2: width - right, y1: y, y2: y, stroke: "#2a3550" }));
    svg.append(svgEl("text", { x: left - 8, y: y + 4, "text-anchor": "end" }, number((maxAnomalies * (4 - i)) / 4)));
    svg.append(svgEl("text", { x: width - right + 8, y: y + 4 }, number((maxScored * (4 - i)) / 4)));
  }
  const points = [];
  for (const h of hours) {
    const slot = Math.round((Date.parse(h.hour) - start) / 3600000);
    const x = left + slot * slotW;
    const barH = (plotH * h.anomalies) / maxAnomalies;
    svg.append(svgEl("rect", {
      x: x + slotW * 0.15, y: top + plotH - barH, width: Math.max(slotW * 0.7, 1), height: barH,
      rx: 2, class: "bar-anomaly", "data-hour": h.hour, "data-anomalies": h.anomalies,
      "data-predictions": h.predictions,
    }));
    points.push(`${x + slotW / 2},${top + plotH - (plotH * h.predictions) / maxScored}`);
  }
  svg.append(svgEl("polyline", { points: points.join(" "), fill: "none", stroke: "#6ea8fe", "stroke-width": 2, opacity: 0.8 }));
  const every = Math.max(1, Math.ceil(slots / 8));
  for (let slot = 0; slot < slots; slot += every) {
    const label = new Date(start + slot * 3600000).toISOString().slice(5, 13).replace("T", " ");
    svg.append(svgEl("text", { x: left + slot * slotW + slotW / 2, y: height - 8, "text-anchor": "middle" }, `${label}h`));
  }
  svg.append(svgEl("text", { x: left, y: 10 }, "anomalies (bars)"));
  svg.append(svgEl("text", { x: width - right, y: 10, "text-anchor": "end" }, "logs scored (line)"));
  container.replaceChildren(svg);
}

// The smallest of 1, 2, 5 x 10^k (at least 1: counts are whole) that is >= raw, so the four
// gridlines of a chart fall on round, distinct values.
function niceStep(raw) {
  let step = 1;
  while (step < raw) {
    for (const factor of [2, 2.5, 2]) {
      step *= factor;
      if (step >= raw) break;
    }
  }
  return step;
}

// --- champion vs challenger: versions with roles, agreement and anomaly rates per day --------
const share = (x, digits = 1) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(digits)}%`);

async function loadComparison() {
  const [{ versions }, comparison] = await Promise.all([
    api("/api/v1/models"),
    api("/api/v1/models/comparison", { days: COMPARISON_DAYS }),
  ]);
  $("versions").replaceChildren(...versions.map((v) => {
    const item = el("li", { class: v.role, "data-version": v.model_version, "data-role": v.role });
    item.append(el("strong", {}, v.model_version), el("span", { class: "role" }, v.role));
    item.title = `trained ${when(v.trained_at)} on ${number(v.training_rows)} rows;`
      + ` last action: ${v.last_action || "none"} ${v.last_action_at ? when(v.last_action_at) : ""}`;
    return item;
  }));
  const { baseline_version: baseline, candidate_version: candidate, rows } = comparison;
  const role = (r) => r || "unregistered";
  $("comparison-pair").textContent = rows.length
    ? `${baseline} (${role(comparison.baseline_role)}) vs ${candidate}`
      + ` (${role(comparison.candidate_role)}), the last ${rows.length} days both scored`
    : "no two versions have scored the same logs yet: export a challenger";
  document.querySelectorAll(".baseline-name").forEach((n) => { n.textContent = baseline || "baseline"; });
  document.querySelectorAll(".candidate-name").forEach((n) => { n.textContent = candidate || "candidate"; });
  $("comparison").dataset.pair = rows.length ? `${baseline}|${candidate}` : "";
  $("comparison").querySelector("tbody").replaceChildren(...rows.map(comparisonRow));
  drawComparison(rows);
}

function comparisonRow(r) {
  const tr = el("tr", {
    "data-day": r.day,
    "data-logs": r.logs_compared,
    "data-level-agreement": r.level_agreement,
    "data-anomaly-agreement": r.anomaly_agreement,
    "data-baseline-rate": r.baseline_anomaly_rate,
    "data-candidate-rate": r.candidate_anomaly_rate,
  });
  const cells = [
    r.day,
    number(r.logs_compared),
    share(r.level_agreement),
    share(r.anomaly_agreement),
    share(r.baseline_anomaly_rate, 2),
    share(r.candidate_anomaly_rate, 2),
    `${share(r.baseline_level_accuracy)} / ${share(r.candidate_level_accuracy)}`,
    `${share(r.baseline_anomaly_f1)} / ${share(r.candidate_anomaly_f1)}`,
  ];
  for (const text of cells) tr.append(el("td", {}, text));
  return tr;
}

// Anomaly rates of both versions as lines on the left axis, level agreement on the right.
function drawComparison(rows) {
  const container = $("chart-comparison");
  if (!rows.length) return empty(container, "nothing to compare yet");
  const width = 1100, height = 200, left = 50, right = 56, top = 14, bottom = 28;
  const plotW = width - left - right, plotH = height - top - bottom;
  const slotW = plotW / rows.length;
  const rates = rows.flatMap((r) => [r.baseline_anomaly_rate, r.candidate_anomaly_rate]);
  const maxRate = (4 * niceStep((100 * Math.max(...rates)) / 4)) / 100;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}` });
  for (let i = 0; i <= 4; i++) {
    const y = top + (plotH * i) / 4;
    svg.append(svgEl("line", { x1: left, x2: width - right, y1: y, y2: y, stroke: "#2a3550" }));
    svg.append(svgEl("text", { x: left - 8, y: y + 4, "text-anchor": "end" }, share((maxRate * (4 - i)) / 4, 0)));
    svg.append(svgEl("text", { x: width - right + 8, y: y + 4 }, `${25 * (4 - i)}%`));
  }
  const x = (i) => left + i * slotW + slotW / 2;
  const series = [
    ["line-baseline", (r) => r.baseline_anomaly_rate / maxRate],
    ["line-candidate", (r) => r.candidate_anomaly_rate / maxRate],
    ["line-agreement", (r) => r.level_agreement],
  ];
  for (const [cls, fraction] of series) {
    const points = rows.map((r, i) => `${x(i)},${top + plotH - plotH * fraction(r)}`);
    svg.append(svgEl("polyline", { points: points.join(" "), fill: "none", class: cls, "stroke-width": 2 }));
    rows.forEach((r, i) => svg.append(svgEl("circle", { cx: x(i), cy: top + plotH - plotH * fraction(r), r: 3, class: cls })));
  }
  const every = Math.max(1, Math.ceil(rows.length / 10));
  rows.forEach((r, i) => {
    if (i % every === 0) svg.append(svgEl("text", { x: x(i), y: height - 8, "text-anchor": "middle" }, r.day.slice(5)));
  });
  svg.append(svgEl("text", { x: left, y: 10 }, "anomaly rate: baseline (orange), candidate (blue)"));
  svg.append(svgEl("text", { x: width - right, y: 10, "text-anchor": "end" }, "level agreement (green)"));
  container.replaceChildren(svg);
}

// --- drift: PSI per input, with the stable band and the alert threshold ------------------------
async function loadDrift() {
  const drift = await api("/api/v1/drift");
  const container = $("chart-drift");
  $("drift-panel").dataset.threshold = drift.threshold ?? "";
  $("drift-range").textContent = drift.current_start
    ? `${when(drift.current_start)} → ${when(drift.current_end)} vs training`
    : "–";
  if (!drift.features.length) return empty(container, "no drift computed yet");
  const threshold = drift.threshold ?? 0.25;
  const psis = drift.features.map((f) => f.psi ?? 0);
  const scale = Math.max(...psis, threshold * 1.25);
  const width = 560, row = 26, left = 140, right = 70, top = 18;
  const plotW = width - left - right;
  const height = top + row * drift.features.length + 4;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}` });
  const x = (value) => left + (plotW * value) / scale;
  drift.features.forEach((f, i) => {
    const y = top + i * row;
    const g = svgEl("g", {
      "data-feature": f.feature, "data-psi": f.psi ?? "", "data-status": f.status,
    });
    g.append(svgEl("text", { x: left - 8, y: y + 16, "text-anchor": "end" }, f.feature));
    g.append(svgEl("rect", { x: left, y: y + 5, width: plotW, height: 15, rx: 4, fill: "#1d2638" }));
    const barW = f.psi ? Math.max(x(f.psi) - left, 2) : 0;
    g.append(svgEl("rect", { x: left, y: y + 5, width: barW, height: 15, rx: 4, class: `psi-${f.status}` }));
    g.append(svgEl("text", { x: width - right + 8, y: y + 16, class: "value-label" },
      f.psi === null ? "n/a" : f.psi.toFixed(3)));
    g.append(svgEl("title", {}, `${f.feature}: PSI ${f.psi ?? "n/a"} (${f.status}), ` +
      `${number(f.current_rows)} recent vs ${number(f.baseline_rows)} training rows`));
    svg.append(g);
  });
  const bottom = height - 2;
  svg.append(svgEl("line", { x1: x(0.1), x2: x(0.1), y1: top - 4, y2: bottom, class: "drift-stable" }));
  svg.append(svgEl("line", { x1: x(threshold), x2: x(threshold), y1: top - 4, y2: bottom, class: "drift-threshold" }));
  svg.append(svgEl("text", { x: x(threshold), y: 10, "text-anchor": "middle" }, `alert > ${threshold}`));
  svg.append(svgEl("text", { x: x(0.1), y: 10, "text-anchor": "end" }, "0.1 "));
  container.replaceChildren(svg);
}

// --- model health: agreement with the logged level per day, under/over-logged lines ----------
async function loadHealth() {
  const { days } = await api("/api/v1/models/health", { days: HEALTH_DAYS });
  const container = $("chart-health");
  $("health-range").textContent = days.length
    ? `${days[0].day.slice(0, 10)} → ${days[days.length - 1].day.slice(0, 10)}`
    : "–";
  if (!days.length) return empty(container, "no predictions yet");
  const width = 560, height = 220, left = 44, right = 48, top = 14, bottom = 28;
  const plotW = width - left - right, plotH = height - top - bottom;
  const mid = top + plotH / 2;
  const slotW = plotW / days.length;
  const maxLines = 2 * niceStep(Math.max(...days.map((d) => Math.max(d.under_logged, d.over_logged))) / 2);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}` });
  for (let i = 0; i <= 4; i++) {
    const y = top + (plotH * i) / 4;
    svg.append(svgEl("line", { x1: left, x2: width - right, y1: y, y2: y, stroke: "#2a3550" }));
    svg.append(svgEl("text", { x: width - right + 6, y: y + 4 }, `${25 * (4 - i)}%`));
  }
  svg.append(svgEl("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, `+${number(maxLines)}`));
  svg.append(svgEl("text", { x: left - 6, y: top + plotH + 4, "text-anchor": "end" }, `-${number(maxLines)}`));
  const points = [];
  days.forEach((d, i) => {
    const x = left + i * slotW;
    const up = ((plotH / 2) * d.under_logged) / maxLines;
    const down = ((plotH / 2) * d.over_logged) / maxLines;
    const g = svgEl("g", {
      "data-day": d.day.slice(0, 10), "data-agreement": d.agreement_rate ?? "",
      "data-under": d.under_logged, "data-over": d.over_logged, "data-predictions": d.predictions,
    });
    g.append(svgEl("rect", { x: x + slotW * 0.2, y: mid - up, width: Math.max(slotW * 0.6, 1), height: up, class: "bar-under" }));
    g.append(svgEl("rect", { x: x + slotW * 0.2, y: mid, width: Math.max(slotW * 0.6, 1), height: down, class: "bar-over" }));
    g.append(svgEl("title", {}, `${d.day.slice(0, 10)}: ${share(d.agreement_rate)} agree, ` +
      `${number(d.under_logged)} read more severe, ${number(d.over_logged)} less severe, ` +
      `${number(d.logged_low_reads_high)} logged DEBUG/INFO read as ERROR/FATAL`));
    svg.append(g);
    if (d.agreement_rate !== null) points.push(`${x + slotW / 2},${top + plotH - plotH * d.agreement_rate}`);
  });
  svg.append(svgEl("polyline", { points: points.join(" "), fill: "none", class: "line-agreement", "stroke-width": 2 }));
  const every = Math.max(1, Math.ceil(days.length / 8));
  days.forEach((d, i) => {
    if (i % every === 0) svg.append(svgEl("text", { x: left + i * slotW + slotW / 2, y: height - 8, "text-anchor": "middle" }, d.day.slice(5, 10)));
  });
  container.replaceChildren(svg);
}

// --- incidents: a lane per service over the last days of logs, then the newest as a table ------
// Each incident is a bar from its first line to its last (to the newest log while open),
// coloured by severity; its alerts (opened, escalated, resolved) and their delivery beside it,
// each named by its kind's title (the kinds come from the API: var alert_kinds of dbt_project.yml).
const INCIDENT_DAYS = 7;
const INCIDENTS_SHOWN = 200;
const DAY_MS = 86400000;

async function loadIncidents() {
  const end = state.newestLogAt ? Date.parse(state.newestLogAt) : Date.now();
  const since = new Date(end - INCIDENT_DAYS * DAY_MS).toISOString();
  const [page, alerts, { kinds }] = await Promise.all([
    api("/api/v1/incidents", { since, limit: INCIDENTS_SHOWN }),
    api("/api/v1/alerts", { limit: 500 }),
    api("/api/v1/alerts/kinds"),
  ]);
  const titles = new Map(kinds.map((k) => [k.name, k.title]));
  const byIncident = new Map();
  for (const a of alerts.alerts) {
    const id = a.details && a.details.incident_id;
    if (!id) continue;
    if (!byIncident.has(id)) byIncident.set(id, []);
    byIncident.get(id).push(a);
  }
  const incidents = page.items;
  const open = incidents.filter((i) => i.state === "open").length;
  const panel = $("incidents-panel");
  panel.dataset.shown = incidents.length;
  panel.dataset.open = open;
  panel.dataset.delivered = alerts.delivered;
  panel.dataset.pending = alerts.pending;
  $("incidents-summary").textContent = `${number(incidents.length)} incidents in the last ${INCIDENT_DAYS}`
    + ` days of logs, ${number(open)} open; alerts: ${number(alerts.delivered)} delivered,`
    + ` ${number(alerts.pending)} pending${alerts.notifier_has_run ? "" : " (the notifier has not run yet)"}`;
  drawTimeline(incidents, end - INCIDENT_DAYS * DAY_MS, end);
  const rows = incidents.map((i) => incidentRow(i, byIncident.get(i.incident_id) || [], titles));
  if (!rows.length) {
    const tr = el("tr");
    tr.append(el("td", { colspan: "9" }, `no incident in the last ${INCIDENT_DAYS} days of logs`));
    rows.push(tr);
  }
  $("incidents").querySelector("tbody").replaceChildren(...rows);
}

function drawTimeline(incidents, start, end) {
  const container = $("chart-incidents");
  if (!incidents.length) return empty(container, "no incidents: every service within its baseline");
  const services = [...new Set(incidents.map((i) => i.service))].sort();
  const lane = 26, left = 130, right = 20, top = 8, bottom = 24;
  const width = 1100, height = top + lane * services.length + bottom;
  const plotW = width - left - right;
  const x = (t) => left + (plotW * (Math.min(Math.max(t, start), end) - start)) / (end - start);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}` });
  for (let day = Math.ceil(start / DAY_MS) * DAY_MS; day <= end; day += DAY_MS) {
    svg.append(svgEl("line", { x1: x(day), x2: x(day), y1: top, y2: height - bottom, stroke: "#2a3550" }));
    svg.append(svgEl("text", { x: x(day), y: height - 6, "text-anchor": "middle" }, new Date(day).toISOString().slice(5, 10)));
  }
  services.forEach((service, row) => {
    const y = top + row * lane;
    svg.append(svgEl("text", { x: left - 8, y: y + 17, "text-anchor": "end", class: "lane-label" }, service));
    svg.append(svgEl("line", { x1: left, x2: width - right, y1: y + lane, y2: y + lane, stroke: "#1d2638" }));
  });
  for (const i of incidents) {
    const y = top + services.indexOf(i.service) * lane;
    const from = Date.parse(i.started_at);
    const to = i.state === "open" ? end : Date.parse(i.ended_at || i.last_seen_at);
    const bar = svgEl("rect", {
      x: x(from), y: y + 5, width: Math.max(x(to) - x(from), 4), height: lane - 10, rx: 3,
      class: `incident-bar ${i.severity} ${i.state}`, "data-incident-id": i.incident_id,
      "data-service": i.service, "data-state": i.state, "data-severity": i.severity,
    });
    bar.append(svgEl("title", {}, `${i.service}, ${i.severity}, ${i.state}: ${i.title}`));
    svg.append(bar);
  }
  container.replaceChildren(svg);
}

function duration(i) {
  const ms = Date.parse(i.ended_at || i.last_seen_at) - Date.parse(i.started_at);
  const minutes = Math.max(1, Math.round(ms / 60000));
  const text = minutes < 90 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`;
  return i.state === "open" ? `${text} so far` : text;
}

function incidentRow(i, alerts, titles) {
  const tr = el("tr", {
    "data-incident-id": i.incident_id, "data-state": i.state, "data-severity": i.severity,
    "data-lines": i.lines,
  });
  tr.append(el("td", {}, when(i.started_at)));
  tr.append(el("td", {}, i.service));
  const severity = el("td");
  severity.append(el("span", { class: `badge ${i.severity}` }, i.severity));
  tr.append(severity);
  const state = el("td");
  state.append(el("span", { class: `pill ${i.state === "open" ? "warn" : "ready"}` }, i.state));
  tr.append(state);
  tr.append(el("td", {}, duration(i)));
  const lines = i.template_count ? i.lines : i.peak_lines;
  const expected = i.template_count ? i.expected : i.peak_expected;
  tr.append(el("td", { class: "num" }, `${number(lines)} / ${Number(expected ?? 0).toFixed(1)}`));
  tr.append(el("td", {}, i.hosts.map((h) => `${h.value} (${Math.round(100 * h.share)}%)`).join(", ") || "–"));
  const sent = el("td");
  for (const a of alerts.slice().reverse()) {
    const pill = el("span", {
      class: `pill ${a.delivery.state}`, "data-alert-kind": a.alert_kind, "data-alert-key": a.alert_key,
      "data-state": a.delivery.state,
    }, titles.get(a.alert_kind) || a.alert_kind);
    pill.title = `${a.delivery.state}${a.delivery.delivered_at ? ` ${when(a.delivery.delivered_at)}` : ""}: ${a.message}`;
    sent.append(pill, " ");
  }
  tr.append(sent);
  tr.append(el("td", { class: "message" }, i.title));
  return tr;
}

// --- templates to label: flagged most often, no template label yet ---------------------------
async function loadUnlabelled() {
  const body = await api("/api/v1/templates/unlabelled", { limit: 10 });
  const rows = body.templates.map((t) => {
    const tr = el("tr", { "data-template-hash": t.template_hash });
    tr.append(el("td", {}, number(t.flagged)), el("td", {}, number(t.lines)));
    tr.append(el("td", {}, t.service || "–"), el("td", {}, String(t.example_log_entry_id ?? "–")));
    tr.append(el("td", { class: "message" }, t.example_message || ""));
    return tr;
  });
  if (!rows.length) {
    const tr = el("tr");
    tr.append(el("td", { colspan: "5" }, "no flagged template without a label"));
    rows.push(tr);
  }
  $("unlabelled").querySelector("tbody").replaceChildren(...rows);
}

// --- predictions table ----------------------------------------------------------------------
async function loadServices() {
  const { services } = await api("/api/v1/stats/services", { window: "7d", limit: 50 });
  const select = $("service-filter");
  for (const row of services) {
    if (row.service === "(none)") continue;
    select.append(el("option", { value: row.service }, row.service));
  }
}

function filterParams() {
  const form = new FormData($("filters"));
  return Object.fromEntries([...form.entries()].filter(([, value]) => value !== ""));
}

async function loadPredictions(reset) {
  if (reset) state.cursor = null;
  const filters = filterParams();
  const page = await api("/api/v1/predictions", { ...filters, limit: PAGE_SIZE, cursor: state.cursor });
  const body = document.querySelector("#predictions tbody");
  if (reset) body.replaceChildren();
  for (const p of page.items) body.append(predictionRow(p));
  state.cursor = page.next_cursor;
  $("more").hidden = !page.next_cursor;
  const shown = body.querySelectorAll("tr[data-log-entry-id]").length;
  $("rows-shown").textContent = shown ? `${shown} shown, newest first` : "no prediction matches";
  // Which filters the rows on screen answer (the browser test waits for it).
  $("predictions").dataset.filters = new URLSearchParams(filters).toString();
}

function predictionRow(p) {
  const tr = el("tr", { "data-log-entry-id": p.log_entry_id, class: p.is_anomaly ? "anomaly" : "" });
  tr.append(el("td", { class: "when" }, when(p.logged_at)));
  tr.append(el("td", { class: "nowrap" }, p.service || "–"));
  tr.append(el("td", {}, p.logged_level || "?"));
  const predicted = el("td", { class: p.level_disagrees ? "nowrap disagrees" : "nowrap" });
  predicted.textContent = `${p.predicted_level} ${Math.round(100 * p.level_confidence)}%`;
  tr.append(predicted);
  const severity = el("td");
  severity.append(el("span", { class: `badge ${p.severity}` }, p.severity));
  tr.append(severity);
  tr.append(el("td", { class: "num" }, Number(p.anomaly_score).toFixed(3)));
  tr.append(el("td", { class: "message" }, p.message || ""));
  tr.append(el("td", { class: "why" }, p.explanation || ""));
  return tr;
}

// --- wiring -----------------------------------------------------------------------------------
async function showUser() {
  const { user } = await api("/auth/user");
  if (user) {
    $("user").textContent = user;
    $("signed-in").hidden = false;
  }
}

async function main() {
  showUser().catch(() => {});
  try {
    if (await loadStatus()) {
      await Promise.all([
        loadWindow(), loadHourly(), loadServices(), loadPredictions(true), loadComparison(),
        loadDrift(), loadHealth(), loadIncidents(), loadUnlabelled(),
      ]);
    }
  } catch (error) {
    showBanner(`Could not load the dashboard: ${error.message}`);
  }
  document.body.dataset.loaded = "true";
}

$("window-picker").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-window]");
  if (!button) return;
  state.window = button.dataset.window;
  document.querySelectorAll("#window-picker button").forEach((b) => b.classList.toggle("active", b === button));
  loadWindow().catch((error) => showBanner(error.message));
});
$("filters").addEventListener("change", () => {
  loadPredictions(true).catch((error) => showBanner(error.message));
});
$("more").addEventListener("click", () => {
  loadPredictions(false).catch((error) => showBanner(error.message));
});

main();
