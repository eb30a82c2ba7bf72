// The office page: polls api/agents (the JSON of `celery office status --json`) and redraws the
// rooms (departments) and desks (agents) without a reload. Every text comes from the config
// block the server puts in the page (celery_office/web/texts.py); every value from the office
// is set with textContent, never as HTML, so a task's text can never become markup.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("office-config").textContent);
  const T = config.texts;
  const PREFIX = config.prefixes;
  const STATUSES = ["ok", "warning", "error", "offline"];
  let lastGood = null; // when the last snapshot arrived

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fill(template, ...values) {
    return values.reduce((text, value, i) => text.replace("{" + i + "}", value), String(template));
  }

  function since(seconds) {
    // the largest whole unit, as `celery office status` says it (5s, 3m, 2h, 4d), in the texts' units
    const s = Math.max(0, Math.floor(seconds));
    const units = [["d", 86400], ["h", 3600], ["m", 60]];
    for (const [unit, size] of units) {
      if (s >= size) return Math.floor(s / size) + "\u00a0" + T.units[unit];
    }
    return s + "\u00a0" + T.units.s;
  }

  function runtime(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + "\u00a0" + T.units.s;
    const m = Math.floor(s / 60);
    if (m < 60) return m + "\u00a0" + T.units.m + " " + (s % 60) + "\u00a0" + T.units.s;
    return Math.floor(m / 60) + "\u00a0" + T.units.h + " " + (m % 60) + "\u00a0" + T.units.m;
  }

  function money(amount) {
    const whole = Math.round(Number(amount) || 0);
    return whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009") + "\u00a0" + T.per_month;
  }

  function clock(iso) {
    const when = iso ? new Date(iso) : new Date();
    return when.toLocaleTimeString(document.documentElement.lang || undefined);
  }

  // The salary rule of celery_office.snapshot.salary_total, per department: salary x FTE of
  // the agents not (effectively) offline. The office's total comes from the server.
  function salaryOf(agent) {
    if (agent.effective_status === "offline") return 0;
    const fte = agent.fte_coefficient === null ? 1 : Number(agent.fte_coefficient);
    return (Number(agent.salary_equivalent) || 0) * fte;
  }

  function statusClass(agent) {
    return STATUSES.includes(agent.effective_status) ? agent.effective_status : "other";
  }

  function statusText(agent) {
    const status = agent.effective_status;
    if (status === "ok") return agent.task ? T.status.working : T.status.idle;
    return T.status[status] || status; // a status a team added is shown as it is
  }

  function badgeOf(agent) {
    // which warning it is, from the task text the worker wrote (its prefixes come from Python)
    if (agent.effective_status !== "warning" || !agent.task) return null;
    for (const kind of ["overlong", "missed", "retry"]) {
      if (agent.task.startsWith(PREFIX[kind])) return kind;
    }
    return null;
  }

  function metricsText(metrics) {
    const keys = Object.keys(metrics || {}).sort();
    return keys.map((key) => {
      const value = metrics[key];
      return key + "=" + (typeof value === "string" ? value : JSON.stringify(value));
    }).join(", ");
  }

  function numbers(agent) {
    const today = agent.today || {};
    const list = el("dl", "today");
    const items = [[T.runs, today.runs || 0], [T.failed, today.failed || 0],
                   [T.runtime, runtime(today.runtime_s || 0)]];
    list.append(el("dt", "today-title", T.today));
    for (const [label, value] of items) {
      const pair = el("div", "pair" + (label === T.failed && value ? " bad" : ""));
      pair.append(el("dt", null, label), el("dd", null, value));
      list.append(pair);
    }
    return list;
  }

  function desk(agent) {
    const card = el("article", "desk status-" + statusClass(agent));
    card.dataset.agentId = agent.agent_id;
    card.dataset.status = agent.effective_status;
    const head = el("header", "desk-head");
    head.append(el("span", "dot"), el("h3", "name", agent.name));
    const who = el("p", "who");
    who.append(el("span", "agent-id", agent.agent_id));
    if (agent.brand) who.append(el("span", "tag", agent.brand));
    card.append(head, who);
    const state = el("p", "state");
    state.append(el("span", "state-text", statusText(agent)));
    const badge = badgeOf(agent);
    if (badge) state.append(el("span", "badge badge-" + badge, T.badges[badge]));
    card.append(state);
    if (agent.task) card.append(el("p", "task", agent.task));
    const seen = agent.silent_for === null ? T.never : fill(T.ago, since(agent.silent_for));
    card.append(el("p", "seen", T.last_seen + ": " + seen), numbers(agent));
    const metrics = metricsText(agent.metrics);
    if (metrics) card.append(el("p", "metrics", metrics));
    const fte = agent.fte_coefficient === null ? 1 : agent.fte_coefficient;
    card.append(el("p", "salary", money(agent.salary_equivalent || 0) + " × " + fte + " " + T.fte));
    return card;
  }

  function room(department, agents) {
    // a room as wide as its desks, up to three (narrow screens: one column, see office.css)
    const section = el("section", "room span-" + Math.min(agents.length, 3));
    section.dataset.department = department;
    const head = el("header", "room-head");
    const title = el("h2", null, T.departments[department] || department);
    const total = agents.reduce((sum, agent) => sum + salaryOf(agent), 0);
    const salary = el("span", "room-salary", T.salary + ": ");
    salary.append(el("span", "money", money(total)));
    head.append(title, el("span", "room-count", T.agents + ": " + agents.length), salary);
    const desks = el("div", "desks");
    for (const agent of agents) desks.append(desk(agent));
    section.append(head, desks);
    return section;
  }

  function summary(payload) {
    const box = document.getElementById("summary");
    const parts = [];
    for (const [status, count] of Object.entries(payload.summary.counts)) {
      const chip = el("span", "chip status-" + (STATUSES.includes(status) ? status : "other"));
      chip.append(el("span", "dot"), el("span", null, count + " " + (T.counts[status] || status)));
      parts.push(chip);
    }
    const salary = el("span", "total", T.salary + ", " + T.total + ": ");
    salary.title = T.salary_note;
    salary.append(el("span", "money", money(payload.summary.salary_equivalent)));
    parts.push(salary, el("span", "updated muted", fill(T.updated, clock(payload.summary.generated_at))));
    box.replaceChildren(...parts);
  }

  function render(payload) {
    const office = document.getElementById("office");
    const rooms = new Map();
    for (const agent of payload.agents) {
      if (!rooms.has(agent.department)) rooms.set(agent.department, []);
      rooms.get(agent.department).push(agent);
    }
    const sections = [];
    for (const [department, agents] of rooms) sections.push(room(department, agents));
    if (!sections.length) sections.push(el("p", "muted empty", T.empty));
    office.replaceChildren(...sections);
    office.setAttribute("aria-busy", "false");
    summary(payload);
  }

  function banner(text) {
    const box = document.getElementById("banner");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function poll() {
    try {
      const response = await fetch(config.api, {cache: "no-store", headers: {Accept: "application/json"}});
      const body = await response.json().catch(() => null);
      if (response.ok && body && Array.isArray(body.agents)) {
        render(body);
        const stale = body.stale; // the server's last good snapshot, the database away
        if (stale) {
          banner(fill(T.stale, since(stale.age_s), stale.reason));
        } else {
          lastGood = new Date();
          banner(null);
        }
      } else if (body && body.error) {
        banner(fill(T.database, body.error));
      } else {
        banner(fill(T.lost, lastGood ? clock(lastGood.toISOString()) : "—"));
      }
    } catch (error) {
      banner(fill(T.lost, lastGood ? clock(lastGood.toISOString()) : "—"));
    } finally {
      setTimeout(poll, config.refresh_ms);
    }
  }

  document.title = T.title;
  document.getElementById("subtitle").textContent = T.subtitle;
  document.getElementById("loading").textContent = T.loading;
  poll();
})();
