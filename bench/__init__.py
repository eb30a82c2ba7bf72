"""celery-office's benchmarks, grouped by what they measure; run each from the repository root.

- ``python -m bench.overhead.throughput``: a real prefork worker's throughput, instrumented or not.
- ``python -m bench.overhead.handlers``: the CPU the handlers and the writer add to one task.
- ``python -m bench.fleet``: many workers writing one table (commits, latency, lock waits).
- ``python -m bench.chaos``: real workers under mixed faults, every row checked by an oracle.
- ``python -m bench.serve``: ``celery office serve`` under 20 pollers, its database healthy,
  then hung.
- ``python -m bench.page``: one open page of 1,000 agents in Chromium (payload, draw, CPU a poll).

Figures: ``bench/RESULTS.md``. None of this is part of the test suite's pass/fail.
"""
