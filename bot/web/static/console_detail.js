/* Case detail: summary, the full event timeline, the routing explanation, photos, rating, and manual triage. */
"use strict";

const detailState = { code: null, poll: null, busy: false };

const EVENT_LABELS = {
  report: "居民呼叫", respond: "网格员响应", dispatch: "调度派单", sign: "部门签收", handle: "部门办结",
  handle_on_site: "现场处置完成", return: "部门退回", triage: "转指挥中心分拨", escalate: "超时升级",
  confirm: "居民确认解决", reopen: "居民反馈未解决，重开", rate: "居民评价", merge_duplicate: "合并重复件",
  cancel: "撤销", close: "结案",
};
const ACTION_LABELS = { triage: "转入分拨/改类别", dispatch: "重新派单", merge: "合并重复件", cancel: "撤销" };

function payloadText(payload) {
  if (!payload || typeof payload !== "object") return "";
  const parts = [];
  for (const [key, value] of Object.entries(payload)) {
    if (value === null || value === "" || typeof value === "object") continue;
    parts.push(`${key}: ${value}`);
  }
  return parts.join("；");
}

function timelineHtml(events) {
  return `<ol class="timeline">${events.map((e) => `<li data-event="${GS.esc(e.event)}">
    <time>${GS.time(e.at)}</time>
    <b>${GS.esc(EVENT_LABELS[e.event] || e.event)}</b>
    <span class="actor">${GS.esc(e.actor_label || e.actor)}</span>
    <span class="states">${GS.esc(e.from_state || "—")} → ${GS.esc(e.to_state)}</span>
    ${e.escalation_level ? `<span class="urgent">升级 L${e.escalation_level}</span>` : ""}
    <div class="payload">${GS.esc(payloadText(e.payload))}</div></li>`).join("")}</ol>`;
}

function triageHtml(c) {
  if (!c.allowed_actions || !c.allowed_actions.length) return "";
  const meta = consoleState.meta;
  const options = c.allowed_actions.map((a) => `<option value="${a}">${GS.esc(ACTION_LABELS[a] || a)}</option>`).join("");
  const departments = meta.departments.filter((d) => !d.street_code).map((d) => `<option value="${GS.esc(d.key)}">${GS.esc(d.name)}</option>`)
    .concat(['<option value="JDB">街道办事处（本街）</option>', '<option value="JDZF">街道综合执法（本街）</option>']).join("");
  const categories = meta.categories.map((x) => `<option value="${GS.esc(x.code)}" ${x.code === c.category ? "selected" : ""}>${GS.esc(x.name)}</option>`).join("");
  return `<form id="triage-form" class="triage">
    <h4>人工分拨</h4>
    <label>操作 <select name="action">${options}</select></label>
    <label data-for="dispatch">部门 <select name="department"><option value="">（选择部门）</option>${departments}</select></label>
    <label data-for="triage dispatch">类别 <select name="category"><option value="">（不改）</option>${categories}</select></label>
    <label data-for="merge">重复于 <input name="duplicate_of" placeholder="YX-..."></label>
    <label>备注 <input name="note" placeholder="说明（撤销必填）"></label>
    <button type="submit" class="primary">提交</button>
    <div class="status" id="triage-status"></div></form>`;
}

function renderDetail(c) {
  const box = document.getElementById("detail");
  const state = consoleState.meta.states.find((s) => s.code === c.state) || {};
  const rating = c.rating ? `<div class="rating" id="rating">满意度 <b>${"★".repeat(c.rating.score)}${"☆".repeat(5 - c.rating.score)}</b> ${c.rating.score}/5 ${GS.esc(c.rating.comment || "")}</div>` : '<div class="rating status">暂无评价</div>';
  const photos = (c.media || []).filter((m) => m.kind === "photo").map((m) => `<a href="${GS.esc(m.url)}" target="_blank"><img src="${GS.esc(m.url)}" alt="案件照片" class="photo"></a>`).join("");
  const resident = c.resident ? `${GS.esc(c.resident.nickname || "")} ${GS.esc(c.resident.phone || "")} ${GS.esc(c.resident.openid || "")}` : "—";
  box.innerHTML = `<div class="detail-head"><h3 id="detail-code">${GS.esc(c.code)}</h3>
      <span class="state" id="detail-state" data-state="${GS.esc(c.state)}" style="background:${GS.esc(state.color || "#999")}">${GS.esc(c.state_label || c.state)}</span>
      ${c.urgency === "urgent" ? '<span class="urgent">紧急</span>' : ""}${c.overdue ? '<span class="urgent">超时</span>' : ""}</div>
    <dl class="facts">
      <dt>类别</dt><dd>${GS.esc(c.category_name || c.category || "未分类")}</dd>
      <dt>地点</dt><dd>${GS.esc(c.address || "")} · ${GS.esc(c.street || "")} ${GS.esc(c.community || "")} · 网格 ${GS.esc(c.grid || "—")}</dd>
      <dt>责任</dt><dd>网格员 ${GS.esc(c.worker || "—")} · 部门 ${GS.esc(c.department || c.department_key || "—")} ${c.auto_dispatch ? '<span class="tag">自动派单</span>' : '<span class="tag">人工分拨</span>'}</dd>
      <dt>描述</dt><dd>${GS.esc(c.description)}</dd>
      <dt>居民</dt><dd>${resident}</dd>
      <dt>时限</dt><dd>${(c.due || []).map((d) => `${GS.esc(d.stage)} ${GS.time(d.due_at)} (${GS.esc(d.status)})`).join("；") || "—"}</dd>
      ${c.duplicate_of ? `<dt>重复于</dt><dd>${GS.esc(c.duplicate_of)}</dd>` : ""}
    </dl>
    ${rating}
    <div class="photos">${photos}</div>
    <h4>为什么这样分派</h4><ul class="explanation" id="explanation">${(c.explanation || []).map((x) => `<li>${GS.esc(x)}</li>`).join("") || "<li>—</li>"}</ul>
    <h4>全流程时间线</h4><div id="timeline">${timelineHtml(c.events || [])}</div>
    ${triageHtml(c)}`;
  wireTriage(c);
}

function wireTriage(c) {
  const form = document.getElementById("triage-form");
  if (!form) return;
  const sync = () => {
    const action = form.elements.action.value;
    for (const label of form.querySelectorAll("label[data-for]")) {
      label.classList.toggle("hidden", !label.dataset.for.split(" ").includes(action));
    }
  };
  form.elements.action.addEventListener("change", sync);
  sync();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { action: form.elements.action.value };
    for (const name of ["department", "category", "duplicate_of", "note"]) {
      const field = form.elements[name];
      if (field && field.value.trim() && !field.closest("label").classList.contains("hidden")) body[name] = field.value.trim();
    }
    const status = document.getElementById("triage-status");
    status.textContent = "提交中…";
    detailState.busy = true;
    try {
      const result = await api(`/api/cases/${encodeURIComponent(c.code)}/actions`, { method: "POST", body });
      renderDetail(result.case);
      document.getElementById("triage-status").textContent = `已记录：${result.recorded.join(" → ")}`;
      if (consoleState.listPoll) consoleState.listPoll.now();
    } catch (error) {
      status.textContent = error.message;
      status.classList.add("error");
    } finally {
      detailState.busy = false;
    }
  });
}

async function loadDetail() {
  if (!detailState.code || detailState.busy) return;
  const active = document.activeElement;
  if (active && active.closest && active.closest("#triage-form")) return;  // don't redraw under the user's hands
  const c = await api(`/api/cases/${encodeURIComponent(detailState.code)}`);
  renderDetail(c);
}

function openDetail(code) {
  detailState.code = code;
  if (detailState.poll) detailState.poll.stop();
  detailState.poll = GS.poll(loadDetail, 4000, (error) => {
    document.getElementById("detail").innerHTML = `<p class="error">${GS.esc(error.message)}</p>`;
  });
}

/* The list poll saw changes: refresh the open detail at once if its case is among them. */
function refreshOpenDetail(items) {
  if (detailState.poll && items.some((item) => item.code === detailState.code)) detailState.poll.now();
}
