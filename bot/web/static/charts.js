/* Plain SVG charts for the KPI dashboard (no chart library: nothing to fetch at run time). */
"use strict";

const GSCharts = {};

GSCharts.svg = function (tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
};

/* Horizontal bars, one per row {label, value}; `baseline` draws the line to beat across all rows.
 * options: {max, baseline, baselineLabel, format, title, color} */
GSCharts.bars = function (container, rows, options = {}) {
  const s = GSCharts.svg;
  const format = options.format || ((v) => String(v));
  const values = rows.map((r) => (r.value === null || r.value === undefined ? 0 : r.value));
  const max = options.max || Math.max(1e-9, ...values, options.baseline || 0);
  const rowH = 22, labelW = 120, valueW = 64, width = 560, top = options.title ? 26 : 8;
  const plotW = width - labelW - valueW;
  const height = top + rows.length * rowH + 24;
  const chart = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img",
    "aria-label": options.title || "chart" });
  if (options.title) chart.appendChild(s("text", { x: 4, y: 16, class: "chart-title" }, options.title));
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    const v = row.value === null || row.value === undefined ? null : row.value;
    chart.appendChild(s("text", { x: labelW - 6, y: y + 15, "text-anchor": "end", class: "chart-label" }, row.label));
    chart.appendChild(s("rect", { x: labelW, y: y + 3, width: plotW, height: rowH - 6, class: "chart-track" }));
    if (v !== null) {
      const good = options.baseline === undefined || v >= options.baseline;
      chart.appendChild(s("rect", { x: labelW, y: y + 3, width: Math.max(1, (plotW * Math.min(v, max)) / max),
        height: rowH - 6, class: `chart-bar ${good ? "good" : "below"}`, style: options.color ? `fill:${options.color}` : "" }));
    }
    chart.appendChild(s("text", { x: labelW + plotW + 6, y: y + 15, class: "chart-value" }, v === null ? "—" : format(v)));
  });
  if (options.baseline !== undefined) {
    const x = labelW + (plotW * options.baseline) / max;
    chart.appendChild(s("line", { x1: x, x2: x, y1: top - 4, y2: top + rows.length * rowH + 2, class: "baseline",
      "data-value": options.baseline }));
    chart.appendChild(s("text", { x: Math.min(x, width - 90), y: top + rows.length * rowH + 16, class: "baseline-label" },
      options.baselineLabel || format(options.baseline)));
  }
  container.appendChild(chart);
  return chart;
};

/* Paired bars (median and p90) per chain stage, in hours on a shared scale. */
GSCharts.stages = function (container, stages, title) {
  const rows = [];
  for (const [name, figures] of stages) {
    rows.push({ label: `${name} 中位`, value: figures.median_s });
    rows.push({ label: `${name} P90`, value: figures.p90_s });
  }
  return GSCharts.bars(container, rows, { title, format: GS.duration, color: "#5b7fa6" });
};
