// The office page: polls api/agents with the page's own query (?status=error&department=...&q=...,
// filtered and ordered by the server) and its last ETag, and updates in place: one node per agent,
// kept by its id, whose texts change only where a value changed, so a selection survives a poll.
// Few agents: desks in rooms (departments); from config.compact_from on: rows of one table.
// Every word comes from the server: the frame's from the config block (celery_office/web/texts.py),
// the office's formatted in the API's "shown" (celery_office/web/view.py). Every value is set with
// textContent, never as HTML, so a task's text can never become markup.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("office-config").textContent);
  const T = config.texts;
  const STATUSES = ["ok", "warning", "error", "offline"];
  const agents = new Map(); // agent id -> {root, f: fields by name}
  const rooms = new Map(); // department -> {root, title, count, salary, desks}
  let mode = null; // "cards" or "rows"
  let etag = null;
  let lastGood = null;
  let timer = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fill(template, ...values) {
    return values.reduce((text, value, i) => text.replace("{" + i + "}", value), String(template));
  }

  function set(node, value) {
    const text = value === null || value === undefined ? "" : String(value);
    if (node.textContent !== text) node.textContent = text;
    const hidden = text === "" && node.dataset.optional === "1";
    if (node.hidden !== hidden) node.hidden = hidden;
  }

  function setClass(node, name) { if (node.className !== name) node.className = name; }
  function setData(node, key, value) { if (node.dataset[key] !== value) node.dataset[key] = value; }

  function optional(node) { node.dataset.optional = "1"; node.hidden = true; return node; }

  function statusClass(status) { return STATUSES.includes(status) ? status : "other"; }

  // ---------------------------------------------------------------- the filters, in the URL

  function params() { return new URLSearchParams(window.location.search); }

  function setParam(name, value) {
    const query = params();
    if (value) query.set(name, value); else query.delete(name);
    const search = query.toString();
    history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
    etag = null;
    pollNow();
  }

  function options(select, label, pairs) {
    const wanted = [["", label + ": " + T.filters.all], ...pairs];
    const key = JSON.stringify(wanted);
    if (select.dataset.key !== key) {
      select.replaceChildren(...wanted.map(([value, text]) => {
        const option = el("option", null, text);
        option.value = value;
        return option;
      }));
      select.dataset.key = key;
    }
    const current = params().get(select.id) || "";
    if (select.value !== current) select.value = current;
  }

  function chips(shown) {
    const box = document.getElementById("chips");
    const chosen = (params().get("status") || "").split(",").filter(Boolean);
    const nodes = shown.counts.map((count) => {
      let chip = box.querySelector('[data-status="' + CSS.escape(count.status) + '"]');
      if (!chip) {
        chip = el("button", null);
        chip.type = "button";
        chip.dataset.status = count.status;
        chip.append(el("span", "dot"), el("span", "chip-text"));
        chip.addEventListener("click", () => {
          const now = (params().get("status") || "").split(",").filter(Boolean);
          const next = now.includes(count.status) ? now.filter((s) => s !== count.status)
            : [...now, count.status];
          setParam("status", next.join(","));
        });
      }
      setClass(chip, "chip status-" + statusClass(count.status)
        + (chosen.includes(count.status) ? " chosen" : ""));
      chip.setAttribute("aria-pressed", String(chosen.includes(count.status)));
      set(chip.lastChild, count.text);
      return chip;
    });
    order(box, nodes);
  }

  // ---------------------------------------------------------------- agents, in place

  function order(container, wanted) {
    // the container's children become `wanted`, in order, moving only what is out of place
    let cursor = container.firstChild;
    for (const node of wanted) {
      if (node === cursor) cursor = cursor.nextSibling;
      else container.insertBefore(node, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      container.removeChild(cursor);
      cursor = next;
    }
  }

  function values(agent) {
    const s = agent.shown;
    return {
      name: agent.name, agent_id: agent.agent_id, brand: agent.brand, status: s.status,
      badge: s.badge, since: s.since, task_label: s.task_label, task: s.task, seen: s.seen,
      runs: agent.today.runs, failed: agent.today.failed, runtime: s.runtime,
      metrics: s.metrics, salary: s.salary, department: s.department,
    };
  }

  function desk() {
    const f = {
      dot: el("span", "dot"), name: el("h3", "name"), agent_id: el("span", "agent-id"),
      brand: optional(el("span", "tag")), status: el("span", "state-text"),
      badge: optional(el("span", "badge")), since: optional(el("span", "since")),
      task_label: optional(el("p", "task-label")), task: optional(el("p", "task")),
      seen: el("span"), runs: el("dd"), failed: el("dd"), runtime: el("dd"),
      metrics: optional(el("p", "metrics")), salary: el("p", "salary"),
    };
    const root = el("article");
    const head = el("header", "desk-head");
    head.append(f.dot, f.name);
    const who = el("p", "who");
    who.append(f.agent_id, f.brand);
    const state = el("p", "state");
    state.append(f.status, f.badge, f.since);
    const seen = el("p", "seen", T.last_seen + ": ");
    seen.append(f.seen);
    const today = el("dl", "today");
    today.append(el("dt", "today-title", T.today));
    for (const [label, node] of [[T.runs, f.runs], [T.failed, f.failed], [T.runtime, f.runtime]]) {
      const pair = el("div", "pair");
      pair.append(el("dt", null, label), node);
      today.append(pair);
    }
    f.failedPair = f.failed.parentNode;
    root.append(head, who, state, f.task_label, f.task, seen, today, f.metrics, f.salary);
    return {root, f, base: "desk"};
  }

  function row() {
    const f = {
      dot: el("span", "dot"), name: el("span", "name"), agent_id: el("span", "agent-id"),
      department: el("td", "department"), status: el("span", "state-text"),
      badge: optional(el("span", "badge")), since: el("td", "since"),
      task_label: optional(el("span", "task-label")), task: el("span", "task"),
      seen: el("td", "seen"), runs: el("td", "runs"),
    };
    const root = el("tr");
    const who = el("td", "cell-agent");
    who.append(f.name, f.agent_id);
    const state = el("td", "cell-state");
    state.append(f.dot, f.status, f.badge);
    const task = el("td", "task-cell");
    task.append(f.task_label, f.task);
    root.append(state, who, f.department, f.since, task, f.seen, f.runs);
    return {root, f, base: "row"};
  }

  function update(entry, agent) {
    const status = agent.effective_status;
    setClass(entry.root, entry.base + " status-" + statusClass(status));
    setData(entry.root, "agentId", agent.agent_id);
    setData(entry.root, "status", status);
    const v = values(agent);
    for (const [name, node] of Object.entries(entry.f)) {
      if (name in v) set(node, v[name]);
    }
    if (entry.f.badge) setClass(entry.f.badge, "badge badge-" + (agent.alert || "none"));
    if (entry.f.failedPair) setClass(entry.f.failedPair, "pair" + (agent.today.failed ? " bad" : ""));
  }

  function entryOf(agent, make) {
    let entry = agents.get(agent.agent_id);
    if (!entry) {
      entry = make();
      entry.root.addEventListener("click", () => openDay(entry.root.dataset.agentId));
      agents.set(agent.agent_id, entry);
    }
    update(entry, agent);
    return entry.root;
  }

  function roomOf(department, shown) {
    let room = rooms.get(department);
    if (!room) {
      room = {root: el("section", "room"), title: el("h2"), count: el("span", "room-count"),
              salary: el("span", "money"), desks: el("div", "desks")};
      const head = el("header", "room-head");
      const salary = el("span", "room-salary", T.salary + ": ");
      salary.append(room.salary);
      head.append(room.title, room.count, salary);
      room.root.append(head, room.desks);
      room.root.dataset.department = department;
      rooms.set(department, room);
    }
    const numbers = shown.departments[department] || {title: department, agents: "", salary: ""};
    set(room.title, numbers.title);
    set(room.count, numbers.agents);
    set(room.salary, numbers.salary);
    return room;
  }

  function switchMode(wanted, office) {
    if (mode === wanted) return;
    mode = wanted;
    agents.clear();
    rooms.clear();
    office.replaceChildren();
    setClass(office, wanted === "rows" ? "office compact" : "office");
  }

  function drawRows(office, payload) {
    let table = office.querySelector("table");
    if (!table) {
      table = el("table", "rows");
      const head = el("tr");
      for (const key of ["status", "name", "department", "since", "task", "seen", "runs"]) {
        head.append(el("th", null, T.columns[key]));
      }
      table.append(el("thead"), el("tbody"));
      table.tHead.append(head);
      office.replaceChildren(table);
    }
    order(table.tBodies[0], payload.agents.map((agent) => entryOf(agent, row)));
  }

  function drawCards(office, payload) {
    const grouped = new Map();
    for (const agent of payload.agents) {
      if (!grouped.has(agent.department)) grouped.set(agent.department, []);
      grouped.get(agent.department).push(agent);
    }
    const sections = [];
    for (const [department, list] of grouped) {
      const room = roomOf(department, payload.summary.shown);
      setClass(room.root, "room span-" + Math.min(list.length, 3));
      order(room.desks, list.map((agent) => entryOf(agent, desk)));
      sections.push(room.root);
    }
    for (const department of [...rooms.keys()]) {
      if (!grouped.has(department)) rooms.delete(department);
    }
    if (!sections.length) sections.push(el("p", "muted empty", payload.summary.shown.matched
      ? T.nothing_found : T.empty));
    order(office, sections);
  }

  function render(payload) {
    const office = document.getElementById("office");
    const shown = payload.summary.shown;
    switchMode(payload.agents.length >= config.compact_from ? "rows" : "cards", office);
    const ids = new Set(payload.agents.map((agent) => agent.agent_id));
    for (const id of [...agents.keys()]) if (!ids.has(id)) agents.delete(id);
    if (mode === "rows") drawRows(office, payload); else drawCards(office, payload);
    office.setAttribute("aria-busy", "false");
    chips(shown);
    set(document.getElementById("total"), T.salary + ", " + T.total + ": " + shown.salary);
    set(document.getElementById("matched"), shown.matched);
    options(document.getElementById("department"), T.filters.department, shown.filters.department);
    options(document.getElementById("brand"), T.filters.brand, shown.filters.brand);
  }

  // ---------------------------------------------------------------- polling

  function banner(text) {
    const box = document.getElementById("banner");
    set(box, text || "");
    box.hidden = !text;
  }

  function confirmed() {
    // the office as shown is the server's of now: a new answer, or a 304 (nothing changed)
    lastGood = new Date();
    set(document.getElementById("updated"),
      fill(T.updated, lastGood.toLocaleTimeString(document.documentElement.lang)));
    banner(null);
  }

  function lost() {
    banner(fill(T.lost, lastGood ? lastGood.toLocaleTimeString(document.documentElement.lang) : "—"));
  }

  async function poll() {
    timer = null;
    try {
      const headers = {Accept: "application/json"};
      if (etag) headers["If-None-Match"] = etag;
      const asked = window.location.search;
      const response = await fetch(config.api + asked, {cache: "no-store", headers});
      if (asked !== window.location.search) return; // the filters changed meanwhile
      if (response.status === 304) {
        confirmed();
        return;
      }
      const body = await response.json().catch(() => null);
      if (response.ok && body && Array.isArray(body.agents)) {
        render(body);
        etag = response.headers.get("ETag");
        if (body.stale) banner(fill(T.stale, body.stale.age, body.stale.reason));
        else confirmed();
      } else if (response.status === 400 && body && body.error) {
        banner(fill(T.query, body.error));
      } else if (body && body.error) {
        banner(fill(T.database, body.error));
      } else {
        lost();
      }
    } catch (error) {
      lost();
    } finally {
      if (timer === null) timer = setTimeout(poll, config.refresh_ms);
    }
  }

  function pollNow() {
    if (timer !== null) clearTimeout(timer);
    timer = 0; // a poll is on its way: no second timer
    poll();
  }

  function openDay(agentId) {
    if (window.getSelection && String(window.getSelection()) !== "") return; // selecting text
    if (window.officeDay) window.officeDay.open(agentId);
  }

  function start() {
    document.title = T.title;
    set(document.getElementById("subtitle"), T.subtitle);
    set(document.getElementById("loading"), T.loading);
    const search = document.getElementById("search");
    search.placeholder = T.filters.search;
    search.value = params().get("q") || "";
    let typing = null;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => setParam("q", search.value.trim()), 250);
    });
    for (const id of ["department", "brand"]) {
      const select = document.getElementById(id);
      select.addEventListener("change", () => setParam(id, select.value));
    }
    const reset = document.getElementById("reset");
    reset.textContent = T.filters.reset;
    reset.addEventListener("click", () => {
      search.value = "";
      history.replaceState(null, "", window.location.pathname);
      etag = null;
      pollNow();
    });
    document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
    pollNow();
  }

  start();
})();
