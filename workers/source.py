"""Pin a commit and lay its tree out read-only: the engine deploys exactly that commit,
never the working tree (runbook: clean tree)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from workers.runbook.context import SourceTree


class SourceError(RuntimeError):
    pass


def _git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise SourceError(res.stderr.strip() or f"git {' '.join(args)} failed")
    return res.stdout.strip()


def repository_root(start: Path) -> Path | None:
    """The top of the git work tree holding `start` (as `git` finds it from a subfolder),
    or None outside any repository."""
    res = subprocess.run(["git", "-C", str(start), "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    return Path(res.stdout.strip()).resolve()


def resolve_commit(repo: Path, ref: str) -> str:
    try:
        return _git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")
    except SourceError:
        raise SourceError(f"{ref!r} is not a commit of the repository at {repo}; "
                          "give a branch, tag or commit SHA with --ref") from None


def extract_tarball(data: bytes, dest: Path, *, strip_top: bool) -> None:
    """Unpack a tarball safely (no absolute paths, no escaping the destination)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        members = []
        for m in tar.getmembers():
            name = m.name.split("/", 1)[1] if strip_top and "/" in m.name else (
                "" if strip_top else m.name)
            if not name:
                continue
            m.name = name
            members.append(m)
        tar.extractall(dest, members=members, filter="data")


def checkout(repo: Path, ref: str, cache_dir: Path) -> SourceTree:
    """The tree of `ref` in `repo` under `cache_dir/<sha>` (reused when already there)."""
    sha = resolve_commit(repo, ref)
    cache_dir = cache_dir.resolve()  # steps run tools with the tree as their working dir
    dest = cache_dir / sha
    if not (dest / ".deploybot-complete").exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=cache_dir))
        try:
            data = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", sha],
                                  capture_output=True, check=True).stdout
            extract_tarball(data, tmp, strip_top=False)
            (tmp / ".deploybot-complete").write_text(sha)
            try:
                os.rename(tmp, dest)
            except OSError:  # another process finished the same checkout first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return SourceTree(root=dest, commit=sha, ref=ref)


def repo_identity(repo: Path) -> str:
    """owner/name from the origin remote, else the directory name: how the ledger names it."""
    try:
        url = _git(repo, "config", "--get", "remote.origin.url")
    except SourceError:
        url = ""
    if url:
        tail = url.rstrip("/").removesuffix(".git").replace(":", "/").split("/")
        if len(tail) >= 2 and tail[-2] and tail[-1]:
            return f"{tail[-2]}/{tail[-1]}"
    return f"local/{repo.resolve().name}"
