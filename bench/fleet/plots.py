"""The fleet benchmark's pictures: by fleet size (fleet.png) and by workers at one size
(bend.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(results: list[dict[str, Any]], path: Path, flush_interval: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (vis, conns) = plt.subplots(1, 2, figsize=(11, 4.2))
    for via, style in (("direct", "-o"), ("pgbouncer", "--s")):
        rs = sorted((r for r in results if r["via"] == via), key=lambda r: r["processes"])
        if not rs:
            continue
        ps = [r["processes"] for r in rs]
        vis.plot(ps, [r["start_p99"] for r in rs], style, label=f"run start, {via}")
        vis.plot(ps, [r["end_p99"] for r in rs], style, label=f"run end, {via}", alpha=0.6)
        conns.plot(ps, [r["server_conns"] for r in rs], style, label=f"server connections, {via}")
    rs = sorted({r["processes"]: r["workers"] for r in results}.items())
    conns.plot([p for p, _ in rs], [w for _, w in rs], color="grey", linewidth=8, alpha=0.3,
               zorder=0, label="target: at most 1 per worker (P // 64 workers)")
    vis.axhline(2 * flush_interval, color="red", linestyle=":", label="target: 2 x flush interval")
    vis.set_ylim(0, 2.4 * flush_interval)
    vis.set(xscale="log", xlabel="pool processes (total)", ylabel="p99 seconds to the row",
            title="Visibility p99 (observer, 50 ms polls)")
    conns.set(xscale="log", xlabel="pool processes (total)", ylabel="connections (max)",
              title="Plugin's PostgreSQL server connections", ylim=(0, None))
    for ax in (vis, conns):
        ax.set_xticks(sorted({r["processes"] for r in results}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_bend(results: list[dict[str, Any]], path: Path, flush_interval: float) -> None:
    """p99 to the row and commits per second by the number of workers, for one fleet size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = sorted(results, key=lambda r: r["workers"])
    ws = [r["workers"] for r in rs]
    fig, (vis, tps) = plt.subplots(1, 2, figsize=(11, 4.2))
    vis.plot(ws, [r["start_p99"] for r in rs], "-o", label="run start")
    vis.plot(ws, [r["end_p99"] for r in rs], "--s", label="run end", alpha=0.7)
    vis.axhline(2 * flush_interval, color="red", linestyle=":", label="target: 2 x flush interval")
    vis.set(xscale="log", yscale="log", xlabel="workers", ylabel="p99 seconds to the row (log)",
            title=f"Visibility p99, {rs[0]['processes']} pool processes")
    tps.plot(ws, [r["tps"] for r in rs], "-o", label="commits/s")
    tps.plot(ws, [w / flush_interval for w in ws], color="grey", linestyle=":",
             label="due: 1 per worker per flush interval")
    tps.set(xscale="log", xlabel="workers", ylabel="commits per second", title="Commits")
    vis.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    vis.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    for ax in (vis, tps):
        ax.set_xticks(ws)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
