/* The command-centre console: login, views by URL hash, and the live case list (polling with a cursor).
 * The case detail is in console_detail.js; the map and the KPI dashboard in console_map_kpi.js. */
"use strict";

const consoleState = {
  me: null,
  meta: null,
  cases: new Map(),   // code -> summary
  cursor: null,
  listPoll: null,
  view: null,
};

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.classList.add("hidden");
  document.getElementById(`${name}-view`).classList.remove("hidden");
  for (const link of document.querySelectorAll("#nav a[data-view]")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  consoleState.view = name;
}

function requireLogin() {
  consoleState.me = null;
  if (consoleState.listPoll) consoleState.listPoll.stop();
  consoleState.listPoll = null;
  if (typeof detailState !== "undefined" && detailState.poll) { detailState.poll.stop(); detailState.poll = null; }
  document.getElementById("nav").classList.add("hidden");
  document.getElementById("logout").classList.add("hidden");
  document.getElementById("me").textContent = "";
  showView("login");
}

/* Any call that answers 401 sends the user back to the login form. */
async function api(path, options) {
  try {
    return await GS.api(path, options);
  } catch (error) {
    if (error.status === 401) requireLogin();
    throw error;
  }
}

async function boot() {
  try {
    consoleState.me = await GS.api("/api/me");
  } catch (error) {
    if (error.status === 401) { requireLogin(); return; }
    throw error;
  }
  consoleState.meta = await api("/api/meta");
  const me = consoleState.me;
  const scope = me.street ? ` · ${me.street}街道` : me.department ? ` · ${me.department}` : "";
  document.getElementById("me").textContent = `${me.display_name}（${me.role}${scope}）`;
  document.getElementById("nav").classList.remove("hidden");
  document.getElementById("logout").classList.remove("hidden");
  fillFilters(consoleState.meta);
  route();
}

function fillFilters(meta) {
  const form = document.getElementById("filters");
  const add = (name, items) => {
    const select = form.elements[name];
    select.length = 1;
    for (const [value, label] of items) select.add(new Option(label, value));
  };
  add("status", [["open", "未办结"], ["closed", "已办结"], ...meta.states.map((s) => [s.code, s.label])]);
  add("category", meta.categories.map((c) => [c.code, `${c.name}`]));
  add("street", meta.streets.map((s) => [s.code, `${s.name}街`]));
  add("department", meta.departments.filter((d) => !d.street_code).map((d) => [d.key, d.name])
    .concat([["JDB", "街道办事处（各街）"], ["JDZF", "街道综合执法（各街）"]]));
  add("urgency", meta.urgencies.map((u) => [u, { urgent: "紧急", normal: "一般", complex: "复杂" }[u] || u]));
}

function filterQuery() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams();
  for (const name of ["status", "category", "street", "department", "urgency", "q"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  if (form.elements.overdue.checked) params.set("overdue", "true");
  return params;
}

function rowHtml(c) {
  const state = (consoleState.meta.states.find((s) => s.code === c.state) || {});
  const place = [c.street, c.community].filter(Boolean).join(" · ");
  const due = c.next_due_at ? `${GS.time(c.next_due_at)} ${GS.esc(c.next_stage || "")}` : "";
  return `<tr data-code="${GS.esc(c.code)}" class="${c.overdue ? "overdue" : ""}">
    <td><a href="#case/${encodeURIComponent(c.code)}">${GS.esc(c.code)}</a></td>
    <td><span class="state" style="background:${GS.esc(state.color || "#999")}">${GS.esc(c.state_label || c.state)}</span></td>
    <td>${GS.esc(c.category_name || c.category || "未分类")}</td>
    <td>${GS.esc(place)}</td>
    <td>${GS.esc(c.department || c.department_key || "")}</td>
    <td>${c.urgency === "urgent" ? '<span class="urgent">紧急</span>' : GS.esc(c.urgency)}</td>
    <td>${GS.time(c.created_at)}</td>
    <td>${c.overdue ? '<span class="urgent">超时</span> ' : ""}${due}</td></tr>`;
}

function renderCases(total) {
  const rows = [...consoleState.cases.values()].sort((a, b) =>
    (b.created_at || "").localeCompare(a.created_at || "") || b.code.localeCompare(a.code));
  document.querySelector("#case-table tbody").innerHTML = rows.map(rowHtml).join("")
    || '<tr><td colspan="8" class="status">没有符合条件的案件</td></tr>';
  if (total !== undefined) document.getElementById("case-count").textContent = `共 ${total} 件`;
}

async function pollCases() {
  const params = filterQuery();
  params.set("limit", "200");
  if (consoleState.cursor !== null) params.set("since", consoleState.cursor);
  const data = await api(`/api/cases?${params}`);
  for (const item of data.items) consoleState.cases.set(item.code, item);
  consoleState.cursor = data.cursor;
  renderCases(data.total);
  if (typeof refreshOpenDetail === "function") refreshOpenDetail(data.items);
}

function restartCaseList() {
  if (consoleState.listPoll) consoleState.listPoll.stop();
  consoleState.cases.clear();
  consoleState.cursor = null;
  document.getElementById("csv-link").href = `/api/cases.csv?${filterQuery()}`;
  consoleState.listPoll = GS.poll(pollCases, 3000, (error) => {
    document.getElementById("case-count").textContent = `更新失败：${error.message}`;
  });
}

function route() {
  if (!consoleState.me) return;
  const hash = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (hash.startsWith("case/")) {
    showView("cases");
    if (!consoleState.listPoll) restartCaseList();
    openDetail(hash.slice(5));
  } else if (hash === "map") {
    showView("map");
    openMap();
  } else if (hash === "kpi") {
    showView("kpi");
    openKpis();
  } else {
    showView("cases");
    if (!consoleState.listPoll) restartCaseList();
  }
}

document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = document.getElementById("login-status");
  status.textContent = "登录中…";
  try {
    await GS.api("/api/login", { method: "POST", body: {
      username: document.getElementById("login-username").value.trim(),
      password: document.getElementById("login-password").value,
    } });
    status.textContent = "";
    await boot();
  } catch (error) {
    status.textContent = error.status === 401 ? "用户名或密码错误" : error.message;
    status.classList.add("error");
  }
});

document.getElementById("logout").addEventListener("click", async () => {
  await GS.api("/api/logout", { method: "POST" }).catch(() => null);
  requireLogin();
});

document.getElementById("filters").addEventListener("change", restartCaseList);
document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); restartCaseList(); });
document.querySelector("#case-table tbody").addEventListener("click", (e) => {
  const row = e.target.closest("tr[data-code]");
  if (row && !e.target.closest("a")) location.hash = `#case/${encodeURIComponent(row.dataset.code)}`;
});
window.addEventListener("hashchange", route);
boot().catch((error) => { document.querySelector(".topbar .hint").textContent = `控制台启动失败：${error.message}`; });
