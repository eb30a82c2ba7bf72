"""A real PgBouncer for the tests: transaction pooling, stock settings otherwise.

It listens on a free loopback port and sends every database (``* = ...``) to the PostgreSQL
server of the tests, with the same user. PgBouncer refuses to run as root, so when the tests
run as root it is started as the ``postgres`` user, in a temporary directory that user owns.
Settings left at PgBouncer's defaults on purpose: no ``ignore_startup_parameters``, no
prepared-statement support (1.18 has none), stock pool sizes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["PgBouncer", "pgbouncer_binary"]

RUN_AS = "postgres"  # the Debian package's user; PgBouncer will not run as root


def pgbouncer_binary() -> str | None:
    """The ``pgbouncer`` executable (Debian installs it in /usr/sbin, often not on PATH)."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    """One PgBouncer process in front of the PostgreSQL server of ``upstream_url``.

    Parameters:
        upstream_url: a URL of the PostgreSQL server (its host, port and user are used).
        pool_mode: PgBouncer's ``pool_mode``; ``transaction`` is the one that breaks session state.
    """

    def __init__(self, upstream_url: str, *, pool_mode: str = "transaction") -> None:
        self.upstream = make_url(upstream_url)
        self.pool_mode = pool_mode
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="office-pgbouncer-"))
        self.pid: int | None = None

    @property
    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, database_url: str) -> str:
        """``database_url`` (any driver, any database of the upstream server) through PgBouncer."""
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def start(self, *, timeout: float = 15.0) -> PgBouncer:
        binary = pgbouncer_binary()
        if binary is None:
            raise RuntimeError("pgbouncer is not installed (Debian: apt-get install -y pgbouncer)")
        user = self.upstream.username or RUN_AS
        ini = self.dir / "pgbouncer.ini"
        (self.dir / "userlist.txt").write_text(f'"{user}" ""\n')
        ini.write_text(
            "[databases]\n"
            f"* = host={self.upstream.host or '127.0.0.1'} port={self.upstream.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            f"pool_mode = {self.pool_mode}\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'userlist.txt'}\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
            f"pidfile = {self.dir / 'pgbouncer.pid'}\n"
        )
        command = [binary, "-d", str(ini)]
        if os.geteuid() == 0:
            owner = pwd.getpwnam(RUN_AS)
            for path in (self.dir, *self.dir.iterdir()):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            command = ["su", RUN_AS, "-s", "/bin/sh", "-c", " ".join(command)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"pgbouncer did not start ({done.returncode}): {done.stderr.strip()}\n{self.log}"
            )
        self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pid_file = self.dir / "pgbouncer.pid"
        while time.monotonic() < deadline:
            if self.pid is None and pid_file.exists() and pid_file.read_text().strip():
                self.pid = int(pid_file.read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if self.pid is not None:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"pgbouncer is not listening on 127.0.0.1:{self.port}:\n{self.log}")

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM (PgBouncer's immediate shutdown: a safe one waits for every client), then
        its files go."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)
