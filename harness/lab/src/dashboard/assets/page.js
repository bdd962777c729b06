// The dashboard page: polls /api/state once a second and draws it; every button is one POST
// of the control API. No framework, no build step: this file ships inside the lab binary.
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
let last = null;
let rateTouched = false;

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "X-Lab-Token": token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({ error: "no JSON answer" }));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function say(text, bad) {
  const m = $("message");
  m.textContent = text;
  m.className = bad ? "message bad" : "message";
}

async function act(body) {
  say("applying " + body.fault + " ...");
  try {
    const done = await api("POST", "/api/fault", body);
    say("done: " + done.done);
  } catch (e) {
    say(e.message, true);
  }
  poll();
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.onclick = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const colors = { up: "#23863a", paused: "#d97706", "cut off": "#8250df", down: "#c62828" };

function drawTopology(state) {
  const box = $("topology");
  box.replaceChildren();
  const defs = svg("defs", {});
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#e53935" }));
  defs.append(marker);
  box.append(defs);
  const n = state.nodes.length;
  const where = {};
  const cx = 210, cy = 185, r = n === 1 ? 0 : 115;
  state.nodes.forEach((node, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n + (n === 2 ? Math.PI / 2 : 0);
    where[node.id] = [cx + r * Math.cos(a), cy + r * Math.sin(a)];
  });
  where.client = [38, 30];
  for (const link of state.links) {
    const [x1, y1] = where[link.from];
    const [x2, y2] = where[link.to];
    const faulted = link.faults.length > 0;
    if (link.from === "client") {
      box.append(svg("line", { x1, y1, x2, y2, stroke: faulted ? "#e53935" : "#d0d7de",
        "stroke-width": faulted ? 3 : 1, "stroke-dasharray": "4 4",
        "marker-end": faulted ? "url(#arrow)" : "" }));
    } else {
      // Each direction its own line, offset to its side.
      const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1;
      const ox = (-dy / len) * 5, oy = (dx / len) * 5;
      const shrink = 30 / len;
      const sx = x1 + dx * shrink + ox, sy = y1 + dy * shrink + oy;
      const ex = x2 - dx * shrink + ox, ey = y2 - dy * shrink + oy;
      box.append(svg("line", { x1: sx, y1: sy, x2: ex, y2: ey,
        stroke: faulted ? "#e53935" : "#9aa3ad", "stroke-width": faulted ? 3.5 : 1.5,
        "marker-end": faulted ? "url(#arrow)" : "" }));
    }
    if (faulted) {
      const t = 0.35;
      const lx = x1 + (x2 - x1) * t + (link.from === "client" ? 0 : -(y2 - y1) * 0.08);
      const ly = y1 + (y2 - y1) * t + (link.from === "client" ? 0 : (x2 - x1) * 0.08);
      box.append(svg("text", { x: lx, y: ly, class: "small", "text-anchor": "middle" },
        link.faults.join(", ")));
    }
  }
  box.append(svg("rect", { x: 6, y: 14, width: 64, height: 32, rx: 6, fill: "#f6f8fa", stroke: "#9aa3ad" }));
  box.append(svg("text", { x: 38, y: 35, "text-anchor": "middle" }, "clients"));
  for (const node of state.nodes) {
    const [x, y] = where[node.id];
    box.append(svg("circle", { cx: x, cy: y, r: 27, fill: colors[node.state] || "#9aa3ad" }));
    box.append(svg("text", { x, y: y + 5, "text-anchor": "middle", fill: "#fff" }, node.id));
    box.append(svg("text", { x, y: y + 45, "text-anchor": "middle", class: "small",
      style: "fill:#57606a" }, node.state));
  }
}

// The cards are built once and updated in place: a card rebuilt under the pointer would eat
// a click that spans a poll.
function drawNodes(state) {
  const list = $("nodes");
  for (const node of state.nodes) {
    let card = list.querySelector(`[data-node="${node.id}"]`);
    if (!card) {
      const button = (label, fault) =>
        el("button", { "data-fault": fault, onclick: () => act({ fault, target: node.id }) }, label);
      card = el("div", { class: "node", "data-node": node.id },
        el("h3", {}, node.id, el("span", { class: "state" }), el("span", { class: "pid" })),
        el("div", { class: "buttons" }, button("Kill", "kill"), button("Pause", "pause"),
          button("Resume", "resume"), button("Restart", "restart"), button("Isolate", "isolate")),
        el("div", { class: "metrics" }));
      list.append(card);
    }
    card.className = "node " + node.state.replace(" ", "-");
    card.querySelector(".state").textContent = node.state;
    card.querySelector(".pid").textContent = node.pid ? "pid " + node.pid : "";
    const rows = node.metrics.map(([k, v, perSecond]) => el("tr", {}, el("td", {}, k),
      el("td", { class: "num" }, fmt(v)),
      el("td", { class: "num rise" }, perSecond === null ? "" : "+" + fmt(perSecond) + "/s")));
    card.querySelector(".metrics").replaceChildren(
      rows.length ? el("table", {}, ...rows) : el("span", { class: "pid" }, "no /metrics answer"));
  }
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (Number.isInteger(v)) return String(v);
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function drawFigures(state) {
  const s = state.second;
  $("f-ok").textContent = s.ok;
  $("f-sent").textContent = s.sent;
  const errors = Object.values(s.errors).reduce((a, b) => a + b, 0);
  $("f-err").textContent = errors;
  $("f-err").classList.toggle("bad", errors > 0);
  $("f-p50").textContent = fmt(s.p50_ms);
  $("f-p99").textContent = fmt(s.p99_ms);
  $("f-max").textContent = fmt(s.max_ms);
  const kinds = Object.entries(s.errors).map(([k, v]) => k + " " + v);
  $("f-kinds").textContent = kinds.length ? kinds.join(" · ") : "no errors";
}

function fillLinkSelects(state) {
  const ids = state.nodes.map((n) => n.id);
  const from = $("l-from"), to = $("l-to");
  if (from.options.length) return;
  for (const id of ["client", ...ids]) from.append(el("option", { value: id }, id));
  for (const id of ids) to.append(el("option", { value: id }, id));
  if (ids.length > 1) to.value = ids[1];
  $("groups").placeholder = ids.length > 1 ? ids[0] + " | " + ids.slice(1).join(",") : "n1 | n2";
}

function drawActions(state) {
  const list = $("actions");
  list.replaceChildren(...state.actions.map((a) =>
    el("li", {}, el("span", { class: "t" }, a.at.toFixed(3) + " s"), a.label,
      a.error ? el("span", { class: "err" }, " (failed: " + a.error + ")") : "")));
}

async function poll() {
  let state;
  try {
    state = await api("GET", "/api/state");
  } catch (e) {
    say("the dashboard does not answer: " + e.message, true);
    return;
  }
  last = state;
  $("node").textContent = state.node;
  $("clock").textContent = state.elapsed.toFixed(1) + " s";
  if (!rateTouched) $("rate").value = state.rate;
  fillLinkSelects(state);
  drawTopology(state);
  drawNodes(state);
  drawFigures(state);
  $("plots").innerHTML = state.plots;
  drawActions(state);
  document.body.classList.toggle("presenter", state.presenter);
  const caption = $("caption");
  caption.hidden = !state.caption;
  if (state.caption && caption.textContent !== state.caption) caption.textContent = state.caption;
  if (state.stopping) say("stopping: writing the report; the nodes stop next", true);
}

$("rate").addEventListener("input", () => { rateTouched = true; });
$("set-rate").onclick = async () => {
  try {
    const done = await api("POST", "/api/rate", { rate: Number($("rate").value) });
    say("rate set to " + done.rate + "/s");
    rateTouched = false;
  } catch (e) { say(e.message, true); }
};
$("heal").onclick = async () => {
  await act({ fault: "heal" });
  await act({ fault: "clear" });
};
$("clear").onclick = () => act({ fault: "clear" });
$("stop").onclick = async () => {
  try { await api("POST", "/api/stop"); say("stopping: writing the report; see the terminal", true); }
  catch (e) { say(e.message, true); }
};
$("record").onclick = async () => {
  try {
    const r = await api("POST", "/api/record");
    const blob = new Blob([r.scenario], { type: "application/toml" });
    const a = el("a", { href: URL.createObjectURL(blob), download: "dashboard-recording.toml" });
    document.body.append(a);
    a.click();
    a.remove();
    say(r.written ? "recorded: " + r.written : "recording downloaded; replay: cargo lab scenario run <file>");
  } catch (e) { say(e.message, true); }
};
$("link-form").onsubmit = (event) => {
  event.preventDefault();
  const from = $("l-from").value, to = $("l-to").value, kind = $("l-fault").value;
  const value = $("l-value").value.trim();
  if (kind === "cut-both") {
    if (from === "client") { say("cut both ways joins two nodes; pick a node as from", true); return; }
    act({ fault: "cut", from, to }).then(() => act({ fault: "cut", from: to, to: from }));
    return;
  }
  const body = { fault: kind, from, to };
  if (kind === "latency") body.latency = (value || "100") + (/[a-z]$/.test(value) ? "" : "ms");
  if (kind === "loss" || kind === "drop_response") body.p = Number(value || "0.3");
  act(body);
};
$("partition-form").onsubmit = (event) => {
  event.preventDefault();
  const groups = $("groups").value.split("|").map((g) => g.split(",").map((s) => s.trim()).filter(Boolean));
  act({ fault: "partition", groups });
};
poll();
setInterval(poll, 1000);
