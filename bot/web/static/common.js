/* Shared helpers for the console and the simulator: JSON fetch with clear errors, escaping, time formatting. */
"use strict";

const GS = {};

GS.api = async function (path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
  if (init.body !== undefined && typeof init.body !== "string") {
    init.body = JSON.stringify(init.body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) data = await response.json();
  if (!response.ok) {
    const error = new Error((data && (data.error || data.description)) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
};

GS.esc = function (value) {
  return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
};

GS.el = function (html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
};

GS.time = function (iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

GS.pct = function (value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`;
};

GS.duration = function (seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)}秒`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}分`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)}时`;
  return `${(seconds / 86400).toFixed(1)}天`;
};

GS.fileToBase64 = function (file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
};

/* A poller that never overlaps itself and keeps going after errors (shown in `onError`). */
GS.poll = function (work, everyMs, onError) {
  let stopped = false;
  let running = false;
  let timer = null;
  async function tick() {
    if (stopped || running) return;
    running = true;
    clearTimeout(timer);
    try { await work(); } catch (error) { if (onError) onError(error); }
    running = false;
    if (!stopped) timer = setTimeout(tick, everyMs);
  }
  tick();
  return { stop() { stopped = true; clearTimeout(timer); }, now() { tick(); } };
};
