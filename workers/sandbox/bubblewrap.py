"""The confinement: bubblewrap namespaces, then an unprivileged user.

As root, bwrap makes the namespaces (mount, pid, ipc, uts, and net unless the policy needs
the network) and `setpriv` drops to the sandbox user with every capability gone before the
command starts; `--die-with-parent` and `--new-session` keep it from outliving the worker or
reaching its terminal. Not as root, bwrap adds a user namespace and the command keeps the
worker's uid, with only the bound paths to see.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from workers.sandbox.policy import Policy

log = logging.getLogger("deploybot.sandbox")

# The host's system files a program needs (shared libraries, certificates for registries,
# name resolution): read-only, and never the worker's data, home or site-packages.
_SYSTEM_RO = ("/usr", "/etc/ssl", "/etc/ca-certificates", "/etc/resolv.conf", "/etc/hosts",
              "/etc/nsswitch.conf", "/etc/localtime")
_SYSTEM_LINKS = (("usr/lib", "/lib"), ("usr/lib64", "/lib64"), ("usr/bin", "/bin"),
                 ("usr/sbin", "/sbin"))
DEFAULT_UID = 65534  # nobody
PRIVATE_TMP = "/tmp"  # noqa: S108 - the sandbox's own empty tmpfs, not the host's
SETTING = "DEPLOYBOT_SANDBOX"
HOW_TO_ENABLE = (
    "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) and allow user and "
    "network namespaces on the worker's host; only an operator who accepts running "
    f"pull-request code unconfined can set {SETTING}=off in the worker's environment "
    "(never from a repository)")


class SandboxUnavailable(RuntimeError):
    """No confinement can be made here: pull-request code is not run. The message says why
    and how to enable it."""


class Sandbox(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def confines(self) -> bool:
        """False only for the operator's explicit opt-out."""
        ...

    def command(self, argv: Sequence[str], policy: Policy,
                binds: Sequence[tuple[Path, str, bool]]) -> list[str]:
        """The argv that runs `argv` confined by `policy`; `binds` are (host path, target,
        writable) after copies were made."""
        ...


@dataclass(frozen=True)
class Bubblewrap:
    bwrap: str
    uid: int
    as_root: bool
    name: str = "bubblewrap"
    confines: bool = True

    def command(self, argv: Sequence[str], policy: Policy,
                binds: Sequence[tuple[Path, str, bool]]) -> list[str]:
        # No --clearenv/--setenv: the runner starts bwrap with the policy's environment and
        # nothing else, which bwrap passes on; values in argv would be readable by every
        # user of the machine (/proc/<pid>/cmdline), and they include database URLs.
        args = [self.bwrap, "--die-with-parent", "--new-session",
                "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not policy.network:
            args.append("--unshare-net")
        if not self.as_root:
            args.append("--unshare-user")
        # bwrap would make /etc (the parent of the binds below) 0700 for root alone: the
        # sandbox user could not resolve a name or read a certificate.
        args += ["--perms", "0755", "--dir", "/etc"]
        for path in _SYSTEM_RO:
            args += ["--ro-bind-try", path, path]
        for target, link in _SYSTEM_LINKS:
            if os.path.exists(link):
                args += ["--symlink", target, link]
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", PRIVATE_TMP]
        made: set[str] = {"/", PRIVATE_TMP, "/usr", "/proc", "/dev", "/etc"}
        for source, target, writable in binds:
            for parent in reversed(Path(target).parents):
                if str(parent) not in made:  # bwrap would make it 0700 for root alone
                    args += ["--perms", "0755", "--dir", str(parent)]
                    made.add(str(parent))
            args += ["--bind" if writable else "--ro-bind", str(source), target]
            made.add(target)
        args += ["--chdir", policy.cwd]
        if self.as_root:
            args += ["--", "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}",
                     "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        else:
            args.append("--")
        return args + list(argv)


@dataclass(frozen=True)
class Unconfined:
    """The operator's explicit opt-out: the command still gets only the policy's
    environment, but sees the whole machine. Logged at every use."""

    name: str = "none (DEPLOYBOT_SANDBOX=off)"
    confines: bool = False

    def command(self, argv: Sequence[str], policy: Policy,
                binds: Sequence[tuple[Path, str, bool]]) -> list[str]:
        log.warning("running pull-request code WITHOUT a sandbox (%s=off)", SETTING)
        return [host_path(arg, binds) for arg in argv]


def host_path(value: str, binds: Sequence[tuple[Path, str, bool]]) -> str:
    """`value` with a leading bind target replaced by its host path: what a sandbox path
    means when there is no sandbox."""
    for source, target, _ in sorted(binds, key=lambda b: -len(b[1])):
        if value == target or value.startswith(target.rstrip("/") + "/"):
            return str(source) + value[len(target.rstrip("/")):]
    return value


def sandbox_from_env(env: Mapping[str, str] | None = None) -> Sandbox:
    """The sandbox this worker uses; SandboxUnavailable (with the fix) when none works."""
    e = os.environ if env is None else env
    choice = e.get(SETTING, "bubblewrap").strip().lower()
    if choice == "off":
        return Unconfined()
    if choice not in ("bubblewrap", "bwrap", ""):
        raise SandboxUnavailable(f"{SETTING}={choice!r} is not a sandbox deploybot knows; "
                                 "use `bubblewrap` (the default) or `off`")
    uid = int(e.get("DEPLOYBOT_SANDBOX_UID", DEFAULT_UID))
    return _probe(shutil.which("bwrap", path=e.get("PATH")) or "", uid)


@functools.lru_cache(maxsize=4)
def _probe(bwrap: str, uid: int) -> Sandbox:
    """Make one sandbox and run `true` in it, once per process."""
    if not bwrap:
        raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed: {HOW_TO_ENABLE}")
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        raise SandboxUnavailable("`setpriv` (util-linux) is needed to drop to the sandbox "
                                 f"user as root: install util-linux, or {HOW_TO_ENABLE}")
    sandbox = Bubblewrap(bwrap=bwrap, uid=uid, as_root=os.geteuid() == 0)
    argv = sandbox.command(["true"], Policy(), [])
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap could not start ({exc}): {HOW_TO_ENABLE}"
                                 ) from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise SandboxUnavailable(f"bubblewrap cannot make a sandbox here "
                                 f"({why[-1] if why else 'exit ' + str(done.returncode)}): "
                                 f"{HOW_TO_ENABLE}")
    return sandbox
