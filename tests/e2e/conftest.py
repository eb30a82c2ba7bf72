"""Real `celery worker` processes on a real broker (Redis), writing to a real database.

Each test gets its own queue and its own database, so workers of one test never take another's
tasks and tables never mix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from celery_office import agent_statuses

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the test app, as the workers import it
class Worker:
    """One `celery worker` subprocess and its log."""

    def __init__(self, env: dict[str, str], log_path: Path, args: list[str]) -> None:
        self.env = env
        self.log_path = log_path
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> Worker:
        return self.start_in(HERE, wait_ready=wait_ready, timeout=timeout)

    def start_in(self, cwd: Path, *, wait_ready: bool = True, timeout: float = 30.0) -> Worker:
        """Start the worker with ``cwd`` as its working directory."""
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", *self.args],
            cwd=cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill_group() takes the pool too
        )
        if wait_ready:
            self.wait_log("ready.", timeout)
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited ({self.proc.returncode}):\n{self.log}")
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not in the worker log after {timeout} s:\n{self.log}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker did not exit in {timeout} s:\n{self.log}") from None

    def stop(self, timeout: float = 30.0) -> int:
        """Warm shutdown (SIGTERM) and wait for the exit."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill_group(self) -> None:
        """SIGKILL the worker and its pool processes at once, like a lost host."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # no pool process outlives a test
            except ProcessLookupError:
                pass
        if hasattr(self, "_log"):
            self._log.close()


class Office:
    """A test's broker queue, database and workers, and ways to read the table."""

    def __init__(
        self, db_url: str, broker_url: str, tmp_path: Path, backend_url: str | None = None
    ) -> None:
        self.db_url = db_url
        self.broker_url = broker_url
        self.tmp_path = tmp_path
        self.queue = f"office-test-{uuid.uuid4().hex[:10]}"
        self.workers: list[Worker] = []
        self.engine = create_engine(db_url)
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": backend_url or broker_url,
            "OFFICE_TEST_QUEUE": self.queue,
            "OFFICE_DATABASE_URL": db_url,
            "OFFICE_AGENTS_FILE": str(HERE / "agents.yaml"),
            "OFFICE_FLUSH_INTERVAL": "0.2",
            "OFFICE_HEARTBEAT_INTERVAL": "60",
        }
        from office_app import app  # noqa: E402  (the same app the workers run)

        self.app = app
        app.conf.task_default_queue = self.queue

    def worker(
        self,
        *,
        pool: str = "prefork",
        concurrency: int = 2,
        name: str = "w1",
        env: dict[str, str] | None = None,
        extra: list[str] | None = None,
        start: bool = True,
        app: str = "office_app",
    ) -> Worker:
        worker = Worker(
            {**self.env, **(env or {})},
            self.tmp_path / f"worker-{name}-{len(self.workers)}.log",
            [
                "-A", app, "worker", "-P", pool, "-c", str(concurrency),
                "-n", f"{name}@%h", "-Q", self.queue, "-l", "info",
                "--without-mingle", "--without-gossip", *(extra or []),
            ],
        )
        self.workers.append(worker)
        if start:
            worker.start()
        return worker

    def send(self, name: str, **kwargs: Any) -> Any:
        return self.app.send_task(f"office_app.{name}", kwargs=kwargs, queue=self.queue)

    def rows(self, offline_after: float = 300.0) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return {row.agent_id: row for row in agent_statuses(conn, offline_after)}

    def row(self, agent_id: str) -> Any:
        return self.rows().get(agent_id)

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params))

    def sql_write(self, statement: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(statement), params)

    def wait_for(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 20.0, what: str = ""
    ) -> dict[str, Any]:
        """Poll the table until ``check(rows)`` holds; fail with the last rows otherwise."""
        deadline = time.monotonic() + timeout
        rows: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                rows = self.rows()
                if check(rows):
                    return rows
            except Exception:  # the tables may not exist before the first worker migrates
                pass
            time.sleep(0.1)
        logs = "\n".join(w.log for w in self.workers)
        try:
            runs = self.sql("select task_id, agent_id, node_name, started_at from office_agent_run")
        except Exception as exc:
            runs = [exc]
        logs = f"runs in progress: {runs}\n{logs}"
        state = "\n".join(f"  {a}: {r.status.value} task={r.task!r}" for a, r in rows.items())
        raise AssertionError(f"timed out waiting for {what or check}:\n{state}\n--- logs:\n{logs}")

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self.engine.dispose()


@pytest.fixture
def office_pg(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Office]:
    office = Office(pg_url, redis_url, tmp_path)
    yield office
    office.close()


@pytest.fixture
def office_sqlite(sqlite_url: str, redis_url: str, tmp_path: Path) -> Iterator[Office]:
    office = Office(sqlite_url, redis_url, tmp_path)
    yield office
    office.close()
