/* The local simulator: a resident's WeChat chat, a grid worker's and a department group's Telegram chats.
 * Everything goes through the console's /sim/api routes: signed XML to Rasa's WeChat webhook, and real Bot API
 * updates injected into the fake Telegram server for the real bot. The panes follow the resident's latest case. */
"use strict";

const sim = {
  openid: null,
  places: [],
  worker: null,      // {id, name, chat_id}
  dept: null,        // {key, name, chat_id, member_user_id, member_id}
  caseInfo: null,
  seen: {},          // log element id -> last rendered JSON (re-render only on change)
};

function setStatus(id, text, isError) {
  const node = document.getElementById(id);
  node.textContent = text || "";
  node.classList.toggle("error", Boolean(isError));
}

function changed(logId, messages) {
  const key = JSON.stringify(messages);
  if (sim.seen[logId] === key) return false;
  sim.seen[logId] = key;
  return true;
}

function scrollToEnd(log) { log.scrollTop = log.scrollHeight; }

/* ---------- the resident (WeChat) ---------- */

function choiceChips(text) {
  const chips = [];
  for (const line of text.split("\n")) {
    const match = /^(\d+)\.\s*(.+)$/.exec(line.trim());
    if (match) chips.push(`<button type="button" class="chip" data-reply="${GS.esc(match[1])}">${GS.esc(match[2])}</button>`);
  }
  return chips.length ? `<div class="chips">${chips.join("")}</div>` : "";
}

function renderWechat(messages) {
  const log = document.getElementById("wechat-log");
  if (!changed("wechat-log", messages)) return;
  log.innerHTML = messages.map((m) => {
    if (m.from === "resident") return `<div class="msg mine">${GS.esc(m.text)}</div>`;
    const tag = m.kind && m.kind !== "custom" ? `<span class="tag">${m.kind === "template" ? "模板消息" : "订阅消息"}</span>` : "";
    return `<div class="msg theirs bot-reply">${tag}${GS.esc(m.text)}${choiceChips(m.text || "")}</div>`;
  }).join("");
  scrollToEnd(log);
}

async function sendWechat(body) {
  if (!sim.openid) return;
  setStatus("wechat-status", "发送中…");
  try {
    await GS.api("/sim/api/wechat/send", { method: "POST", body: { openid: sim.openid, ...body } });
    setStatus("wechat-status", "已发送（经签名 XML 到 Rasa 的微信 webhook）");
  } catch (error) {
    setStatus("wechat-status", error.message, true);
  }
  wechatPoll.now();
}

const wechatPoll = { now() {} };

async function refreshWechat() {
  if (!sim.openid) return;
  const data = await GS.api(`/sim/api/wechat/chat/${encodeURIComponent(sim.openid)}`);
  renderWechat(data.messages || []);
}

/* ---------- Telegram chats (worker and department) ---------- */

function tgButtons(message) {
  const rows = message.buttons || [];
  if (!rows.length) return "";
  return `<div class="tg-keyboard">${rows.map((row) => `<div class="tg-row">${row.map((b) =>
    `<button type="button" class="tg-button" data-message="${message.message_id}" data-data="${GS.esc(b.callback_data || "")}">${GS.esc(b.text)}</button>`
  ).join("")}</div>`).join("")}</div>`;
}

function tgPhoto(path) {
  return path ? `<img class="tg-photo" alt="照片" src="/sim/api/telegram/file/${GS.esc(path)}">` : "";
}

function renderTelegram(logId, messages) {
  const log = document.getElementById(logId);
  if (!changed(logId, messages)) return;
  log.innerHTML = messages.map((m) => {
    if (m.from === "bot") {
      return `<div class="msg theirs bot-card" data-message="${m.message_id}">${tgPhoto(m.photo)}<div class="text">${GS.esc(m.text)}</div>${tgButtons(m)}</div>`;
    }
    if (m.from === "press") return `<div class="note press">› ${GS.esc(m.name || "")} 按下「${GS.esc(m.text)}」</div>`;
    if (m.from === "notice") return `<div class="note notice">${GS.esc(m.text)}</div>`;
    const who = m.name ? `<span class="tag">${GS.esc(m.name)}</span>` : "";
    return `<div class="msg mine">${who}${tgPhoto(m.photo)}${GS.esc(m.text)}</div>`;
  }).join("");
  scrollToEnd(log);
}

function actorOf(pane) {
  if (pane === "worker" && sim.worker && sim.worker.chat_id) {
    return { chat_id: sim.worker.chat_id, user_id: sim.worker.chat_id, name: sim.worker.name };
  }
  if (pane === "dept" && sim.dept && sim.dept.chat_id && sim.dept.member_user_id) {
    return { chat_id: sim.dept.chat_id, user_id: sim.dept.member_user_id, name: `${sim.dept.name}·${sim.dept.member_id}` };
  }
  return null;
}

function latestCardId(logId) {
  const cards = document.querySelectorAll(`#${logId} .bot-card`);
  const code = sim.caseInfo && sim.caseInfo.code;
  for (let i = cards.length - 1; i >= 0; i -= 1) {
    if (!code || cards[i].textContent.includes(code)) return Number(cards[i].dataset.message);
  }
  return cards.length ? Number(cards[cards.length - 1].dataset.message) : null;
}

async function telegramCall(pane, path, body) {
  const actor = actorOf(pane);
  const statusId = `${pane}-status`;
  if (!actor) { setStatus(statusId, "还没有要处理的案件", true); return; }
  try {
    await GS.api(path, { method: "POST", body: { ...actor, ...body } });
    setStatus(statusId, "已发给机器人");
  } catch (error) {
    setStatus(statusId, error.message, true);
  }
  (pane === "worker" ? workerPoll : deptPoll).now();
}

function demoPhoto(label) {
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 480;
  const g = canvas.getContext("2d");
  g.fillStyle = "#4f7d5c"; g.fillRect(0, 0, 640, 480);
  g.fillStyle = "#dfe9d8"; g.fillRect(40, 300, 560, 120);
  g.fillStyle = "#ffffff"; g.font = "36px sans-serif";
  g.fillText(label, 60, 120);
  g.fillText(new Date().toLocaleString("zh-CN"), 60, 180);
  return canvas.toDataURL("image/jpeg", 0.85).split(",", 2)[1];
}

let workerPoll = { now() {} };
let deptPoll = { now() {} };

async function refreshChat(pane) {
  const actor = actorOf(pane);
  const logId = `${pane}-log`;
  if (!actor) { renderTelegram(logId, []); return; }
  const data = await GS.api(`/sim/api/telegram/chat/${actor.chat_id}`);
  renderTelegram(logId, data.messages || []);
}

/* ---------- following the resident's case ---------- */

async function followCase() {
  if (!sim.openid) return;
  const data = await GS.api(`/sim/api/case-chats?openid=${encodeURIComponent(sim.openid)}`);
  sim.caseInfo = data.case;
  if (data.worker) sim.worker = data.worker;
  else if (!sim.caseInfo) await workerForPlace();
  if (data.department) sim.dept = data.department;
  const c = sim.caseInfo;
  document.getElementById("worker-who").textContent = sim.worker
    ? `${sim.worker.name}（${sim.worker.id}）${c ? ` · 案件 ${c.code} ${c.state}` : ""}` : "（等居民的案件）";
  document.getElementById("dept-who").textContent = sim.dept
    ? `${sim.dept.name}（群 ${sim.dept.chat_id}，成员 ${sim.dept.member_id || "无"}）` : "（等派单）";
}

async function workerForPlace() {
  const place = sim.places[Number(document.getElementById("place").value)];
  if (!place) return;
  try {
    const data = await GS.api(`/sim/api/grid-worker?grid=${encodeURIComponent(place.grid)}`);
    sim.worker = data.worker;
  } catch (error) { sim.worker = null; }
}

/* ---------- wiring ---------- */

function fillSelect(id, items, label) {
  document.getElementById(id).innerHTML = items.map((item, i) => `<option value="${i}">${GS.esc(label(item))}</option>`).join("");
}

async function start() {
  const presets = await GS.api("/sim/api/presets");
  sim.places = presets.places;
  fillSelect("resident", presets.residents, (r) => `${r.name} (${r.openid.slice(-4)})`);
  fillSelect("place", presets.places, (p) => `${p.label} · ${p.street}街 ${p.community}`);
  fillSelect("problem", presets.problems, (p) => p.replace("{place}", "…"));
  const residents = presets.residents;
  sim.openid = residents[0].openid;
  document.getElementById("resident").addEventListener("change", (e) => {
    sim.openid = residents[Number(e.target.value)].openid;
    sim.worker = null; sim.dept = null; sim.seen = {};
    wechatPoll.now();
  });
  document.getElementById("fill-report").addEventListener("click", () => {
    const place = sim.places[Number(document.getElementById("place").value)];
    const problem = presets.problems[Number(document.getElementById("problem").value)];
    document.getElementById("wechat-input").value = problem.replace("{place}", place ? place.label : "");
    document.getElementById("wechat-input").focus();
  });
  document.getElementById("send-location").addEventListener("click", () => {
    const place = sim.places[Number(document.getElementById("place").value)];
    if (place) sendWechat({ location: { lat: place.lat, lng: place.lng, label: `广州市越秀区${place.label}` } });
  });
  document.getElementById("subscribe").addEventListener("click", () => sendWechat({ event: "subscribe" }));
  document.getElementById("wechat-photo").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (file) await sendWechat({ photo_b64: await GS.fileToBase64(file) });
    e.target.value = "";
  });
  document.getElementById("wechat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("wechat-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    sendWechat({ text });
  });
  document.getElementById("wechat-log").addEventListener("click", (e) => {
    const chip = e.target.closest(".chip");
    if (chip) sendWechat({ text: chip.dataset.reply });
  });
  for (const pane of ["worker", "dept"]) {
    document.getElementById(`${pane}-log`).addEventListener("click", (e) => {
      const button = e.target.closest(".tg-button");
      if (button) telegramCall(pane, "/sim/api/telegram/press", { message_id: Number(button.dataset.message), data: button.dataset.data });
    });
    document.getElementById(`${pane}-form`).addEventListener("submit", (e) => {
      e.preventDefault();
      const input = document.getElementById(`${pane}-input`);
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      const body = { text };
      if (pane === "dept") body.reply_to = latestCardId("dept-log");
      telegramCall(pane, "/sim/api/telegram/message", body);
    });
    document.getElementById(`${pane}-photo`).addEventListener("click", () => {
      const body = { photo_b64: demoPhoto(pane === "worker" ? "现场处置完成" : "部门办结") };
      const card = latestCardId(`${pane}-log`);
      if (card && pane === "dept") body.reply_to = card;
      telegramCall(pane, "/sim/api/telegram/message", body);
    });
  }
  const report = (id) => (error) => setStatus(id, error.message, true);
  Object.assign(wechatPoll, GS.poll(refreshWechat, 1200, report("wechat-status")));
  GS.poll(followCase, 1500, report("worker-status"));
  workerPoll = GS.poll(() => refreshChat("worker"), 1200, report("worker-status"));
  deptPoll = GS.poll(() => refreshChat("dept"), 1200, report("dept-status"));
}

start().catch((error) => setStatus("wechat-status", `模拟器启动失败：${error.message}`, true));
