"""The chaos harness (bench/chaos, issue 14) as part of the suite: a seeded run of about two
minutes, every fault kind of issue 14 at least once, and every agent's row right once the faults
stop, issue 30's kinds among them (a clock step back across a restart, two workers with one node
name, SIGKILLs right after a run's end, a lock on an office table, an outage longer than
``office_offline_after``, a flapping agent).

The harness runs its own PostgreSQL cluster (initdb) and Redis (redis-server) on free loopback
ports, so it never restarts the servers other tests use. Without those binaries the test skips,
except in CI (CI=true), where it fails. A failure prints the harness's verdict: the agent, what
the oracle expected, what the row says, and the seed (replay it with
``python -m bench.chaos --seed <seed> --minutes 2``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]  # python -m bench.chaos runs from the repository root
MISSING_BINARIES = 3  # the harness's exit code when it finds no initdb, postgres or redis-server
SEED = 1  # covers every fault kind (the schedule places each once)
MINUTES = 2  # of faults, after a 20 s baseline: about five minutes in all
KINDS = "all"  # issue 14's eleven kinds and issue 30's seven
# no serve replica here: the posts oracle judges timing across processes and faults, and its
# rules are proven on the twenty-minute run (python -m bench.chaos); the suite proves every
# notification defect of issue 30 with a test of its own (tests/web, tests/e2e/test_notify_*)
SERVES = 0
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.mark.timeout(900)
def test_seeded_chaos_run_ends_with_every_row_as_the_oracle_says(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--seed", str(SEED), "--minutes", str(MINUTES),
         "--baseline", "20", "--kinds", KINDS, "--serves", str(SERVES),
         "--json", str(tmp_path / "verdict.json")],
        capture_output=True, text=True, timeout=840, cwd=ROOT,
    )
    output = done.stdout + done.stderr
    if done.returncode == MISSING_BINARIES:
        message = f"{done.stderr.strip()} (the harness runs a private PostgreSQL and Redis)"
        if IN_CI:
            pytest.fail(message + " (CI requires it)")
        pytest.skip(message)
    assert done.returncode == 0, output
    assert "VERDICT: PASS" in done.stdout, output
