/* The map (Leaflet, GeoJSON on a plain background: no tiles, works offline) and the KPI dashboard. */
"use strict";

const mapState = { map: null, grids: null, points: null, poll: null };
const STAGES = [["respond", "响应"], ["dispatch", "调度"], ["handle", "处置"]];

async function loadGrids() {
  const grids = await api("/api/map/grids");
  mapState.grids = L.geoJSON(grids, {
    style: { color: "#7d8b97", weight: 0.6, fillColor: "#e9eef2", fillOpacity: 0.5 },
    onEachFeature: (feature, layer) => {
      const p = feature.properties || {};
      layer.bindTooltip(`${p.street || ""}街 ${p.community || ""} · 网格 ${p.grid || ""}`, { sticky: true });
    },
  }).addTo(mapState.map);
  mapState.map.fitBounds(mapState.grids.getBounds());
}

async function loadPoints() {
  // "" = every state (the API's default is the open ones; "handled, awaiting the resident" is neither group).
  const status = document.getElementById("map-status").value || consoleState.meta.states.map((s) => s.code).join(",");
  const points = await api(`/api/map/cases?status=${encodeURIComponent(status)}`);
  if (mapState.points) mapState.points.remove();
  mapState.points = L.geoJSON(points, {
    pointToLayer: (feature, latlng) => L.circleMarker(latlng, {
      radius: feature.properties.urgency === "urgent" ? 8 : 6, color: "#223", weight: feature.properties.overdue ? 2.5 : 1,
      fillColor: feature.properties.color || "#e67e22", fillOpacity: 0.9,
    }),
    onEachFeature: (feature, layer) => {
      const p = feature.properties;
      layer.bindPopup(`<a href="#case/${encodeURIComponent(p.code)}">${GS.esc(p.code)}</a><br>${GS.esc(p.state)} · ${GS.esc(p.category || "")}${p.overdue ? " · 超时" : ""}`);
    },
  }).addTo(mapState.map);
  const shown = (points.features || []).length;
  document.getElementById("map-status-text").textContent =
    `${shown} 个案件点${points.unlocated ? `，${points.unlocated} 个无坐标` : ""}`;
}

function openMap() {
  if (!mapState.map) {
    mapState.map = L.map("map", { zoomControl: true, attributionControl: false, preferCanvas: true })
      .setView([23.13, 113.27], 13);
    document.getElementById("map-legend").innerHTML = consoleState.meta.states.map((s) =>
      `<span><i style="background:${GS.esc(s.color)}"></i>${GS.esc(s.label)}</span>`).join("");
    document.getElementById("map-status").addEventListener("change", () => mapState.poll && mapState.poll.now());
    loadGrids().catch((error) => { document.getElementById("map-status-text").textContent = error.message; });
  }
  setTimeout(() => mapState.map.invalidateSize(), 50);
  if (mapState.poll) mapState.poll.stop();
  mapState.poll = GS.poll(async () => { if (consoleState.view === "map") await loadPoints(); }, 10000,
    (error) => { document.getElementById("map-status-text").textContent = error.message; });
}

/* ---------- KPIs ---------- */

const kpiState = { period: "month" };

function card(label, value, extra, id) {
  return `<div class="card" id="${id}"><div class="label">${label}</div><div class="value">${value}</div><div class="extra">${extra || ""}</div></div>`;
}

function renderCards(data) {
  const k = data.kpis, base = data.baseline;
  const vs = (value, line) => (value === null ? "" : value >= line ? "达到基线" : "低于基线");
  document.getElementById("kpi-cards").innerHTML = [
    card("案件数", k.cases, "", "kpi-cases"),
    card("当日办结率", GS.pct(k.same_day_closure_rate), `基线 ${GS.pct(base.same_day_closure_rate)} ${vs(k.same_day_closure_rate, base.same_day_closure_rate)}`, "kpi-same-day"),
    card("自动派单率", GS.pct(k.auto_dispatch_rate), `基线 ${GS.pct(base.auto_dispatch_rate)} ${vs(k.auto_dispatch_rate, base.auto_dispatch_rate)}`, "kpi-auto"),
    card("每案转办次数", k.handoffs_per_case === null ? "—" : k.handoffs_per_case.toFixed(2), "", "kpi-handoffs"),
    card("超时案件", k.overdue_count, "", "kpi-overdue"),
    card("满意度", k.satisfaction === null ? "—" : k.satisfaction.toFixed(2), `${k.ratings} 条评价`, "kpi-satisfaction"),
    card("重开率", GS.pct(k.reopen_rate), "", "kpi-reopen"),
    ...STAGES.map(([key, label]) => card(`${label}时长 中位/P90`,
      `${GS.duration(k[key].median_s)} / ${GS.duration(k[key].p90_s)}`, `${k[key].count} 次`, `kpi-stage-${key}`)),
  ].join("");
}

function groupBars(boxId, groups, field, baseline, title) {
  const box = document.getElementById(boxId);
  box.innerHTML = "";
  if (!groups) { box.innerHTML = `<p class="status">${title}：仅指挥中心可见</p>`; return; }
  const rows = groups.filter((g) => g.kpis.cases > 0).slice(0, 20).map((g) => ({ label: g.name || g.key, value: g.kpis[field] }));
  if (!rows.length) { box.innerHTML = `<p class="status">${title}：这段时间没有案件</p>`; return; }
  GSCharts.bars(box, rows, { max: 1, baseline, baselineLabel: `基线 ${GS.pct(baseline)}`, format: GS.pct, title });
}

function renderLeague(groups) {
  const body = document.querySelector("#league tbody");
  body.innerHTML = (groups || []).filter((g) => g.kpis.cases > 0).map((g) => `<tr>
    <td>${g.rank}</td><td>${GS.esc(g.name || g.key)}</td><td>${g.kpis.cases}</td><td>${GS.pct(g.kpis.same_day_closure_rate)}</td>
    <td>${g.kpis.satisfaction === null ? "—" : g.kpis.satisfaction.toFixed(2)}</td><td>${g.kpis.overdue_count}</td>
    <td>${GS.pct(g.kpis.reopen_rate)}</td><td>${g.kpis.handoffs_per_case === null ? "—" : g.kpis.handoffs_per_case.toFixed(2)}</td></tr>`).join("")
    || '<tr><td colspan="8" class="status">没有数据</td></tr>';
}

async function loadKpis() {
  const period = kpiState.period;
  const data = await api(`/api/kpis?period=${period}`);
  document.getElementById("kpi-window").textContent = `${GS.time(data.start)} — ${GS.time(data.end)}`;
  renderCards(data);
  const centre = consoleState.me.role === "command_centre";
  const [streets, departments] = centre ? await Promise.all([
    api(`/api/kpis?period=${period}&by=street`), api(`/api/kpis?period=${period}&by=department`)]) : [null, null];
  const base = data.baseline;
  groupBars("chart-street-closure", streets && streets.groups, "same_day_closure_rate", base.same_day_closure_rate, "各街道当日办结率");
  groupBars("chart-street-auto", streets && streets.groups, "auto_dispatch_rate", base.auto_dispatch_rate, "各街道自动派单率");
  groupBars("chart-dept-closure", departments && departments.groups, "same_day_closure_rate", base.same_day_closure_rate, "各部门当日办结率");
  const stageBox = document.getElementById("chart-stages");
  stageBox.innerHTML = "";
  GSCharts.stages(stageBox, STAGES.map(([key, label]) => [label, data.kpis[key]]), "各环节时长（中位 / P90）");
  renderLeague(departments && departments.groups);
}

function openKpis() {
  loadKpis().catch((error) => { document.getElementById("kpi-window").textContent = error.message; });
}

for (const button of document.querySelectorAll(".kpi-tools button[data-period]")) {
  button.addEventListener("click", () => {
    kpiState.period = button.dataset.period;
    for (const other of document.querySelectorAll(".kpi-tools button")) other.classList.toggle("primary", other === button);
    openKpis();
  });
}
