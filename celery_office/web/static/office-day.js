// An agent's day, opened by a click on its desk or row: the periods of
// api/agents/{id}/timeline (status, since, until, task) as a strip across the day, and listed.
// Words from the config block (celery_office/web/texts.py); values set as text only.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("office-config").textContent);
  const T = config.texts;
  const STATUSES = ["ok", "warning", "error", "offline"];
  const box = document.getElementById("day");
  let asked = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString(document.documentElement.lang, {hour: "2-digit", minute: "2-digit"});
  }

  function word(period) {
    if (period.status === "ok") return period.task ? T.status.working : T.status.idle;
    return T.status[period.status] || period.status;
  }

  function draw(agentId, periods) {
    const strip = document.getElementById("day-strip");
    const list = document.getElementById("day-periods");
    const now = Date.now();
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const start = periods.length ? Math.max(midnight.getTime(), Date.parse(periods[0].since)) : now;
    const span = Math.max(1, now - start);
    const segments = [];
    const items = [];
    for (const period of periods) {
      const from = Math.max(start, Date.parse(period.since));
      const to = period.until ? Date.parse(period.until) : now;
      const status = STATUSES.includes(period.status) ? period.status : "other";
      const segment = el("span", "segment status-" + status);
      segment.dataset.status = period.status;
      segment.style.width = (100 * Math.max(0, to - from) / span).toFixed(3) + "%";
      segment.title = word(period) + (period.task ? ": " + period.task : "");
      segments.push(segment);
      const item = el("li", "period status-" + status);
      item.dataset.status = period.status;
      item.append(el("span", "dot"),
        el("span", "when", clock(period.since) + "–" + (period.until ? clock(period.until) : "")),
        el("span", "state-text", word(period)));
      if (period.task) item.append(el("span", "task", period.task));
      items.push(item);
    }
    strip.replaceChildren(...segments);
    list.replaceChildren(...(items.length ? items : [el("li", "muted", T.strip_empty)]));
  }

  async function open(agentId) {
    asked = agentId;
    box.hidden = false;
    box.dataset.agentId = agentId;
    document.getElementById("day-title").textContent = T.day + ": " + agentId;
    try {
      const response = await fetch(config.api + "/" + encodeURIComponent(agentId) + "/timeline",
        {cache: "no-store", headers: {Accept: "application/json"}});
      const body = await response.json().catch(() => null);
      if (asked !== agentId) return;
      if (response.ok && Array.isArray(body)) {
        draw(agentId, body);
      } else {
        document.getElementById("day-strip").replaceChildren();
        document.getElementById("day-periods").replaceChildren(el("li", "muted",
          T.strip_unavailable.replace("{0}", (body && body.error) || response.status)));
      }
      box.setAttribute("aria-busy", "false");
    } catch (error) {
      document.getElementById("day-periods").replaceChildren(el("li", "muted",
        T.strip_unavailable.replace("{0}", String(error))));
    }
  }

  const close = document.getElementById("day-close");
  close.textContent = T.close;
  close.addEventListener("click", () => { box.hidden = true; asked = null; });
  window.officeDay = {open};
})();
