"""The sandbox that runs pull-request code: what a confined command cannot reach.

Each test names the protection it proves; removing that protection from
workers/sandbox/bubblewrap.py makes it fail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from workers.sandbox.bubblewrap import SandboxUnavailable, sandbox_from_env
from workers.sandbox.policy import Bind, Policy
from workers.sandbox.runner import confined, run_confined

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (.ci/test installs it)")


async def sh(script: str, policy: Policy | None = None) -> tuple[int, str]:
    done = await run_confined(["sh", "-c", script], policy or Policy(), timeout_s=30)
    return done.returncode, done.output


async def test_the_worker_environment_stays_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", "-----BEGIN sekrit-----")
    _, out = await sh("env; cat /proc/1/environ", Policy(env={"ONLY": "this"}))
    assert "ONLY=this" in out
    assert "sekrit" not in out and "GITHUB_PRIVATE_KEY" not in out


async def test_host_files_not_bound_are_absent(tmp_path: Path) -> None:
    secret = tmp_path / "github-app.json"
    secret.write_text("private key")
    secret.chmod(0o644)  # even a readable file: it is simply not there
    code, out = await sh(f"cat {secret}; ls /root /work 2>&1")
    assert code != 0
    assert "private key" not in out


async def test_other_processes_are_invisible() -> None:
    _, out = await sh(f"ls /proc/{os.getpid()} 2>&1; ls -d /proc/[0-9]*")
    assert "No such file" in out
    assert len([line for line in out.splitlines() if line.startswith("/proc/")]) <= 4


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox user is switched only as root")
async def test_runs_as_an_unprivileged_user() -> None:
    _, out = await sh("id -u; grep CapEff /proc/self/status")
    lines = out.split()
    assert lines[0] == "65534"
    assert lines[-1] == "0000000000000000"


async def test_no_network_unless_the_policy_allows_it() -> None:
    # The machine's PostgreSQL (or anything on loopback) is out of reach without network.
    probe = "exec 3<>/dev/tcp/127.0.0.1/5432 && echo reached || echo refused"
    denied = await run_confined(["bash", "-c", probe], Policy(), timeout_s=30)
    assert "reached" not in denied.output
    allowed = await run_confined(["bash", "-c", probe], Policy(network=True), timeout_s=30)
    assert "reached" in allowed.output


async def test_a_copy_is_read_only_and_does_not_follow_links(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir(mode=0o700)
    (checkout / "index.ts").write_text("export {}")
    outside = tmp_path / "host-secret"
    outside.write_text("host secret")
    (checkout / "link").symlink_to(outside)
    policy = Policy(binds=(Bind(checkout, "/src", copy=True),), cwd="/src")
    _, out = await sh("cat index.ts; cat link; echo x > new.ts && echo wrote", policy)
    assert "export {}" in out
    assert "host secret" not in out
    assert "wrote" not in out
    assert not (checkout / "new.ts").exists()


async def test_a_writable_bind_is_the_only_place_to_write(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out_dir.chmod(0o777)
    policy = Policy(binds=(Bind(out_dir, "/out", writable=True),))
    _, out = await sh("echo ok > /out/f && echo ok > /usr/f 2>/dev/null; echo $?", policy)
    assert (out_dir / "f").read_text() == "ok\n"
    assert out.strip().endswith("1") or out.strip().endswith("2")


def test_without_bubblewrap_nothing_runs_and_the_message_says_how() -> None:
    with pytest.raises(SandboxUnavailable) as caught:
        sandbox_from_env({"PATH": "/nonexistent"})
    assert "apt-get install bubblewrap" in str(caught.value)
    assert "DEPLOYBOT_SANDBOX=off" in str(caught.value)


def test_an_unknown_sandbox_setting_is_refused() -> None:
    with pytest.raises(SandboxUnavailable, match="not a sandbox deploybot knows"):
        sandbox_from_env({"DEPLOYBOT_SANDBOX": "docker", "PATH": os.defpath})


async def test_the_operator_opt_out_runs_unconfined_with_the_policy_env_only(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "whsec")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("A")
    box = sandbox_from_env({"DEPLOYBOT_SANDBOX": "off"})
    assert not box.confines
    done = await run_confined(["sh", "-c", "env; cat a.txt"],
                              Policy(binds=(Bind(src, "/src"),), env={"K": "v"}, cwd="/src"),
                              sandbox=box, timeout_s=30)
    assert "K=v" in done.output and "A" in done.output
    assert "whsec" not in done.output


async def test_the_sandbox_user_can_read_the_system_files_it_is_given() -> None:
    # /etc is made by bwrap as the parent of the bound files; it must be readable by the
    # sandbox user (name resolution and certificates, e.g. for `deno cache`).
    code, out = await sh("cat /etc/hosts >/dev/null && ls /etc/ssl >/dev/null && echo readable")
    assert code == 0 and out.strip() == "readable", out


async def test_the_policy_environment_is_not_in_any_command_line() -> None:
    # Every local user can read /proc/<pid>/cmdline: a database URL must not be there.
    policy = Policy(env={"SUPABASE_DB_URL": "postgresql://u:pw-in-env@db/x"})
    async with confined(["sh", "-c", "echo $SUPABASE_DB_URL; sleep 30"], policy) as proc:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        assert line.decode().strip() == "postgresql://u:pw-in-env@db/x"
        cmdlines = [_cmdline(pid) for pid in [proc.pid, *_children(proc.pid)]]
    assert len(cmdlines) >= 2  # bwrap and what it runs
    assert not any(b"pw-in-env" in c for c in cmdlines)


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _children(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
            except OSError:
                continue
            if stat and int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
                todo.append(int(entry.name))
    return found
