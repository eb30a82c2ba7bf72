"""The chaos harness's own servers: a private PostgreSQL cluster and a private Redis.

The machine is shared: the harness never touches the PostgreSQL on :5432 or the Redis on :6379
that other people's tests use. It makes its own, in a temporary directory, on free loopback
ports, so restarting them (the faults) hurts nobody:

- PostgreSQL: ``initdb`` into the directory (as the ``postgres`` user when the harness runs as
  root: initdb refuses root), then ``postgres`` itself as a child in a process group of its
  own, listening on 127.0.0.1 only, its unix socket in the same directory. No fsync: the
  data are thrown away at the end.
- Redis: ``redis-server`` with no persistence (``--save "" --appendonly no``), so a restart
  loses every queue, as a broker that fails over without its data does.

Both are stopped, and their directory removed, by :meth:`Servers.close`, which the harness
calls in ``finally`` and from ``atexit``, whatever happens.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["Servers", "binary", "missing_binaries", "free_port"]

RUN_AS = "postgres"  # initdb and postgres refuse to run as root
BINARIES = ("initdb", "postgres", "redis-server")


def binary(name: str) -> str | None:
    """A server binary: on PATH, else in PostgreSQL's bindir (Debian keeps initdb and
    postgres in /usr/lib/postgresql/<version>/bin, off PATH)."""
    found = shutil.which(name)
    if found or name == "redis-server":
        return found
    dirs = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            dirs.append(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                       timeout=10).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    dirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in dirs:
        found = shutil.which(name, path=directory)
        if found:
            return found
    return None


def missing_binaries() -> list[str]:
    """The server binaries the harness needs and cannot find."""
    return [name for name in BINARIES if binary(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} is not listening on 127.0.0.1:{port} after {timeout} s")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Signal ``proc``, wait, then SIGKILL its whole process group."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


class Servers:
    """A private PostgreSQL and Redis under ``root`` (a fresh temporary directory).

    Parameters:
        root: the harness's temporary directory; the servers live in ``root/pg`` and
            ``root/redis``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pg_dir = root / "pg"
        self.redis_dir = root / "redis"
        self.pg_port = free_port()
        self.redis_port = free_port()
        self._pg: subprocess.Popen[bytes] | None = None
        self._redis: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            owner = pwd.getpwnam(RUN_AS)
            self._as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
            self.pg_user = RUN_AS
        else:
            self.pg_user = pwd.getpwuid(os.geteuid()).pw_name

    # ------------------------------------------------------------------ URLs

    def pg_url(self, database: str = "postgres", port: int | None = None) -> str:
        return f"postgresql+psycopg2://{self.pg_user}@127.0.0.1:{port or self.pg_port}/{database}"

    def redis_url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    # ------------------------------------------------------------------ PostgreSQL

    def init_pg(self) -> None:
        self.pg_dir.mkdir(parents=True)
        if self._as:
            os.chown(self.root, self._as["user"], self._as["group"])
            os.chown(self.pg_dir, self._as["user"], self._as["group"])
        done = subprocess.run(
            [binary("initdb") or "initdb", "-D", str(self.pg_dir / "data"), "-U", self.pg_user,
             "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"],
            capture_output=True, text=True, timeout=120, **self._as,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.strip()}")

    def start_pg(self, timeout: float = 30.0) -> None:
        log = open(self.pg_dir / "postgres.log", "ab")
        self._pg = subprocess.Popen(
            [binary("postgres") or "postgres", "-D", str(self.pg_dir / "data"),
             "-p", str(self.pg_port), "-k", str(self.pg_dir), "-c", "listen_addresses=127.0.0.1",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "shared_buffers=32MB", "-c", "max_connections=60"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **self._as,
        )
        log.close()
        _wait_port(self.pg_port, timeout, self._pg, "postgres")
        self._wait_pg_ready(timeout)

    def _wait_pg_ready(self, timeout: float) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(host="127.0.0.1", port=self.pg_port, user=self.pg_user,
                                 dbname="postgres", connect_timeout=2).close()
                return
            except psycopg2.OperationalError:  # "the database system is starting up"
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop_pg(self) -> None:
        _stop(self._pg, signal.SIGINT, 20)  # SIGINT: PostgreSQL's fast shutdown
        self._pg = None

    def restart_pg(self) -> None:
        self.stop_pg()
        self.start_pg()

    def sql(self, statement: str, *, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement in autocommit as the superuser, read-write whatever the
        database's default, on a connection of its own (never through the fault proxy)."""
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.pg_port, user=self.pg_user, dbname=database,
            connect_timeout=5, options="-c default_transaction_read_only=off",
            application_name="chaos-harness",
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    # ------------------------------------------------------------------ Redis

    def start_redis(self, timeout: float = 15.0) -> None:
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.redis_dir / "redis.log", "ab")
        self._redis = subprocess.Popen(
            [binary("redis-server") or "redis-server", "--port", str(self.redis_port),
             "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.redis_dir),
             "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        _wait_port(self.redis_port, timeout, self._redis, "redis-server")

    def stop_redis(self) -> None:
        _stop(self._redis, signal.SIGTERM, 10)
        self._redis = None

    def restart_redis(self) -> None:
        self.stop_redis()
        self.start_redis()

    # ------------------------------------------------------------------ all

    def close(self) -> None:
        """Stop both servers and remove their files; safe to call twice."""
        try:
            self.stop_redis()
        finally:
            try:
                self.stop_pg()
            finally:
                shutil.rmtree(self.pg_dir, ignore_errors=True)
                shutil.rmtree(self.redis_dir, ignore_errors=True)
