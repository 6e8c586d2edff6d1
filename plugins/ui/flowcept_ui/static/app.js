// flowcept provenance browser: renders the pages from the JSON API. Plain JS, no dependencies; text always goes in
// through text nodes (data is never parsed as HTML), charts are inline SVG.
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
const main = () => document.getElementById("main");

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}
async function api(path) {
  const r = await fetch(path, {headers: {Accept: "application/json"}, credentials: "same-origin"});
  const body = await r.json().catch(() => ({error: {status: r.status, message: r.statusText}}));
  if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
  return body;
}
const enc = encodeURIComponent;
const fmtTime = (t) => (typeof t === "number" ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 23) : "—");
function fmtDur(d) {
  if (typeof d !== "number") return "—";
  if (d < 1) return (d * 1000).toFixed(d < 0.01 ? 2 : 1) + " ms";
  if (d < 120) return d.toFixed(2) + " s";
  return (d / 60).toFixed(1) + " min";
}
const badge = (st) => h("span", {class: "badge " + (st || "")}, st || "—");
const link = (href, text) => h("a", {href}, text);
const wfLink = (id, name) => link("/workflows/" + enc(id), name || id);
const taskLink = (id, text) => link("/tasks/" + enc(id), text || id);
const card = (id, title, ...kids) => h("section", {class: "card", id}, title ? h("h2", {}, title) : null, ...kids);
function kv(pairs) {
  return h("dl", {class: "kv"}, pairs.filter((p) => p).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}
function table(headers, rows, cls) {
  return h("table", {class: cls || ""}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {class: x.num ? "num" : ""}, x.t ?? x)))),
    h("tbody", {}, rows));
}
const COLORS = {FINISHED: "#2f8f4e", ERROR: "#c0392b", RUNNING: "#d08b1f"};
const SERIES = ["#2463b4", "#c0392b", "#2f8f4e", "#8e44ad", "#d08b1f", "#16a085"];
function fail(e) { main().replaceChildren(h("p", {class: "notice"}, "Could not load: " + e.message)); }

// ---- charts ------------------------------------------------------------------------------------------------------
function lineChart(series, opts) {
  const W = 640, H = 220, L = 48, R = 12, T = 12, B = 28;
  const pts = series.flatMap((x) => x.points.filter((p) => typeof p[1] === "number"));
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label, class: "chart"});
  if (!pts.length) { svg.append(s("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "no data")); return svg; }
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = opts.yMin ?? Math.min(...pts.map((p) => p[1])), y1 = opts.yMax ?? Math.max(...pts.map((p) => p[1]));
  if (x1 === x0) x1 = x0 + 1; if (y1 === y0) { y1 = y0 + 1; }
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R), Y = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  svg.append(s("line", {class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B}), s("line", {class: "axis", x1: L, y1: T, x2: L, y2: H - B}));
  for (const v of [y0, (y0 + y1) / 2, y1]) svg.append(s("text", {x: L - 4, y: Y(v) + 4, "text-anchor": "end"}, +v.toPrecision(3)));
  const xl = opts.xTime ? (v) => fmtTime(v).slice(11, 19) : (v) => +v.toPrecision(4);
  svg.append(s("text", {x: L, y: H - 8}, xl(x0)), s("text", {x: W - R, y: H - 8, "text-anchor": "end"}, xl(x1)));
  series.forEach((ser, i) => {
    const p = ser.points.filter((q) => typeof q[1] === "number");
    if (!p.length) return;
    const d = p.map((q, j) => (j ? "L" : "M") + X(q[0]).toFixed(1) + " " + Y(q[1]).toFixed(1)).join(" ");
    svg.append(s("path", {d, fill: "none", stroke: SERIES[i % SERIES.length], "stroke-width": 1.6, class: "series", "data-name": ser.name}));
    if (p.length <= 60) for (const q of p) svg.append(s("circle", {cx: X(q[0]), cy: Y(q[1]), r: 2.2, fill: SERIES[i % SERIES.length]}));
  });
  return svg;
}
function legend(names) {
  return h("div", {class: "legend"}, names.map((n, i) => { const sw = h("i"); sw.style.background = SERIES[i % SERIES.length]; return h("span", {}, sw, n); }));
}
// The timeline: one lane per activity, a bar per task (the server sends at most a few thousand); add() appends new
// bars (the live view) and moves the others only when the time span or the lanes change.
const GANTT_MAX = 6000;
function gantt(tl) {
  const W = 900, L = 140, R = 10, lane = 22;
  const g = {bars: [], lanes: [], t0: 0, t1: 1, rects: []};
  const svg = s("svg", {role: "img", "aria-label": "task timeline", class: "gantt"});
  const timed = (b) => typeof b.started_at === "number";
  const X = (t) => L + ((t - g.t0) / Math.max(g.t1 - g.t0, 1e-9)) * (W - L - R);
  const span = (bars) => { for (const b of bars) { g.t0 = Math.min(g.t0, b.started_at); g.t1 = Math.max(g.t1, b.ended_at ?? b.started_at); } };
  function place(rect, b) {
    const x = X(b.started_at);
    rect.setAttribute("x", x.toFixed(1));
    rect.setAttribute("width", Math.max(X(b.ended_at ?? b.started_at) - x, 2).toFixed(1));
  }
  function bar(b) {
    const a = s("a", {href: "/tasks/" + enc(b.task_id)});
    const rect = s("rect", {y: 16 + g.lanes.indexOf(b.activity_id) * lane, height: lane - 6, rx: 2, class: "bar",
      fill: COLORS[b.status] || "#7f8c8d", "data-task": b.task_id}, s("title", {}, `${b.activity_id} ${b.status || ""} ${fmtDur((b.ended_at ?? b.started_at) - b.started_at)}`));
    place(rect, b);
    a.append(rect);
    g.rects.push([rect, b]);
    return a;
  }
  function labels() {
    svg.querySelectorAll("text.when").forEach((t) => t.remove());
    svg.append(s("text", {x: L, y: 10, class: "when"}, fmtTime(g.t0)), s("text", {x: W - R, y: 10, "text-anchor": "end", class: "when"}, fmtTime(g.t1)));
  }
  function layout() {
    g.lanes = [...new Set(g.bars.map((b) => b.activity_id))];
    const H = 24 + g.lanes.length * lane;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    g.rects = [];
    if (!g.bars.length) { svg.replaceChildren(s("text", {x: W / 2, y: 16, "text-anchor": "middle"}, "no timed tasks")); return; }
    g.t0 = Infinity; g.t1 = -Infinity; span(g.bars);
    svg.replaceChildren(...g.lanes.map((a, i) => s("text", {x: L - 6, y: 16 + i * lane + 12, "text-anchor": "end"}, a.length > 20 ? a.slice(0, 19) + "…" : a)),
      ...g.bars.map(bar));
    labels();
  }
  function update(bars) {  // tasks already drawn that changed (a status, an end): colour, title, width
    const by = new Map(bars.map((b) => [b.task_id, b]));
    for (const entry of g.rects) {
      const b = by.get(entry[1].task_id);
      if (!b || !timed(b)) continue;
      Object.assign(entry[1], b);
      entry[0].setAttribute("fill", COLORS[b.status] || "#7f8c8d");
      entry[0].querySelector("title").textContent = `${b.activity_id} ${b.status || ""} ${fmtDur((b.ended_at ?? b.started_at) - b.started_at)}`;
      place(entry[0], b);
    }
  }
  function add(bars) {
    bars = bars.filter(timed);
    if (!bars.length) return;
    g.bars.push(...bars);
    if (!g.rects.length || g.bars.length > GANTT_MAX || bars.some((b) => !g.lanes.includes(b.activity_id))) {
      if (g.bars.length > GANTT_MAX) g.bars = g.bars.filter((b, i) => b.status === "ERROR" || i % 2 === 0 || i >= g.bars.length - bars.length);
      layout();
      return;
    }
    const t0 = g.t0, t1 = g.t1;
    span(bars);
    if (g.t0 !== t0 || g.t1 !== t1) { for (const [rect, b] of g.rects) place(rect, b); labels(); }
    svg.append(...bars.map(bar));
  }
  g.bars = tl.bars.filter(timed);
  layout();
  return {el: svg, add, update, count: () => g.bars.length};
}
function lineageGraph(lin, selfId) {
  const cols = new Map();
  for (const n of lin.nodes) { const d = n.depth ?? 0; if (!cols.has(d)) cols.set(d, []); cols.get(d).push(n); }
  const depths = [...cols.keys()].sort((a, b) => a - b), colW = 190, rowH = 44;
  // order each column by where its neighbours in the columns to its left sit (fewer crossing edges)
  const row = new Map(), near = new Map();
  for (const e of lin.edges) for (const [a, b] of [[e.from, e.to], [e.to, e.from]]) { if (!near.has(a)) near.set(a, []); near.get(a).push(b); }
  for (const d of depths) {
    const col = cols.get(d), at = (n) => { const r = (near.get(n.task_id) || []).filter((x) => row.has(x)).map((x) => row.get(x)); return r.length ? r.reduce((p, q) => p + q, 0) / r.length : Infinity; };
    const keyed = col.map((n, i) => [at(n), i, n]).sort((p, q) => p[0] - q[0] || p[1] - q[1]);
    cols.set(d, keyed.map((k) => k[2]));
    cols.get(d).forEach((n, i) => row.set(n.task_id, i));
  }
  const W = Math.max(depths.length * colW, 300), H = Math.max(...[...cols.values()].map((c) => c.length)) * rowH + 20;
  const pos = new Map();
  depths.forEach((d, ci) => cols.get(d).forEach((n, ri) => pos.set(n.task_id, [20 + ci * colW, 10 + ri * rowH])));
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "lineage graph", class: "lineage"});
  svg.append(s("defs", {}, s("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto"},
    s("path", {d: "M0 0 L10 5 L0 10 z", fill: "#8895a7"}))));
  for (const e of lin.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    svg.append(s("line", {x1: a[0] + 150, y1: a[1] + 16, x2: b[0], y2: b[1] + 16, stroke: "#8895a7", "marker-end": "url(#arrow)", class: "edge"}));
  }
  for (const n of lin.nodes) {
    const [x, y] = pos.get(n.task_id), me = n.task_id === selfId;
    const value = n.kind === "value";
    const g = me || value ? s("g", {class: value ? "node value" : "node self"}) : s("a", {href: "/tasks/" + enc(n.task_id), class: "node", "data-task": n.task_id});
    g.append(s("rect", {x, y, width: 150, height: 32, rx: value ? 14 : 5, fill: me ? "#1d232b" : value ? "#f3f6fa" : "#fff",
      stroke: COLORS[n.status] || "#8895a7", "stroke-width": value ? 1 : 2, "stroke-dasharray": value ? "4 3" : null}),
      s("text", {x: x + 8, y: y + 14, fill: me ? "#fff" : "#1d232b"}, (n.activity_id || "?").length > 21 ? n.activity_id.slice(0, 20) + "…" : (n.activity_id || "?")),
      s("text", {x: x + 8, y: y + 27, fill: me ? "#c9d1db" : null}, value ? "value" : (n.task_id || "").slice(-22)));
    svg.append(g);
  }
  return svg;
}
function tree(value) {
  const node = (v) => {
    if (v && typeof v === "object") {
      const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
      if (!entries.length) return h("span", {class: "v"}, Array.isArray(v) ? "[]" : "{}");
      return h("ul", {}, entries.map(([k, x]) => h("li", {}, h("span", {class: "k"}, k + ": "), node(x))));
    }
    return h("span", {class: "v"}, JSON.stringify(v));
  };
  if (value === undefined || value === null) return h("p", {class: "muted"}, "nothing recorded");
  return h("div", {class: "tree"}, typeof value === "object" ? node(value) : h("ul", {}, h("li", {}, node(value))));
}

// ---- pages -------------------------------------------------------------------------------------------------------
async function homePage() {
  document.title = "Workflows · flowcept";
  const q = new URLSearchParams(location.search);
  const field = (name, ph) => h("input", {name, placeholder: ph, value: q.get(name) || ""});
  const form = h("form", {class: "search", id: "search", method: "get", action: "/"},
    field("name", "name contains"), field("user", "user"), field("campaign_id", "campaign id"),
    field("since", "since (ISO or Unix s)"), field("until", "until"), h("button", {type: "submit"}, "Search"));
  main().replaceChildren(h("h1", {}, "Workflows"), form, h("div", {id: "workflows"}, h("p", {class: "muted"}, "Loading…")));
  const params = new URLSearchParams();
  for (const k of ["name", "user", "campaign_id", "since", "until", "offset"]) if (q.get(k)) params.set(k, q.get(k));
  params.set("limit", "50");
  const page = await api("/api/workflows?" + params);
  const rows = page.items.map((w) => h("tr", {}, h("td", {}, wfLink(w.workflow_id, w.name || "(unnamed)")),
    h("td", {class: "muted"}, w.workflow_id), h("td", {}, w.campaign_id ? link("/campaigns/" + enc(w.campaign_id), w.campaign_id) : "—"),
    h("td", {}, w.user || "—"), h("td", {}, badge(w.status)), h("td", {}, fmtTime(w.started_at ?? w.utc_timestamp)),
    h("td", {class: "num"}, w.task_count)));
  const pager = h("div", {class: "pager"}, h("span", {class: "muted"}, `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`));
  if (page.next_offset !== null) { const n = new URLSearchParams(q); n.set("offset", page.next_offset); pager.append(link("?" + n, "next ›")); }
  document.getElementById("workflows").replaceChildren(page.items.length
    ? table(["name", "workflow id", "campaign", "user", "status", "started (UTC)", {t: "tasks", num: 1}], rows, "workflows") : h("p", {class: "muted"}, "No workflow matches."), pager);
}

function activityTable(acts) {
  const statuses = [...new Set(acts.flatMap((a) => Object.keys(a.by_status)))].sort();
  return table(["activity", {t: "tasks", num: 1}, ...statuses.map((st) => ({t: st, num: 1})), {t: "min", num: 1}, {t: "mean", num: 1},
    {t: "median", num: 1}, {t: "max", num: 1}, {t: "total", num: 1}],
  acts.map((a) => h("tr", {"data-activity": a.activity_id}, h("td", {}, a.activity_id), h("td", {class: "num count"}, a.count),
    statuses.map((st) => h("td", {class: "num"}, a.by_status[st] || 0)),
    ["min", "mean", "median", "max", "total"].map((k) => h("td", {class: "num"}, fmtDur(a.duration[k]))))), "activities");
}

const wfState = {id: null, filters: {}, offset: 0, shownCount: null, timer: null, page: null, seq: 0, generation: null};
const taskRow = (t) => h("tr", {"data-task": t.task_id}, h("td", {}, taskLink(t.task_id)), h("td", {}, t.activity_id), h("td", {}, badge(t.status)),
  h("td", {}, fmtTime(t.started_at)), h("td", {class: "num"}, fmtDur(t.duration)), h("td", {}, t.parent_task_id ? taskLink(t.parent_task_id) : "—"));
function pager(page) {
  const shown = `${page.offset + 1}–${page.offset + page.items.length}`;
  const el = h("div", {class: "pager", id: "task-pager"}, h("span", {class: "muted"}, !page.items.length ? "no tasks"
    : page.total === null ? (page.next_offset === null ? shown : `${shown} of more`) : `${shown} of ${page.total}`));
  if (page.offset > 0) el.append(h("button", {class: "plain", onclick: () => { wfState.offset = Math.max(0, page.offset - page.limit); loadTasks(); }}, "‹ previous"));
  if (page.next_offset !== null) el.append(h("button", {class: "plain", onclick: () => { wfState.offset = page.next_offset; loadTasks(); }}, "next ›"));
  return el;
}
async function loadTasks() {
  const p = new URLSearchParams({limit: "100", offset: String(wfState.offset), ...wfState.filters});
  const page = wfState.page = await api(`/api/workflows/${enc(wfState.id)}/tasks?` + p);
  document.getElementById("task-list").replaceChildren(table(["task", "activity", "status", "started (UTC)", {t: "duration", num: 1}, "parent"],
    page.items.map(taskRow), "tasks"), pager(page));
}
// new tasks (the live view): appended when the page shown is the last one and sorts them last, else only counted
function addTaskRows(rows) {
  const page = wfState.page, f = wfState.filters;
  if (!page || !rows.length) return;
  const match = rows.filter((t) => (!f.activity_id || t.activity_id === f.activity_id) && (!f.status || t.status === f.status));
  if (page.total !== null) page.total += match.length;
  const last = !f.sort || f.sort === "task_id" || f.sort === "started_at";
  if (page.next_offset === null && last) {
    const room = page.limit - page.items.length, body = document.querySelector("#task-list table.tasks tbody");
    if (body) body.append(...match.slice(0, room).map(taskRow));
    page.items.push(...match.slice(0, room));
    if (match.length > room) page.next_offset = page.offset + page.items.length;
  }
  const old = document.getElementById("task-pager");
  if (old) old.replaceWith(pager(page));
}

function updateTaskRows(rows) {  // tasks shown in the list that changed: their rows drawn again
  const page = wfState.page;
  if (!page) return;
  for (const t of rows) {
    const at = page.items.findIndex((it) => it.task_id === t.task_id);
    if (at < 0) continue;
    page.items[at] = t;
    const tr = [...document.querySelectorAll("#task-list table.tasks tbody tr")].find((r) => r.dataset.task === t.task_id);
    if (tr) tr.replaceWith(taskRow(t));
  }
}

function summaryCard(wf) {
  const rec = wf.workflow;
  return card("wf-summary", null, h("h1", {}, rec.name || "(unnamed workflow)"), kv([
    ["workflow id", rec.workflow_id], ["campaign", rec.campaign_id ? link("/campaigns/" + enc(rec.campaign_id), rec.campaign_id) : "—"],
    ["user", rec.user], ["status", badge(rec.status)], ["started", fmtTime(rec.started_at ?? wf.first_started_at)],
    ["ended", fmtTime(rec.ended_at ?? wf.last_ended_at)], ["host", rec.hostname],
    ["tasks", h("span", {id: "task-count"}, String(wf.task_count))],
    ["by status", h("span", {id: "by-status"}, Object.entries(wf.by_status).map(([k, v]) => h("span", {}, badge(k), " " + v + "  ")))],
  ]));
}
const errorsCard = (errors, count) => card("errors", `Errors (${errors.length < count ? errors.length + " of " : ""}${count})`,
  errors.length ? h("ul", {}, errors.map((e) => h("li", {}, taskLink(e.task_id, e.activity_id), " ",
    h("span", {class: "muted"}, fmtTime(e.started_at)), h("div", {class: "error-msg"}, e.message)))) : h("p", {class: "muted"}, "No errors."));
function telemetryCard(tel) {
  const series = ["cpu %", "memory %", "GPU %"].map((name, i) => ({name, points: tel.points.map((p) => [p[0], p[i + 1]])}))
    .filter((x) => x.points.some((p) => typeof p[1] === "number"));
  return card("telemetry", `Telemetry (${tel.of} samples)`, lineChart(series, {label: "telemetry", xTime: true, yMin: 0, yMax: 100}), legend(series.map((x) => x.name)));
}
const trendsCard = (trends) => card("trends", "Metric trends", ...(trends.length ? trends.map((t) => h("div", {class: "trend", "data-trend": t.activity_id + "." + t.name},
  h("div", {class: "muted"}, `${t.activity_id} → ${t.name} (${t.count} values, by ${t.x})`), lineChart([{name: t.name, points: t.points}], {label: t.name})))
  : [h("p", {class: "muted"}, "No generated value repeats.")]));
const timelineTitle = (shown, of) => `Timeline (${shown} of ${of} tasks)`;
// for tests and benchmarks: how many times the page was drawn or updated, and when (ms since the epoch)
const markDrawn = () => { document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1); document.body.dataset.drawnAt = String(Date.now()); };

async function workflowPage(id, refresh) {
  wfState.id = id;
  const [wf, charts] = await Promise.all([api("/api/workflows/" + enc(id)), api(`/api/workflows/${enc(id)}/charts`)]);
  const rec = wf.workflow;
  document.title = (rec.name || id) + " · flowcept";
  wfState.shownCount = wf.task_count;
  wfState.shownStatus = rec.status ?? null;
  wfState.seq = charts.seq;
  wfState.generation = charts.generation;
  wfState.revision = charts.revision ?? 0;
  wfState.timelineOf = charts.timeline.of;
  const filters = h("form", {class: "search", id: "task-filter"},
    h("select", {name: "activity_id"}, h("option", {value: ""}, "all activities"), wf.activities.map((a) => h("option", {value: a.activity_id}, a.activity_id))),
    h("select", {name: "status"}, h("option", {value: ""}, "all statuses"), Object.keys(wf.by_status).map((k) => h("option", {value: k}, k))),
    h("select", {name: "sort"}, ["task_id", "started_at", "-started_at", "ended_at", "-ended_at", "activity_id", "status"].map((k) => h("option", {value: k}, "sort: " + k))),
    h("button", {type: "submit"}, "Apply"));
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    wfState.filters = Object.fromEntries([...new FormData(filters)].filter(([, v]) => v));
    wfState.offset = 0; loadTasks().catch(fail);
  });
  wfState.gantt = gantt(charts.timeline);
  main().replaceChildren(summaryCard(wf),
    card("activities-card", "Activities", activityTable(wf.activities)),
    errorsCard(charts.errors, wf.error_count),
    card("timeline", timelineTitle(charts.timeline.shown, charts.timeline.of), wfState.gantt.el,
      h("div", {class: "legend"}, Object.entries(COLORS).map(([k, c]) => { const sw = h("i"); sw.style.background = c; return h("span", {}, sw, k); }))),
    h("div", {class: "grid"}, telemetryCard(charts.telemetry), trendsCard(charts.trends)),
    card("tasks-card", "Tasks", filters, h("div", {id: "task-list"}, h("p", {class: "muted"}, "Loading…"))));
  await loadTasks();
  markDrawn();
  if (!refresh) watch(id);
}

// The live view: each change of the task count or status, or of tasks already drawn, brings /updates (the tasks
// stored since the page was drawn, those that changed, and the small panels); new tasks are appended to the timeline
// and the task list, changed ones redrawn in place, nothing else is drawn again.
async function applyUpdates(id) {
  for (;;) {
    const u = await api(`/api/workflows/${enc(id)}/updates?` + new URLSearchParams({since: String(wfState.seq), generation: wfState.generation || "", revision: String(wfState.revision || 0)}));
    if (u.reload) { await workflowPage(id, true); return; }
    wfState.seq = u.next_since;
    wfState.revision = u.revision;
    wfState.shownCount = u.task_count;
    wfState.shownStatus = u.workflow.status ?? null;
    document.getElementById("wf-summary").replaceWith(summaryCard(u));
    document.querySelector("#activities-card table").replaceWith(activityTable(u.activities));
    document.getElementById("errors").replaceWith(errorsCard(u.errors, u.error_count));
    document.getElementById("telemetry").replaceWith(telemetryCard(u.telemetry));
    document.getElementById("trends").replaceWith(trendsCard(u.trends));
    wfState.gantt.add(u.tasks);
    if (u.changed.length) { wfState.gantt.update(u.changed); updateTaskRows(u.changed); }
    wfState.timelineOf += u.tasks.filter((t) => typeof t.started_at === "number").length;
    document.querySelector("#timeline h2").textContent = timelineTitle(wfState.gantt.count(), wfState.timelineOf);
    addTaskRows(u.tasks);
    wfState.stale = u.stale;
    if (u.next_since >= u.seq) break;
  }
  markDrawn();
  // durations, telemetry and trends of an update may lag (the server computes them every 2 s at most): ask again
  if (wfState.stale) setTimeout(() => { wfState.refresh = true; schedule(id); }, 2100);
}

function watch(id) {
  if (!window.EventSource) return;
  const src = new EventSource(`/api/workflows/${enc(id)}/events`);
  const liveBadge = document.getElementById("live");
  src.addEventListener("state", (ev) => {
    wfState.latest = JSON.parse(ev.data);
    liveBadge.hidden = wfState.latest.status === "FINISHED" || wfState.latest.status === "ERROR";
    const count = document.getElementById("task-count");  // at once; the rest follows with the update
    if (count && typeof wfState.latest.task_count === "number" && count.textContent !== String(wfState.latest.task_count)) {
      count.textContent = String(wfState.latest.task_count);
      document.body.dataset.countAt = String(Date.now());
    }
    schedule(id);
  });
}

function schedule(id) {
  const st = wfState.latest;
  if (!st || wfState.timer || (!wfState.refresh && !st.changed && st.task_count === wfState.shownCount && (st.status ?? null) === wfState.shownStatus)) return;
  // one update at a time; a burst of new tasks arrives in one; tasks that changed (st.changed) come with it
  st.changed = 0;
  wfState.timer = setTimeout(() => {
    wfState.refresh = false;
    applyUpdates(id).catch(fail).finally(() => { wfState.timer = null; schedule(id); });
  }, 50);
}

async function taskPage(id) {
  const data = await api("/api/tasks/" + enc(id));
  const t = data.task;
  document.title = (t.activity_id || id) + " · flowcept";
  const dur = typeof t.started_at === "number" && typeof t.ended_at === "number" ? t.ended_at - t.started_at : null;
  const telRows = ["telemetry_at_start", "telemetry_at_end"].filter((k) => t[k]);
  main().replaceChildren(
    card("task-summary", null, h("h1", {}, t.activity_id || "(no activity)"), kv([
      ["task id", t.task_id], ["workflow", t.workflow_id ? wfLink(t.workflow_id, t.workflow_name || t.workflow_id) : "—"],
      ["status", badge(t.status)], ["started", fmtTime(t.started_at)], ["ended", fmtTime(t.ended_at)], ["duration", fmtDur(dur)],
      ["host", t.hostname], ["parent", h("span", {id: "parent"}, data.parent ? taskLink(data.parent.task_id, (data.parent.activity_id || "") + " " + data.parent.task_id) : "—")],
    ]), t.stderr ? h("div", {class: "error-msg", id: "task-error"}, t.stderr) : null),
    h("div", {class: "grid"}, card("used", "Used", tree(t.used)), card("generated", "Generated", tree(t.generated))),
    card("lineage", `Lineage (${data.lineage.source === "get_lineage" ? "parent links and data flow" : "parent links"})`,
      data.lineage.note ? h("p", {class: "muted"}, data.lineage.note) : null, lineageGraph(data.lineage, t.task_id)),
    card("children", `Children (${data.children.length})`, data.children.length ? table(["task", "activity", "status", {t: "duration", num: 1}],
      data.children.map((c) => h("tr", {}, h("td", {}, taskLink(c.task_id)), h("td", {}, c.activity_id), h("td", {}, badge(c.status)), h("td", {class: "num"}, fmtDur(c.duration)))))
      : h("p", {class: "muted"}, "No nested tasks.")),
    card("task-telemetry", "Telemetry", telRows.length ? h("div", {class: "grid"}, telRows.map((k) => h("details", {open: telRows.length === 1}, h("summary", {}, k), tree(t[k])))) : h("p", {class: "muted"}, "No telemetry recorded.")),
    card("document", "Document", tree(Object.fromEntries(Object.entries(t).filter(([k]) => !["used", "generated", "telemetry_at_start", "telemetry_at_end"].includes(k))))));
}

async function campaignPage(id) {
  const q = new URLSearchParams(location.search);
  const params = new URLSearchParams({limit: "50"});
  for (const k of ["offset", "sort", "limit"]) if (q.get(k)) params.set(k, q.get(k));
  const c = await api(`/api/campaigns/${enc(id)}?` + params);
  document.title = "Campaign " + id + " · flowcept";
  const pager = h("div", {class: "pager", id: "campaign-pager"}, h("span", {class: "muted"},
    c.items.length ? `${c.offset + 1}–${c.offset + c.items.length} of ${c.total}` : `none of ${c.total}`));
  const to = (offset) => { const n = new URLSearchParams(q); n.set("offset", offset); return "?" + n; };
  if (c.offset > 0) pager.append(link(to(Math.max(0, c.offset - c.limit)), "‹ previous"));
  if (c.next_offset !== null) pager.append(link(to(c.next_offset), "next ›"));
  main().replaceChildren(card("campaign-summary", null, h("h1", {}, "Campaign " + id), kv([["workflows", c.workflow_count], ["tasks", c.task_count]])),
    card("campaign-workflows", "Workflows", table(["name", "workflow id", "status", "started (UTC)", {t: "tasks", num: 1}],
      c.items.map((w) => h("tr", {}, h("td", {}, wfLink(w.workflow_id, w.name || "(unnamed)")), h("td", {class: "muted"}, w.workflow_id),
        h("td", {}, badge(w.status)), h("td", {}, fmtTime(w.started_at ?? w.utc_timestamp)), h("td", {class: "num"}, w.task_count))), "workflows"), pager));
}

function route() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const pages = {workflows: workflowPage, tasks: taskPage, campaigns: campaignPage};
  const run = parts.length === 2 && pages[parts[0]] ? pages[parts[0]](parts[1]) : homePage();
  run.then(() => { document.body.dataset.readyMs = String(performance.now()); document.body.setAttribute("data-ready", "1"); }).catch(fail);
}
document.addEventListener("DOMContentLoaded", route);
