"""Start or run a command confined by a Policy, and clean up after it.

`copy=True` binds become private copies under a staging directory of their own, readable by
the sandbox user and removed when the command ends. Symlinks are copied as links, never
followed: a link in a pull request to a file of the worker's host must not bring that file
in (inside, it resolves against the sandbox's own filesystem).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from workers.sandbox.bubblewrap import Bubblewrap, Sandbox, host_path, sandbox_from_env
from workers.sandbox.policy import Policy


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str  # stdout and stderr together, as the command wrote them
    timed_out: bool = False


def _readable_copy(source: Path, dest: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True)
    else:
        shutil.copy2(source, dest, follow_symlinks=False)
    for path in [dest, *dest.rglob("*")] if dest.is_dir() else [dest]:
        if path.is_symlink():
            continue
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            path.chmod(0o755)
        else:
            path.chmod(0o755 if mode & stat.S_IXUSR else 0o644)


def hand_over(path: Path, sandbox: Sandbox) -> None:
    """Let the sandbox's user write the directory `path` (a writable bind): as root, the
    confined command runs as another user."""
    if isinstance(sandbox, Bubblewrap) and sandbox.as_root:
        os.chown(path, sandbox.uid, sandbox.uid)


class _Staging:
    """The copies one confined command gets, in a directory removed afterwards."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.root: Path | None = None

    def __enter__(self) -> list[tuple[Path, str, bool]]:
        binds: list[tuple[Path, str, bool]] = []
        for i, bind in enumerate(self.policy.binds):
            source = bind.source
            if bind.copy:
                if self.root is None:
                    self.root = Path(tempfile.mkdtemp(prefix="deploybot-sandbox-"))
                    self.root.chmod(0o711)  # the sandbox user passes, but cannot list
                source = self.root / f"{i}-{bind.source.name or 'root'}"
                _readable_copy(bind.source, source)
            binds.append((source, bind.target, bind.writable))
        return binds

    def __exit__(self, *exc: object) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.asynccontextmanager
async def confined(argv: Sequence[str], policy: Policy, *, sandbox: Sandbox | None = None,
                   stdout: int | None = asyncio.subprocess.PIPE,
                   stderr: int | None = asyncio.subprocess.STDOUT,
                   pass_fds: Sequence[int] = ()) -> AsyncIterator[asyncio.subprocess.Process]:
    """The confined process, running; killed and reaped when the block ends, however it
    ends (SandboxUnavailable when no sandbox can be made)."""
    box = sandbox or sandbox_from_env()
    with _Staging(policy) as binds:
        command = box.command(argv, policy, binds)
        if box.confines:  # bwrap passes this environment on (never in its argv)
            env, cwd = {"PATH": os.defpath, **policy.env}, None
        else:
            env = {k: host_path(v, binds) for k, v in policy.env.items()}
            cwd = host_path(policy.cwd, binds)
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            env=env, cwd=cwd, pass_fds=tuple(pass_fds), start_new_session=True)
        try:
            yield proc
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                await proc.wait()


MAX_OUTPUT_BYTES = 4 * 1024 * 1024


class _Tail:
    """The last `limit` bytes of a stream, and how much came before them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.kept += chunk
        if len(self.kept) > self.limit:
            excess = len(self.kept) - self.limit
            self.dropped += excess
            del self.kept[:excess]

    def text(self) -> str:
        head = f"[{self.dropped} bytes of output left out]\n" if self.dropped else ""
        return head + self.kept.decode(errors="replace")


async def run_confined(argv: Sequence[str], policy: Policy, *, timeout_s: float,
                       sandbox: Sandbox | None = None,
                       max_output: int = MAX_OUTPUT_BYTES) -> Completed:
    """Run `argv` to its end (or `timeout_s`) and return its exit code and output: the last
    `max_output` bytes of it, also when it timed out (a command that prints without end
    cannot fill the worker's memory)."""
    tail = _Tail(max_output)
    async with confined(argv, policy, sandbox=sandbox) as proc:
        assert proc.stdout is not None  # confined pipes stdout (stderr joined) by default
        try:
            async with asyncio.timeout(timeout_s):
                while chunk := await proc.stdout.read(65536):
                    tail.add(chunk)
                await proc.wait()
        except TimeoutError:
            return Completed(returncode=-9, output=tail.text(), timed_out=True)
    return Completed(returncode=proc.returncode if proc.returncode is not None else -1,
                     output=tail.text())
