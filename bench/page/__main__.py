"""The office page with 1,000 agents, in Debian's headless Chromium: what one open page costs.

    python -m bench.page [--agents 1000] [--seconds 20] [--tree DIR] [--keep]

``--agents`` agents (``bulk_0`` ... ``bulk_999``, three in error) are written to a real
PostgreSQL, then a real ``celery office serve`` serves them (from ``--tree``, a checkout of
another version, to compare; default this one) while ten agents change every second. Measured:
``/api/agents``' payload (raw, and as sent to a browser that accepts gzip), the first draw (from
navigation until every agent is on the page), the browser's CPU per poll (Chromium's
``TaskDuration`` from the DevTools Performance domain, over ``--seconds``, divided by the polls
answered, while ten agents change and once they stopped), and the page's DOM node count.
Figures: ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.serve.__main__ import start_serve
from celery_office import migrate
from tests.web.browser import chromium
from tests.web.fleet_office import ERRORS, fill_fleet

PG_ADMIN = os.environ.get("OFFICE_TEST_PG_URL",
                          "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
DATABASE = "office_bench_page"
ROOT = Path(__file__).resolve().parents[2]
PARTS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def fill(agents: int) -> str:
    """A fresh database of ``agents`` agents (``tests/web/fleet_office.py``: three in error,
    some in warning, the rest ok, with today's numbers)."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DATABASE}"))
    admin.dispose()
    url = make_url(PG_ADMIN).set(database=DATABASE).render_as_string(hide_password=False)
    migrate(url)
    fill_fleet(url, agents)
    return url


def churn(url: str, agents: int, stop: threading.Event) -> None:
    """Ten agents report each second (a new task text, activity now), as a live fleet does."""
    engine = create_engine(url)
    tick = 0
    while not stop.wait(1.0):
        tick += 1
        with engine.begin() as conn:
            for n in range(10):
                agent = (tick * 10 + n) % agents
                if agent in ERRORS:
                    continue
                conn.execute(text("UPDATE office_agent_status SET task = :task, "
                                  "last_activity = now() WHERE agent_id = :id"),
                             {"task": f"Сканирование цен {agent}, шаг {tick}",
                              "id": f"bulk_{agent}"})
    engine.dispose()


def payload(port: int) -> tuple[int, int]:
    """Bytes of /api/agents: as sent to a client without gzip, and to one with it."""
    sizes = []
    for accept in ("identity", "gzip"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/agents", headers={"Accept-Encoding": accept})
        sizes.append(len(conn.getresponse().read()))
        conn.close()
    return sizes[0], sizes[1]


def measure(page: Any, cdp: Any, polls: list[int], seconds: float) -> dict[str, float]:
    """The browser's CPU a poll over ``seconds`` (and its layout, style and script parts),
    and how many polls were answered, 304 among them."""

    def durations() -> dict[str, float]:
        metrics = cdp.send("Performance.getMetrics")["metrics"]
        return {m["name"]: float(m["value"]) for m in metrics if m["name"] in PARTS}

    before, count = durations(), len(polls)
    page.wait_for_timeout(seconds * 1000)
    after, answered = durations(), len(polls) - count
    spent = {name: 1000 * (after[name] - before[name]) / max(1, answered) for name in PARTS}
    return {"cpu_ms": spent["TaskDuration"], "script_ms": spent["ScriptDuration"],
            "cpu_share": (after["TaskDuration"] - before["TaskDuration"]) / seconds,
            "layout_ms": spent["LayoutDuration"], "style_ms": spent["RecalcStyleDuration"],
            "polls": answered, "not_modified": sum(1 for s in polls[count:] if s == 304)}


def browse(port: int, agents: int, seconds: float,
           stop: threading.Event) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """First draw and DOM nodes of one open page, then its CPU a poll while ten agents change
    a second, then once they stopped (``stop`` set)."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        polls: list[int] = []
        page.on("response", lambda r: polls.append(r.status) if "/api/agents" in r.url else None)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function(f"document.querySelectorAll('[data-agent-id]').length >= {agents}",
                               timeout=60000, polling="raf")
        draw = {"first_ms": page.evaluate("performance.now()"),
                "nodes": page.evaluate("document.getElementsByTagName('*').length")}
        page.wait_for_timeout(2500)  # past the first poll's aftermath
        busy = measure(page, cdp, polls, seconds)
        stop.set()
        page.wait_for_timeout(3000)
        return draw, busy, measure(page, cdp, polls, seconds)


def report(name: str, figures: dict[str, float], seconds: float) -> None:
    print(f"browser CPU, {name}: {figures['cpu_ms']:.1f} ms a poll, {figures['cpu_share']:.1%} "
          f"of a core ({figures['polls']:.0f} polls in {seconds:g} s, "
          f"{figures['not_modified']:.0f} answered 304); of which script "
          f"{figures['script_ms']:.1f} ms, layout {figures['layout_ms']:.1f} ms, style "
          f"{figures['style_ms']:.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="the checkout whose serve and page to measure (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep the database and serve's log")
    args = parser.parse_args(argv)
    url = fill(args.agents)
    log = Path(tempfile.mkdtemp(prefix="office-bench-page-")) / "serve.log"
    proc, port = start_serve(url, log, tree=args.tree.resolve())
    stop = threading.Event()
    changer = threading.Thread(target=churn, args=(url, args.agents, stop), daemon=True)
    try:
        raw, gzipped = payload(port)
        changer.start()
        draw, busy, quiet = browse(port, args.agents, args.seconds, stop)
        print(f"the page of {args.agents} agents ({args.tree.resolve().name}); load average "
              f"{os.getloadavg()[0]:.2f}")
        print(f"/api/agents: {raw / 1024:.0f} KiB raw, {gzipped / 1024:.0f} KiB to a browser "
              "that accepts gzip")
        print(f"first draw: {draw['first_ms']:.0f} ms; DOM nodes: {draw['nodes']:.0f}")
        report("ten agents changing a second", busy, args.seconds)
        report("nothing changing", quiet, args.seconds)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(15)
        if not args.keep:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            admin.dispose()


if __name__ == "__main__":
    main()
