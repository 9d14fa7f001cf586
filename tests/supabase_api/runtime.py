"""Serve deployed function versions the way a hosted project does: each version's uploaded
source runs with Deno (the PyPI `deno` binary), `Deno.serve` bound to a loopback port of
ours, allowed the network on loopback and reading its own files only."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .state import Version

# Loads the entrypoint with Deno.serve redirected to the port we chose.
WRAPPER = """\
const [port, entry] = Deno.args;
const serve = Deno.serve.bind(Deno);
// deno-lint-ignore no-explicit-any
const patched = (a: any, b?: any) => {
  const handler = typeof a === "function" ? a : (b ?? a.handler);
  return serve({ port: Number(port), hostname: "127.0.0.1",
                 onListen() { console.log("deploybot-stand-in: ready"); } }, handler);
};
Object.defineProperty(Deno, "serve", { value: patched });
await import(entry);
"""
START_TIMEOUT_S = 60.0


def deno_binary() -> str:
    local = Path(sys.executable).with_name("deno")
    found = str(local) if local.exists() else shutil.which("deno")
    if found is None:
        raise RuntimeError("deno is not installed (pip install deno)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DenoRuntime:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "wrapper.ts").write_text(WRAPPER)
        self._running: dict[str, tuple[int, subprocess.Popen[bytes], int]] = {}
        self._lock = threading.Lock()

    def port_for(self, ref: str, slug: str, version: Version) -> int:
        """The port serving `version` of `slug`, started (and the older one stopped) if
        needed; blocking, so call it from a thread."""
        key = f"{ref}/{slug}"
        with self._lock:
            running = self._running.get(key)
            if running is not None and running[0] == version.version and (
                    running[1].poll() is None):
                return running[2]
            if running is not None:
                _stop(running[1])
            directory = self.root / ref / slug / f"v{version.version}"
            for name, data in version.files.items():
                target = directory / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            port = _free_port()
            entry = (directory / version.metadata["entrypoint_path"]).resolve()
            env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.root),
                   "DENO_DIR": str(self.root / "deno-cache"), "NO_COLOR": "1"}
            proc = subprocess.Popen(
                [deno_binary(), "run", "--no-prompt", "--no-lock", "--allow-net=127.0.0.1",
                 f"--allow-read={directory}", str(self.root / "wrapper.ts"), str(port),
                 entry.as_uri()],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=directory)
            assert proc.stdout is not None
            deadline = time.monotonic() + START_TIMEOUT_S
            seen = b""
            while b"deploybot-stand-in: ready" not in seen:
                line = proc.stdout.readline()
                if not line and proc.poll() is not None:
                    raise RuntimeError(f"{slug} v{version.version} did not start: "
                                       f"{seen.decode(errors='replace')[-2000:]}")
                seen += line
                if time.monotonic() > deadline:
                    _stop(proc)
                    raise RuntimeError(f"{slug} v{version.version} did not start in time")
            # Keep reading its output so a chatty function never blocks on a full pipe.
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            self._running[key] = (version.version, proc, port)
            return port

    def stop(self, ref: str | None = None, slug: str | None = None) -> None:
        with self._lock:
            for key in list(self._running):
                if (ref is None or key == f"{ref}/{slug}"):
                    _stop(self._running.pop(key)[1])


def _drain(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    for _ in iter(proc.stdout.readline, b""):
        pass


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
